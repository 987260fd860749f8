"""Resident protections at the municipality: DV support measures (支援措置), notification of the resident when a
proxy or third party obtains their certificate (本人通知), consent and opt-out for uses without a legal basis, and
the municipality's setting for joining optional services.

Only the municipality knows who a request is about, so this is where a decision is narrowed for one resident:
:meth:`MunicipalityPolicy.facts` reads this municipality's own ``pol_`` tables (in its own database, beside — never
inside — the register's tables) and :meth:`MunicipalityPolicy.screen` hands the facts to the decision point's
``check_subject``, then does what only the municipality can: a task for a clerk when a third party asked about a
protected resident, and the resident's notification when a proxy or third party obtained their certificate.

A **support measure** (住基法 第11条・第12条等の支援措置, 総務省通知; the procedure follows the ministry's
事務処理要領):

* protects its subject and the co-resident family it names (``members``);
* refuses the requesters it names, whatever path they take (a person is named by a keyed digest of name and birth
  date — :meth:`MunicipalityPolicy.person_requester` — an organisation or clerk by its id);
* refuses every third-party and proxy request automatically and opens a task for a clerk (strict screening);
* blocks self-service issuance (kiosk, convenience store, online) for the protected persons;
* is *provisional* from the request until a clerk confirms it — protection starts at once, not after the check;
* lasts one year from confirmation and can be renewed, a year at a time, from 30 days before it ends;
* travels with the person: a move's transfer package carries it (:meth:`export_measure`), and the destination must
  honour it in the same transaction that creates the incoming record (:meth:`honour_measure`), keeping its expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa

from sekisho.config import Home
from sekisho.errors import Conflict, InvalidInput, NotFound, Unavailable
from sekisho.jp.clock import JST
from sekisho.jp.legal import LegalBasisTable, default_table
from sekisho.policy import store as st
from sekisho.protocols.access import AccessRequest, Decision, PolicyDecisionPoint, SubjectFacts
from sekisho.protocols.handles import parse_handle

KINDS: Final = frozenset({"dv", "stalking", "child-abuse", "other"})
#: a measure lasts a year from confirmation; renewal adds a year
TERM_YEARS: Final = 1
#: renewal is accepted from this many days before the end
RENEW_FROM_DAYS: Final = 30
CERTIFICATE_ACTIONS: Final = frozenset({"certificate"})
NOTIFIED_KINDS: Final = frozenset({"proxy", "third-party"})

_SUBJECT_KEY: Final = "subject-key"
_OPTIONAL: Final = "optional-services"
PAYLOAD_FORMAT: Final = "sekisho-support-measure/1"

Clock = Callable[[], datetime]
#: the active members of a resident's household, by handle (the register's answer; NotFound for an unknown handle)
HouseholdOf = Callable[[str], Sequence[str]]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _year_later(d: date, years: int = TERM_YEARS) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _handle(value: str, field: str = "handle") -> str:
    return parse_handle(value, field=field)


def _requester(value: str) -> str:
    import re

    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9_./:-]{1,128}$", value):
        raise InvalidInput("must be a requester id (1-128 characters of [A-Za-z0-9_./:-])", field="requester")
    return value


def _by(value: str) -> str:
    import re

    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9_./:-]{1,64}$", value):
        raise InvalidInput("must be a clerk id (never a name)", field="by")
    return value


class MunicipalityPolicy:
    """The policy tables of one municipality (``municipality/<code>``, contexts registry and policy)."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        code: str,
        clock: Clock = utcnow,
        table: LegalBasisTable | None = None,
        households: HouseholdOf | None = None,
    ) -> None:
        self.engine = engine
        self.code = code
        self.clock = clock
        self.table = table or default_table()
        #: the register's answer to "who lives with this person" (handed over by the composition root: the
        #: policy never reads the register's tables)
        self.households = households

    @classmethod
    def open(
        cls, home: Home, code: str, *, clock: Clock = utcnow, households: HouseholdOf | None = None
    ) -> MunicipalityPolicy:
        from sekisho.storage import open_party_db

        engine = open_party_db(home, f"municipality/{code}", ["registry", "policy"])
        return cls(engine=engine, code=code, clock=clock, households=households)

    def today(self) -> date:
        return self.clock().astimezone(JST).date()

    # --- settings ------------------------------------------------------------------------------------------

    def _setting(self, conn: sa.Connection, key: str) -> str | None:
        return conn.execute(sa.select(st.setting.c.value).where(st.setting.c.key == key)).scalar_one_or_none()

    def _put(self, conn: sa.Connection, key: str, value: str) -> None:
        if self._setting(conn, key) is None:
            conn.execute(st.setting.insert().values(key=key, value=value))
        else:
            conn.execute(st.setting.update().where(st.setting.c.key == key).values(value=value))

    def _key(self, conn: sa.Connection) -> bytes:
        """This municipality's key for subject references and requester digests (made on first use)."""
        value = self._setting(conn, _SUBJECT_KEY)
        if value is None:
            value = secrets.token_hex(32)
            conn.execute(st.setting.insert().values(key=_SUBJECT_KEY, value=value))
        return bytes.fromhex(value)

    def joined_services(self) -> frozenset[str]:
        """Optional services (consent-only purposes) this municipality takes part in; none until it joins."""
        with self.engine.connect() as conn:
            return frozenset(st.uncodes(self._setting(conn, _OPTIONAL)))

    def set_optional_service(self, purpose: str, *, joined: bool) -> frozenset[str]:
        if not any(r.purpose == purpose and r.optional for r in self.table.rows):
            raise InvalidInput("is not an optional service of the legal-basis table", field="purpose")
        with self.engine.begin() as conn:
            current = set(st.uncodes(self._setting(conn, _OPTIONAL)))
            current = current | {purpose} if joined else current - {purpose}
            self._put(conn, _OPTIONAL, st.codes(frozenset(current)))
            return frozenset(current)

    # --- requester digests and subject references ------------------------------------------------------------

    def person_requester(self, family_name: str, given_name: str, birth_date: str) -> str:
        """The requester id a person carries in this municipality (the counter computes it from the ID shown).
        A keyed digest: the watchdog, which sees requester ids, cannot test names against it."""
        with self.engine.begin() as conn:
            return self._person_requester(conn, family_name, given_name, birth_date)

    def _person_requester(self, conn: sa.Connection, family: str, given: str, birth: str) -> str:
        def norm(s: str) -> str:
            return "".join(unicodedata.normalize("NFKC", s).split())

        if not norm(family) or not norm(given):
            raise InvalidInput("a named person needs family and given name", field="named")
        try:
            date.fromisoformat(birth)
        except ValueError:
            raise InvalidInput("must be a date (YYYY-MM-DD)", field="named.birth_date") from None
        msg = "\0".join((norm(family), norm(given), birth)).encode("utf-8")
        return "person:" + hmac.new(self._key(conn), b"requester\0" + msg, hashlib.sha256).hexdigest()[:32]

    def _subject_ref(self, conn: sa.Connection, handle: str) -> str:
        # the measure's ref would be shared by a whole family; the handle's digest tells persons apart
        return hmac.new(self._key(conn), b"subject\0" + handle.encode(), hashlib.sha256).hexdigest()[:32]

    # --- support measures ------------------------------------------------------------------------------------

    def add_measure(
        self,
        *,
        handle: str,
        kind: str,
        by: str,
        members: Sequence[str] = (),
        include_household: bool = False,
        named_persons: Sequence[tuple[str, str, str]] = (),
        named_requesters: Sequence[str] = (),
        provisional: bool = True,
        on: date | None = None,
    ) -> str:
        """Open a measure for ``handle`` (and ``members``, or the whole current household); returns its ref.

        ``named_persons`` are (family name, given name, birth date) of the persons to refuse; ``named_requesters``
        are organisation or clerk ids.  A measure starts *provisional* (in force at once) until a clerk confirms
        it; ``provisional=False`` confirms it at once."""
        h = _handle(handle)
        if kind not in KINDS:
            raise InvalidInput("must be dv, stalking, child-abuse or other", field="kind")
        _by(by)
        today = on or self.today()
        ref = secrets.token_hex(16)
        # asked of the register before this procedure's transaction opens (the register is another context)
        household = self._household_of(h) if include_household else []
        with self.engine.begin() as conn:
            people = {h: "subject"}
            for m in members:
                people.setdefault(_handle(m, "members"), "member")
            for m in household:
                people.setdefault(m, "member")
            mid = conn.execute(
                st.measure.insert()
                .values(
                    ref=ref,
                    kind=kind,
                    state="provisional" if provisional else "active",
                    requested_on=today,
                    starts_on=None if provisional else today,
                    expires_on=None if provisional else _year_later(today) - timedelta(days=1),
                    created_at=self.clock(),
                    updated_by=by,
                )
                .returning(st.measure.c.id)
            ).scalar_one()
            conn.execute(
                st.measure_person.insert(),
                [{"measure_id": mid, "handle": p, "role": role, "added_on": today} for p, role in people.items()],
            )
            self._add_named(conn, mid, named_persons, named_requesters)
            if provisional:
                self._task(conn, "measure-to-confirm", handle=h, reasons=())
        return ref

    def _add_named(
        self,
        conn: sa.Connection,
        mid: int,
        persons: Iterable[tuple[str, str, str]],
        requesters: Iterable[str],
    ) -> None:
        rows: list[dict[str, Any]] = [
            {
                "measure_id": mid,
                "requester": self._person_requester(conn, f, g, b),
                "family_name": f,
                "given_name": g,
                "birth_date": b,
            }
            for f, g, b in persons
        ]
        rows += [
            {"measure_id": mid, "requester": _requester(r), "family_name": None, "given_name": None, "birth_date": None}
            for r in requesters
        ]
        if rows:
            conn.execute(st.measure_named.insert(), rows)

    def _household_of(self, handle: str) -> list[str]:
        if self.households is None:
            raise Unavailable("no household lookup of the register is configured", field="include_household")
        return list(self.households(handle))

    def _measure(self, conn: sa.Connection, ref: str, *, for_update: bool = False) -> Any:
        q = sa.select(st.measure).where(st.measure.c.ref == ref)
        row = conn.execute(q.with_for_update() if for_update else q).first()
        if row is None:
            raise NotFound("no support measure with this reference", field="measure")
        return row

    def confirm_measure(self, ref: str, *, by: str, on: date | None = None) -> dict[str, Any]:
        """The check is done: the measure runs a year from today."""
        _by(by)
        today = on or self.today()
        with self.engine.begin() as conn:
            row = self._measure(conn, ref, for_update=True)
            if row.state != "provisional":
                raise Conflict("only a provisional measure can be confirmed", field="measure")
            conn.execute(
                st.measure.update()
                .where(st.measure.c.id == row.id)
                .values(
                    state="active", starts_on=today, expires_on=_year_later(today) - timedelta(days=1), updated_by=by
                )
            )
        return self.measure(ref)

    def renew_measure(self, ref: str, *, by: str, on: date | None = None) -> dict[str, Any]:
        """Another year, asked for from 30 days before the end (an ended measure needs a new request)."""
        _by(by)
        today = on or self.today()
        with self.engine.begin() as conn:
            row = self._measure(conn, ref, for_update=True)
            if row.state != "active" or row.expires_on is None:
                raise Conflict("only an active measure can be renewed", field="measure")
            if today > row.expires_on:
                raise Conflict("the measure has ended; a new request is needed", field="measure")
            if today < row.expires_on - timedelta(days=RENEW_FROM_DAYS):
                raise Conflict(f"renewal opens {RENEW_FROM_DAYS} days before the end", field="measure")
            conn.execute(
                st.measure.update()
                .where(st.measure.c.id == row.id)
                .values(expires_on=_year_later(row.expires_on), updated_by=by)
            )
        return self.measure(ref)

    def lift_measure(self, ref: str, *, by: str, reason: str, on: date | None = None) -> dict[str, Any]:
        _by(by)
        if reason not in ("requested-by-subject", "check-failed", "moved-away", "other"):
            raise InvalidInput("must be requested-by-subject, check-failed, moved-away or other", field="reason")
        with self.engine.begin() as conn:
            row = self._measure(conn, ref, for_update=True)
            if row.state == "lifted":
                raise Conflict("the measure is lifted already", field="measure")
            conn.execute(
                st.measure.update()
                .where(st.measure.c.id == row.id)
                .values(state="lifted", lifted_on=on or self.today(), lift_reason=reason, updated_by=by)
            )
        return self.measure(ref)

    def measure(self, ref: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return self._measure_json(conn, self._measure(conn, ref))

    def measures(self, *, handle: str | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            q = sa.select(st.measure).order_by(st.measure.c.id)
            if handle is not None:
                ids = sa.select(st.measure_person.c.measure_id).where(st.measure_person.c.handle == _handle(handle))
                q = q.where(st.measure.c.id.in_(ids))
            return [self._measure_json(conn, r) for r in conn.execute(q)]

    def _measure_json(self, conn: sa.Connection, row: Any) -> dict[str, Any]:
        people = conn.execute(
            sa.select(st.measure_person.c.handle, st.measure_person.c.role).where(
                st.measure_person.c.measure_id == row.id
            )
        ).all()
        named = conn.execute(
            sa.select(sa.func.count()).select_from(st.measure_named).where(st.measure_named.c.measure_id == row.id)
        ).scalar_one()
        return {
            "ref": row.ref,
            "kind": row.kind,
            "state": row.state,
            "in_force": self._in_force(row, self.today()),
            "requested_on": row.requested_on.isoformat(),
            "starts_on": row.starts_on.isoformat() if row.starts_on else None,
            "expires_on": row.expires_on.isoformat() if row.expires_on else None,
            "lifted_on": row.lifted_on.isoformat() if row.lifted_on else None,
            "origin": row.origin,
            "persons": [{"handle": p.handle, "role": p.role} for p in people],
            "named": int(named),  # how many are refused; who they are stays in the table
        }

    @staticmethod
    def _in_force(row: Any, today: date) -> bool:
        if row.state == "provisional":
            return True
        return row.state == "active" and row.expires_on is not None and today <= row.expires_on

    # --- the facts about one resident ------------------------------------------------------------------------

    def snapshot(self) -> Callable[[str], SubjectFacts]:
        """The facts of every resident as one batch of releases asks them (the register's ``SubjectFactsSource``).

        It lists the handles that have anything of their own here (a support measure, an opt-out, a consent);
        every other resident has the municipality's default facts, so a batch of a million does not ask a million
        times."""
        with self.engine.connect() as conn:
            special = set(
                conn.execute(
                    sa.union(*(sa.select(table.c.handle) for table in (st.measure_person, st.optout, st.consent)))
                ).scalars()
            )
            joined = frozenset(st.uncodes(self._setting(conn, _OPTIONAL)))
        default = SubjectFacts(municipality_joined=joined)
        facts = self.facts
        return lambda handle: facts(handle) if handle in special else default

    def facts(self, handle: str, *, on: date | None = None) -> SubjectFacts:
        h = _handle(handle)
        today = on or self.today()
        with self.engine.begin() as conn:
            return self._facts(conn, h, today)

    def _facts(self, conn: sa.Connection, h: str, today: date) -> SubjectFacts:
        rows = conn.execute(
            sa.select(st.measure)
            .join(st.measure_person, st.measure_person.c.measure_id == st.measure.c.id)
            .where(st.measure_person.c.handle == h)
        ).all()
        in_force = [r for r in rows if self._in_force(r, today)]
        refused: frozenset[str] = frozenset()
        if in_force:
            refused = frozenset(
                conn.execute(
                    sa.select(st.measure_named.c.requester).where(
                        st.measure_named.c.measure_id.in_([r.id for r in in_force])
                    )
                ).scalars()
            )
        opted_out = conn.execute(sa.select(st.optout.c.handle).where(st.optout.c.handle == h)).first() is not None
        consented = frozenset(
            conn.execute(
                sa.select(st.consent.c.requester).where(st.consent.c.handle == h, st.consent.c.withdrawn_at.is_(None))
            ).scalars()
        )
        return SubjectFacts(
            protected=bool(in_force),
            protected_requester_refused=refused,
            opted_out_of_consent_uses=opted_out,
            consented_requesters=consented,
            subject_ref=self._subject_ref(conn, h) if in_force else None,
            municipality_joined=frozenset(st.uncodes(self._setting(conn, _OPTIONAL))),
        )

    def screen(self, handle: str, decision: Decision, request: AccessRequest, *, pdp: PolicyDecisionPoint) -> Decision:
        """Narrow ``decision`` for the resident ``handle`` (the decision point records any change), then open a
        clerk's task when a third party was refused over a protected resident, and store the resident's
        notification when a proxy or third party obtained a certificate and the resident asked to be told."""
        h = _handle(handle)
        facts = self.facts(h)
        narrowed = pdp.check_subject(decision, facts, request)
        with self.engine.begin() as conn:
            if not narrowed.allow and "clerk-review" in narrowed.reasons:
                self._task(
                    conn,
                    "protected-third-party-request",
                    handle=h,
                    decision_id=narrowed.decision_id,
                    reasons=narrowed.reasons,
                )
            if "protected-requester-named" in narrowed.reasons:
                self._task(
                    conn,
                    "named-requester-refused",
                    handle=h,
                    decision_id=narrowed.decision_id,
                    reasons=narrowed.reasons,
                )
            if (
                narrowed.allow
                and request.action in CERTIFICATE_ACTIONS
                and request.requester_kind in NOTIFIED_KINDS
                and conn.execute(
                    sa.select(st.notice_registration.c.handle).where(st.notice_registration.c.handle == h)
                ).first()
                is not None
            ):
                conn.execute(
                    st.notification.insert().values(
                        notification_id=secrets.token_hex(16),
                        handle=h,
                        created_at=self.clock(),
                        obtained_on=self.today(),
                        certificate=request.purpose,
                        requester_category=request.requester_kind,
                        copies=request.count,
                        decision_id=narrowed.decision_id,
                        read_at=None,
                    )
                )
        return narrowed

    # --- tasks for clerks --------------------------------------------------------------------------------------

    def _task(
        self,
        conn: sa.Connection,
        kind: str,
        *,
        handle: str | None,
        decision_id: str | None = None,
        reasons: Sequence[str] = (),
    ) -> str:
        task_id = secrets.token_hex(16)
        conn.execute(
            st.task.insert().values(
                task_id=task_id,
                created_at=self.clock(),
                kind=kind,
                handle=handle,
                decision_id=decision_id,
                reasons=st.codes(tuple(reasons)),
                state="open",
            )
        )
        return task_id

    def tasks(self, *, state: str | None = "open") -> list[dict[str, Any]]:
        q = sa.select(st.task).order_by(st.task.c.id)
        if state is not None:
            q = q.where(st.task.c.state == state)
        with self.engine.connect() as conn:
            return [
                {
                    "task_id": r.task_id,
                    "kind": r.kind,
                    "handle": r.handle,
                    "decision_id": r.decision_id,
                    "reasons": list(st.uncodes(r.reasons)),
                    "state": r.state,
                    "created_at": r.created_at.isoformat(),
                }
                for r in conn.execute(q)
            ]

    def close_task(self, task_id: str, *, by: str) -> None:
        _by(by)
        with self.engine.begin() as conn:
            n = conn.execute(
                st.task.update()
                .where(st.task.c.task_id == task_id, st.task.c.state == "open")
                .values(state="done", closed_at=self.clock(), closed_by=by)
            ).rowcount
        if n != 1:
            raise NotFound("no open task with this id", field="task")

    # --- consent, opt-out, 本人通知 -----------------------------------------------------------------------------

    def set_opt_out(self, handle: str, *, opted_out: bool) -> None:
        """Refuse (or allow again) every use that rests only on consent."""
        h = _handle(handle)
        with self.engine.begin() as conn:
            conn.execute(st.optout.delete().where(st.optout.c.handle == h))
            if opted_out:
                conn.execute(st.optout.insert().values(handle=h, since=self.clock()))

    def give_consent(self, handle: str, requester: str) -> None:
        h, r = _handle(handle), _requester(requester)
        with self.engine.begin() as conn:
            conn.execute(st.consent.delete().where(st.consent.c.handle == h, st.consent.c.requester == r))
            conn.execute(st.consent.insert().values(handle=h, requester=r, given_at=self.clock(), withdrawn_at=None))

    def withdraw_consent(self, handle: str, requester: str) -> None:
        h, r = _handle(handle), _requester(requester)
        with self.engine.begin() as conn:
            conn.execute(
                st.consent.update()
                .where(st.consent.c.handle == h, st.consent.c.requester == r, st.consent.c.withdrawn_at.is_(None))
                .values(withdrawn_at=self.clock())
            )

    def register_for_notices(self, handle: str, *, registered: bool = True) -> None:
        """本人通知制度: tell this resident whenever a proxy or third party obtains their certificate."""
        h = _handle(handle)
        with self.engine.begin() as conn:
            conn.execute(st.notice_registration.delete().where(st.notice_registration.c.handle == h))
            if registered:
                conn.execute(st.notice_registration.insert().values(handle=h, registered_at=self.clock()))

    def registered_for_notices(self, handle: str) -> bool:
        """Whether this resident is registered for 本人通知 (the resident portal shows it)."""
        h = _handle(handle)
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(st.notice_registration.c.handle).where(st.notice_registration.c.handle == h)
            ).first()
        return row is not None

    def notifications(self, handle: str) -> list[dict[str, Any]]:
        """What the resident portal shows: date, certificate type, requester category, copies."""
        h = _handle(handle)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(st.notification).where(st.notification.c.handle == h).order_by(st.notification.c.id)
            ).all()
        return [
            {
                "notification_id": r.notification_id,
                "obtained_on": r.obtained_on.isoformat(),
                "certificate": r.certificate,
                "requester_category": r.requester_category,
                "copies": r.copies,
                "read": r.read_at is not None,
            }
            for r in rows
        ]

    # --- the measure travels with the person ------------------------------------------------------------------

    def export_measure(self, conn: sa.Connection, *, handle: str) -> Mapping[str, Any] | None:
        """At the origin, inside the register's transaction that hands the transfer package out: every measure in
        force for the person, as the package's ``support_measure``.  It holds the names of the refused persons:
        the package travels only between the two registers, like the rest of it."""
        h = _handle(handle)
        today = self.today()
        rows = conn.execute(
            sa.select(st.measure, st.measure_person.c.role)
            .join(st.measure_person, st.measure_person.c.measure_id == st.measure.c.id)
            .where(st.measure_person.c.handle == h)
        ).all()
        measures = []
        for r in rows:
            if not self._in_force(r, today):
                continue
            named = conn.execute(sa.select(st.measure_named).where(st.measure_named.c.measure_id == r.id)).all()
            measures.append(
                {
                    "ref": r.ref,
                    "kind": r.kind,
                    "state": r.state,
                    "role": r.role,
                    "requested_on": r.requested_on.isoformat(),
                    "starts_on": r.starts_on.isoformat() if r.starts_on else None,
                    "expires_on": r.expires_on.isoformat() if r.expires_on else None,
                    "named": [
                        {"person": [n.family_name, n.given_name, n.birth_date]}
                        if n.family_name is not None
                        else {"requester": n.requester}
                        for n in named
                    ],
                }
            )
        # 本人通知: a resident registered for notification stays registered at the destination
        notify = conn.execute(sa.select(st.notice_registration.c.handle).where(st.notice_registration.c.handle == h))
        registered = notify.first() is not None
        if not measures and not registered:
            return None
        payload: dict[str, Any] = {"format": PAYLOAD_FORMAT, "origin": self.code, "measures": measures}
        if registered:
            payload["notice_registration"] = True
        return payload

    def honour_measure(self, conn: sa.Connection, *, handle: str, payload: Mapping[str, Any]) -> None:
        """At the destination, inside the register's transaction that creates the incoming record: put every carried
        measure in force for the new handle (same ref, kind, state and expiry; named persons re-keyed here).  A
        family member arriving later with the same ref joins the same measure."""
        h = _handle(handle)
        if not isinstance(payload, Mapping) or payload.get("format") != PAYLOAD_FORMAT:
            raise InvalidInput("is not a support-measure payload this register understands", field="support_measure")
        origin = str(payload.get("origin", ""))
        today = self.today()
        try:
            for m in payload["measures"]:
                existing = conn.execute(sa.select(st.measure.c.id).where(st.measure.c.ref == m["ref"])).scalar()
                if existing is None:
                    mid = conn.execute(
                        st.measure.insert()
                        .values(
                            ref=m["ref"],
                            kind=m["kind"] if m["kind"] in KINDS else "other",
                            state="provisional" if m["state"] == "provisional" else "active",
                            requested_on=date.fromisoformat(m["requested_on"]),
                            starts_on=date.fromisoformat(m["starts_on"]) if m["starts_on"] else None,
                            expires_on=date.fromisoformat(m["expires_on"]) if m["expires_on"] else None,
                            origin=origin[:6] or None,
                            created_at=self.clock(),
                            updated_by="transfer",
                        )
                        .returning(st.measure.c.id)
                    ).scalar_one()
                    persons = [tuple(n["person"]) for n in m["named"] if "person" in n]
                    requesters = [n["requester"] for n in m["named"] if "requester" in n]
                    self._add_named(conn, mid, persons, requesters)
                    self._task(conn, "measure-carried-in", handle=h)
                else:
                    mid = existing
                taken = conn.execute(
                    sa.select(st.measure_person.c.handle).where(
                        st.measure_person.c.measure_id == mid, st.measure_person.c.handle == h
                    )
                ).first()
                if taken is None:
                    role = "subject" if m["role"] == "subject" else "member"
                    conn.execute(st.measure_person.insert().values(measure_id=mid, handle=h, role=role, added_on=today))
        except (KeyError, TypeError, ValueError):
            raise InvalidInput("is not a well-formed support-measure payload", field="support_measure") from None
        if payload.get("notice_registration") is True:
            conn.execute(st.notice_registration.delete().where(st.notice_registration.c.handle == h))
            conn.execute(st.notice_registration.insert().values(handle=h, registered_at=self.clock()))
