"""Users, sessions, one-time codes and the login rate limit of one party's portal, on that party's database.

A session is a random id in an HttpOnly cookie; the database keeps its SHA-256, whom it belongs to, its CSRF token
and when it was last used.  A session idle for longer than :data:`IDLE` (or older than :data:`MAX_AGE`) is over:
the next request finds no session, and the row is deleted.  Passwords are hashed with scrypt (``hashlib``, i.e.
OpenSSL's); a one-time code is usable once, for :data:`CODE_VALIDITY`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlalchemy as sa

from sekisho.config import Home
from sekisho.errors import Conflict, InvalidInput, TooManyRequests, Unauthenticated
from sekisho.portal import store as st
from sekisho.storage import migrate, open_party_db

Kind = Literal["clerk", "watchdog", "resident"]

#: a session idle this long is over (the issue's idle timeout)
IDLE = timedelta(minutes=15)
#: and none lives longer than this, used or not
MAX_AGE = timedelta(hours=9)
#: a one-time code a clerk hands over is valid this long
CODE_VALIDITY = timedelta(minutes=30)
#: a card login's challenge is answered within this long
CHALLENGE_VALIDITY = timedelta(minutes=5)
#: failed logins allowed per key (a login name, or the code form) in :data:`ATTEMPT_WINDOW`
MAX_ATTEMPTS = 5
ATTEMPT_WINDOW = timedelta(minutes=15)

_LOGIN_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# scrypt's cost: n=2**14, r=8 (RFC 7914's interactive-login example)
_N, _R, _P = 1 << 14, 8, 1
# what a one-time code is made of: no 0/O, 1/I/L, easy to read out at the counter
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_LEN = 12


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def check_login(value: str) -> str:
    if not _LOGIN_RE.match(value):
        raise InvalidInput("must be 1-64 lowercase letters, digits, dots, hyphens or underscores", field="login")
    return value


_TERMINAL_RE = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,63}$")


def check_terminal(value: str) -> str:
    # the access log's code for a terminal (the party is the record's actor already)
    if not _TERMINAL_RE.match(value):
        raise InvalidInput(
            "must be 1-64 lowercase letters, digits, dots, colons, hyphens or underscores", field="terminal"
        )
    return value


def check_password(value: str) -> str:
    if len(value) < 12:
        raise InvalidInput("must be at least 12 characters", field="password")
    if len(value) > 256:
        raise InvalidInput("must be at most 256 characters", field="password")
    return value


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


# a hash to compare against when the login does not exist: a wrong name takes as long as a wrong password
_DUMMY_HASH = hash_password("not a password of anyone's")


def _aware(t: datetime) -> datetime:
    # SQLite gives naive datetimes back: everything stored here is UTC
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    kind: Kind
    subject: str
    csrf: str
    #: a clerk's terminal (their work is recorded under it)
    terminal: str = ""


@dataclass(frozen=True, slots=True)
class User:
    login: str
    kind: Kind
    terminal: str


class PortalStore:
    """The portal's state on the database of ``party`` (which must be set up: the portal creates no party)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        migrate(engine, "portal")

    @classmethod
    def open(cls, home: Home, party: str) -> PortalStore:
        return cls(open_party_db(home, party, ["portal"]))

    def close(self) -> None:
        self.engine.dispose()

    # --- users ----------------------------------------------------------------------------------------------

    def add_user(self, login: str, password: str, *, kind: Kind, terminal: str = "") -> User:
        check_login(login)
        check_password(password)
        if terminal:
            check_terminal(terminal)
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(st.user.c.login).where(st.user.c.login == login)).first()
            if exists is not None:
                raise Conflict("a portal user with this login exists already", field="login")
            conn.execute(
                st.user.insert().values(
                    login=login,
                    kind=kind,
                    terminal=terminal,
                    password_hash=hash_password(password),
                    created_at=utcnow(),
                )
            )
        return User(login, kind, terminal)

    def authenticate(self, login: str, password: str, *, kind: Kind) -> User:
        """The user, if the password is theirs; every failure is the same :class:`Unauthenticated` (and counts
        against the login's budget: :data:`MAX_ATTEMPTS` in :data:`ATTEMPT_WINDOW`)."""
        key = f"{kind}:{_sha(login)[:32]}"
        self._check_budget(key)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(st.user).where(st.user.c.login == login, st.user.c.kind == kind)).first()
        ok = password_matches(password, row.password_hash if row is not None else _DUMMY_HASH)
        if row is None or not ok or row.disabled:
            self._fail(key)
            raise Unauthenticated("the login or the password is wrong", field="login")
        return User(row.login, kind, row.terminal)

    # --- one-time codes ---------------------------------------------------------------------------------------

    def issue_code(self, handle: str, *, by: str) -> str:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LEN))
        with self.engine.begin() as conn:
            conn.execute(
                st.code.insert().values(
                    code_hash=_sha(code), handle=handle, issued_by=by, expires_at=utcnow() + CODE_VALIDITY
                )
            )
        return "-".join(code[i : i + 4] for i in range(0, _CODE_LEN, 4))

    def redeem_code(self, code: str) -> str:
        """The handle a one-time code was issued for; the code is spent.  A wrong, used or expired code is one
        :class:`Unauthenticated`, counted against the portal's code budget."""
        key = "code"
        self._check_budget(key, limit=MAX_ATTEMPTS * 4)
        clean = re.sub(r"[\s-]", "", code).upper()
        now = utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(st.code).where(st.code.c.code_hash == _sha(clean))).first()
            if row is not None and row.used_at is None and _aware(row.expires_at) > now:
                conn.execute(st.code.update().where(st.code.c.code_hash == row.code_hash).values(used_at=now))
                return str(row.handle)
        self._fail(key)
        raise Unauthenticated("the code is wrong, used or expired", field="code")

    # --- card logins (the card's pseudonym for this portal, bound to a handle at the counter) --------------------

    def keep_challenge(self, text: str, *, purpose: str) -> None:
        """Remember a challenge the portal hands out (as its digest) until it is answered or expires."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(st.challenge.delete().where(st.challenge.c.expires_at < now))
            conn.execute(
                st.challenge.insert().values(
                    challenge_hash=_sha(text), purpose=purpose, expires_at=now + CHALLENGE_VALIDITY
                )
            )

    def take_challenge(self, text: str, *, purpose: str) -> None:
        """Spend a challenge this portal issued for ``purpose``: one answer each, within its validity."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                st.challenge.delete().where(
                    st.challenge.c.challenge_hash == _sha(text),
                    st.challenge.c.purpose == purpose,
                    st.challenge.c.expires_at >= utcnow(),
                )
            ).rowcount
        if gone != 1:
            raise Unauthenticated("the challenge is unknown, answered already or expired", field="challenge")

    def bind_card(self, pseudonym: str, handle: str, *, by: str) -> None:
        """The card whose pseudonym for this portal is ``pseudonym`` now logs in as ``handle`` (a new card
        replaces the resident's old one); a card bound to another resident is refused."""
        key = _sha(pseudonym)
        with self.engine.begin() as conn:
            other = conn.execute(sa.select(st.card.c.handle).where(st.card.c.pseudonym_hash == key)).scalar()
            if other is not None and other != handle:
                raise Conflict("this card is enrolled for another resident", field="card")
            conn.execute(st.card.delete().where(st.card.c.handle == handle))
            conn.execute(
                st.card.insert().values(pseudonym_hash=key, handle=handle, enrolled_by=by, enrolled_at=utcnow())
            )

    def card_holder(self, pseudonym: str) -> str:
        """The handle a card's pseudonym was bound to; an unknown card counts as a failed login."""
        key = "card"
        self._check_budget(key, limit=MAX_ATTEMPTS * 4)
        with self.engine.connect() as conn:
            handle = conn.execute(
                sa.select(st.card.c.handle).where(st.card.c.pseudonym_hash == _sha(pseudonym))
            ).scalar()
        if handle is None:
            self._fail(key)
            raise Unauthenticated("this card is not enrolled for this portal; enrol it at the counter", field="card")
        return str(handle)

    def failed_card_login(self) -> None:
        """A card login that did not verify counts against the card form's budget."""
        self._check_budget("card", limit=MAX_ATTEMPTS * 4)
        self._fail("card")

    # --- the login budget --------------------------------------------------------------------------------------

    def _check_budget(self, key: str, *, limit: int = MAX_ATTEMPTS) -> None:
        since = utcnow() - ATTEMPT_WINDOW
        with self.engine.connect() as conn:
            n = conn.execute(
                sa.select(sa.func.count())
                .select_from(st.attempt)
                .where(st.attempt.c.key == key, st.attempt.c.at > since)
            ).scalar_one()
        if n >= limit:
            raise TooManyRequests("too many failed logins; try again later", field="login")

    def _fail(self, key: str) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(st.attempt.delete().where(st.attempt.c.at < now - ATTEMPT_WINDOW))
            conn.execute(st.attempt.insert().values(key=key, at=now))

    # --- sessions --------------------------------------------------------------------------------------------

    def start_session(self, kind: Kind, subject: str) -> Session:
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                st.session.insert().values(
                    id_hash=_sha(sid), kind=kind, subject=subject, csrf=csrf, created_at=now, last_seen=now
                )
            )
        return Session(sid, kind, subject, csrf, self._terminal(kind, subject))

    def _terminal(self, kind: Kind, subject: str) -> str:
        if kind != "clerk":
            return ""
        with self.engine.connect() as conn:
            return str(conn.execute(sa.select(st.user.c.terminal).where(st.user.c.login == subject)).scalar() or "")

    def session(self, sid: str | None) -> Session | None:
        """The live session of cookie value ``sid`` (its idle time restarts), or None."""
        if not sid or len(sid) > 128:
            return None
        now = utcnow()
        key = _sha(sid)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(st.session).where(st.session.c.id_hash == key)).first()
            if row is None:
                return None
            if now - _aware(row.last_seen) > IDLE or now - _aware(row.created_at) > MAX_AGE:
                conn.execute(st.session.delete().where(st.session.c.id_hash == key))
                return None
            conn.execute(st.session.update().where(st.session.c.id_hash == key).values(last_seen=now))
        return Session(sid, row.kind, row.subject, row.csrf, self._terminal(row.kind, row.subject))

    def end_session(self, sid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(st.session.delete().where(st.session.c.id_hash == _sha(sid)))

    def expire_idle(self) -> int:
        """Delete every session past its idle time (the portal calls this now and then)."""
        cutoff = utcnow() - IDLE
        with self.engine.begin() as conn:
            return int(conn.execute(st.session.delete().where(st.session.c.last_seen < cutoff)).rowcount or 0)
