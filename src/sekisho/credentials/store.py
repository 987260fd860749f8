"""The issuer's state in its municipality's database (SQLAlchemy Core, ``vc_`` tables, Alembic context
``credentials``), the same code on SQLite and PostgreSQL:

* ``vc_status``: one row per issued credential — its status index (drawn at random, the primary key makes two
  credentials never share one), the resident's handle (to revoke all of a person's credentials) and its bit;
* ``vc_secret``: the OpenID4VCI one-time secrets (pre-authorised codes, access tokens, nonces), kept as SHA-256 so
  that a copy of the database starts no issuance, and spent by ``DELETE … RETURNING``: of two requests racing
  with one code, exactly one gets its row;
* ``vc_cursor``: how far the issuer has read the register's events (``sekisho.registry.events``).

Every method is one transaction.  Nothing here is personal beyond the handle, which the register already holds.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from sekisho.config import Home
from sekisho.errors import Unavailable
from sekisho.storage import open_party_db

metadata = sa.MetaData()

status = sa.Table(
    "vc_status",
    metadata,
    sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("handle", sa.String(16), nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("vc_status_handle", status.c.handle)
sa.Index("vc_status_revoked", status.c.revoked)

secret = sa.Table(
    "vc_secret",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),  # code | token | nonce
    sa.Column("handle", sa.String(16), nullable=True),
    sa.Column("expires_at", sa.Float, nullable=False),  # Unix seconds
)
sa.Index("vc_secret_expiry", secret.c.expires_at)

cursor = sa.Table(
    "vc_cursor",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
)

CONTEXT = "credentials"
EVENTS = "register-events"
#: redraws when a drawn index is taken, before giving up (a list this full needs a larger size, not more tries)
MAX_DRAWS = 64


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class SqlState:
    """``StatusStore`` (``sekisho.credentials.issuer``) and ``SecretStore`` (``sekisho.credentials.oid4vci``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- status entries ----------------------------------------------------------------------------------------

    def take(self, handle: str, count: int, *, size: int, at: datetime) -> list[int]:
        """``count`` free indices, drawn uniformly at random among the free ones (never sequential), now the
        handle's, in random order."""
        for _ in range(MAX_DRAWS):
            try:
                with self.engine.begin() as conn:
                    chosen: list[int] = []
                    for _ in range(MAX_DRAWS):
                        drawn = {secrets.randbelow(size) for _ in range(count - len(chosen))} - set(chosen)
                        taken = set(conn.scalars(sa.select(status.c.idx).where(status.c.idx.in_(drawn))))
                        chosen += [i for i in drawn if i not in taken]
                        if len(chosen) == count:
                            break
                    else:
                        raise Unavailable("the status list is full", field="status")
                    rows = [{"idx": i, "handle": handle, "revoked": False, "issued_at": at} for i in chosen]
                    conn.execute(status.insert(), rows)
            except IntegrityError:
                continue  # a concurrent issuance took one of them between our read and our insert: draw again
            secrets.SystemRandom().shuffle(chosen)  # a set of ints iterates nearly sorted: hide that order
            return chosen
        raise Unavailable("no free status index after many draws", field="status")

    def revoke(self, handles: Iterable[str]) -> int:
        """Set the bit of every credential of these handles; returns how many credentials they hold."""
        wanted = sorted(set(handles))
        if not wanted:
            return 0
        with self.engine.begin() as conn:
            held = conn.scalar(sa.select(sa.func.count()).select_from(status).where(status.c.handle.in_(wanted)))
            conn.execute(status.update().where(status.c.handle.in_(wanted)).values(revoked=True))
        return int(held or 0)

    def revoked(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.scalars(sa.select(status.c.idx).where(status.c.revoked.is_(True)).order_by(status.c.idx)))

    def catch_up(self, read: Callable[[int], list[tuple[int, str, datetime]]]) -> int:
        """Apply the register's revoking events after the cursor (``read(after)`` gives ``(event id, handle,
        when it was recorded)``, oldest first), then move the cursor forward — one transaction.

        An event revokes only the credentials issued before it: a resident who moved within the municipality and
        took a new batch keeps the new one, even if the event is read late or read again (two nodes catching up
        at once).  The register records to the second, so "before" is "up to the end of that second": a batch
        issued within the same second as the event is revoked too (the safe side: it may say what is no longer
        true)."""
        after = self._position()
        events = read(after)
        if not events:
            return 0
        with self.engine.begin() as conn:
            self._revoke_before(conn, _latest(events))
            self._advance(conn, max(i for i, _, _ in events))
        return len(events)

    def revoke_issued_before(self, subjects: Mapping[str, datetime]) -> int:
        """Set the bits of each subject's credentials issued before its event (to the end of its second), as
        :meth:`catch_up` does for events read here — for a prefecture's shared list, whose events its
        municipalities send (``sekisho.credentials.prefecture``).  Returns how many bits were newly set."""
        if not subjects:
            return 0
        with self.engine.begin() as conn:
            return self._revoke_before(conn, subjects)

    def forward_events(
        self,
        read: Callable[[int], list[tuple[int, str, datetime]]],
        send: Callable[[Mapping[str, datetime]], None],
    ) -> int:
        """The register's revoking events after the cursor, handed to ``send`` (the latest event per handle), then
        the cursor moved: a municipality whose credentials its prefecture issues keeps its cursor here and sends
        the events on.  A ``send`` that raises leaves the cursor, so the events go again (a repeat sets nothing)."""
        events = read(self._position())
        if not events:
            return 0
        send(_latest(events))
        with self.engine.begin() as conn:
            self._advance(conn, max(i for i, _, _ in events))
        return len(events)

    def _position(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(sa.select(cursor.c.position).where(cursor.c.name == EVENTS)) or 0)

    @staticmethod
    def _revoke_before(conn: sa.Connection, latest: Mapping[str, datetime]) -> int:
        changed = 0
        for handle, at in latest.items():
            result = conn.execute(
                status.update()
                .where(
                    status.c.handle == handle,
                    status.c.issued_at < at + timedelta(seconds=1),
                    status.c.revoked.is_(False),
                )
                .values(revoked=True)
            )
            changed += int(result.rowcount or 0)
        return changed

    @staticmethod
    def _advance(conn: sa.Connection, last: int) -> None:
        if conn.scalar(sa.select(cursor.c.position).where(cursor.c.name == EVENTS)) is None:
            conn.execute(cursor.insert().values(name=EVENTS, position=last))
        else:  # never backwards: another node may have read further meanwhile
            conn.execute(cursor.update().where(cursor.c.name == EVENTS, cursor.c.position < last).values(position=last))

    # --- one-time secrets ----------------------------------------------------------------------------------------

    def put(self, kind: str, value: str, *, handle: str | None, expires_at: float, now: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(secret.delete().where(secret.c.expires_at <= now))  # the expired go with every new one
            conn.execute(secret.insert().values(digest=_digest(value), kind=kind, handle=handle, expires_at=expires_at))

    def spend(self, kind: str, value: str, *, now: float) -> tuple[str | None] | None:
        """The secret's handle (in a 1-tuple, as a nonce has none) if it existed, was of ``kind`` and unexpired;
        it is gone either way.  ``DELETE … RETURNING``: two requests with one secret cannot both have it."""
        with self.engine.begin() as conn:
            row = conn.execute(
                secret.delete()
                .where(secret.c.digest == _digest(value))
                .returning(secret.c.kind, secret.c.handle, secret.c.expires_at)
            ).first()
        if row is None or row.kind != kind or row.expires_at <= now:
            return None
        return (row.handle,)


def _latest(events: Iterable[tuple[int, str, datetime]]) -> dict[str, datetime]:
    latest: dict[str, datetime] = {}
    for _, handle, at in events:
        latest[handle] = max(at, latest.get(handle, at))
    return latest


def open_state(home: Home, municipality: str) -> SqlState:
    """The issuer's state in its municipality's database (the register's own; set up by `sekisho registry init`)."""
    return SqlState(open_party_db(home, f"municipality/{municipality}", [CONTEXT]))
