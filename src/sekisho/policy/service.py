"""The watchdog's procedures — PIAs, warrants, revocations, publication, anomaly alerts — and the national
decision point, each in one transaction of the watchdog's own database (party ``watchdog``, context ``policy``).

Who holds what:

* the **legal-basis table** and the **PIA documents and decisions** are public: anyone may read them
  (:meth:`Watchdog.pias`, :meth:`Watchdog.pia_statements`, the API's ``GET /policy/…``);
* the **watchdog** holds the PIA register, the warrants (sealed ones too), the revocations, its own decision
  records and the alerts, and the policy-signing key;
* each **transcryptor** holds verified copies of the published PIA decisions and revocation list, its own decision
  records and its own warrant counters (:mod:`sekisho.policy.hook`);
* each **municipality** holds the residents' protections, consents, opt-outs and notifications
  (:mod:`sekisho.policy.municipality`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sekisho.config import Home
from sekisho.errors import Conflict, InvalidInput, NotFound, Refused, Unavailable
from sekisho.jp.legal import LegalBasisTable, default_table
from sekisho.policy import anomaly
from sekisho.policy import store as st
from sekisho.policy.decision import Clock, DecisionPoint, _aware, _revoked
from sekisho.policy.pia import APPROVAL_YEARS, Pia, pia_from_json, review
from sekisho.policy.procedure import REASON_RE, ApprovedPia, PiaStanding
from sekisho.policy.signing import WATCHDOG, Signer, open_signer, public_keys
from sekisho.protocols.statements import is_statement, verify
from sekisho.protocols.warrants import (
    REVOCATION_LIST_VALIDITY,
    RevocationList,
    Revoked,
    Warrant,
    WarrantDecision,
    check_against_table,
    check_fields,
    check_warrant_id,
    decision_body,
    verify_warrant,
)
from sekisho.storage import open_party_db

log = logging.getLogger("sekisho.policy")

CONTEXT = "policy"
_OFFICER_RE_DOC = "1-64 characters of [A-Za-z0-9_./:-]"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _years_later(t: datetime, years: int) -> datetime:
    try:
        return t.replace(year=t.year + years)
    except ValueError:  # 29 February
        return t.replace(year=t.year + years, day=28)


def _check_officer(value: str, field: str = "by") -> str:
    import re

    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9_./:-]{1,64}$", value):
        raise InvalidInput(f"must be {_OFFICER_RE_DOC} (an officer id, never a name)", field=field)
    return value


def _check_reasons(reasons: Sequence[str]) -> tuple[str, ...]:
    if not reasons:
        raise InvalidInput("a refusal gives at least one reason code", field="reasons")
    for r in reasons:
        if not REASON_RE.match(r):
            raise InvalidInput("must be reason codes ([a-z0-9-], optional :name)", field="reasons")
    return tuple(reasons)


# --- the watchdog's rules for its own decision point ------------------------------------------------------------


class WatchdogRules:
    """PIA and warrant standing from the watchdog's own register (the source of truth)."""

    def __init__(self, *, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self.keys = dict(keys)

    def pia_standing(self, conn: sa.Connection, *, agency: str, purpose: str, now: datetime) -> PiaStanding:
        rows = conn.execute(
            sa.select(st.pia)
            .join(st.pia_purpose, st.pia_purpose.c.pia_id == st.pia.c.id)
            .where(st.pia_purpose.c.agency == agency, st.pia_purpose.c.purpose == purpose)
        ).all()
        statuses = {r.status for r in rows}
        for r in rows:
            if r.status == "approved":
                if r.not_after is not None and now >= _aware(r.not_after):
                    return "pia-expired"
                return ApprovedPia(
                    id=r.id,
                    purposes=frozenset(st.uncodes(r.purposes)),
                    items=frozenset(st.uncodes(r.items)),
                    events=frozenset(st.uncodes(r.events)),
                )
        for status, code in (
            ("revoked", "pia-revoked"),
            ("superseded", "pia-superseded"),
            ("submitted", "pia-not-approved"),
            ("rejected", "pia-rejected"),
        ):
            if status in statuses:
                return code
        return "pia-missing"

    def warrant_standing(self, conn: sa.Connection, *, ref: str, now: datetime) -> Warrant | str:
        if is_statement(ref, "warrant"):
            try:
                wid = verify_warrant(ref, self.keys).id
            except Refused:
                return "warrant-invalid"
        else:
            try:
                wid = check_warrant_id(ref)
            except InvalidInput:
                return "warrant-invalid"
        row = conn.execute(sa.select(st.warrant).where(st.warrant.c.id == wid)).first()
        if row is None:
            return "warrant-unknown"
        if row.status != "approved":
            return {"requested": "warrant-not-approved", "refused": "warrant-refused"}.get(
                row.status, "warrant-revoked"
            )
        if wid in _revoked(conn, "warrant"):
            return "warrant-revoked"
        return _warrant_of(row)

    def freshness(self, conn: sa.Connection, *, now: datetime) -> str | None:
        return None


def _warrant_of(row: Any) -> Warrant:
    return Warrant(
        id=row.id,
        requester=row.requester,
        target=row.target,
        purpose=row.purpose,
        legal_basis=row.legal_basis,
        case_reference=row.case_reference,
        persons=int(row.persons),
        not_before=_aware(row.not_before),
        not_after=_aware(row.not_after),
        sealed_until=row.sealed_until,
    )


# --- the watchdog --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PiaDecision:
    pia_id: str
    status: str
    statement: str
    reasons: tuple[str, ...]
    superseded: str | None = None


class Watchdog:
    """The privacy commission's service: one procedure, one transaction, in its own database."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        home: Home | None = None,
        signer: Signer | None = None,
        keys: Mapping[str, Ed25519PublicKey] | None = None,
        table: LegalBasisTable | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.engine = engine
        self.home = home
        self._signer = signer
        self.keys: dict[str, Ed25519PublicKey] = dict(keys or {})
        if signer is not None:
            self.keys.setdefault(signer.key_id, signer.public_key)
        self.table = table or default_table()
        self.clock = clock

    @classmethod
    def open(
        cls,
        home: Home,
        *,
        passphrase: bytes | None = None,
        table: LegalBasisTable | None = None,
        clock: Clock = utcnow,
        scrypt_n: int | None = None,
        create: bool = False,
    ) -> Watchdog:
        """The watchdog of ``home``.  With a passphrase its signing key is opened (and created on first use), so
        that it can approve, refuse and revoke; without one it can still be read and decide.

        The watchdog has no set-up command of its own: its first submission (``create=True``) or its first use
        with its key sets it up (``sekisho log init`` does too); a reader creates nothing."""
        engine = open_party_db(home, WATCHDOG, [CONTEXT], create=create or passphrase is not None)
        signer = None
        if passphrase is not None:
            signer = open_signer(home, passphrase=passphrase, **({"n": scrypt_n} if scrypt_n else {}))
        try:
            keys = public_keys(home)
        except NotFound:
            keys = {}
        return cls(engine=engine, home=home, signer=signer, keys=keys, table=table, clock=clock)

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            raise Unavailable("the watchdog's signing key is not open (give the passphrase)", field="passphrase")
        return self._signer

    def decision_point(self) -> DecisionPoint:
        """The national decision point: decides on the watchdog's own register and records here."""
        return DecisionPoint(
            engine=self.engine, party=WATCHDOG, rules=WatchdogRules(keys=self.keys), table=self.table, clock=self.clock
        )

    # --- PIAs ---------------------------------------------------------------------------------------------------

    def submit_pia(self, pia: Pia, *, by: str) -> dict[str, Any]:
        """An agency files a PIA (``sekisho agency register --pia``).  Filing the same document again is a no-op;
        another document under the same id is a Conflict (a PIA is never edited: file a new one)."""
        _check_officer(by)
        now = self.clock()
        with self.engine.begin() as conn:
            existing = conn.execute(sa.select(st.pia).where(st.pia.c.id == pia.id)).first()
            if existing is not None:
                if existing.digest != pia.digest:
                    raise Conflict("another PIA was filed under this id; file a new id", field="pia.id")
                return _pia_json(existing)
            conn.execute(
                st.pia.insert().values(
                    id=pia.id,
                    agency=pia.agency,
                    system=pia.system,
                    level=pia.level,
                    purposes=st.codes(pia.purposes),
                    items=st.codes(pia.items),
                    events=st.codes(pia.events),
                    persons=pia.persons,
                    digest=pia.digest,
                    document=pia.canonical_json(),
                    status="submitted",
                    submitted_at=now,
                    submitted_by=by,
                    supersedes=pia.supersedes,
                    reasons="",
                )
            )
            conn.execute(
                st.pia_purpose.insert(), [{"pia_id": pia.id, "purpose": p, "agency": pia.agency} for p in pia.purposes]
            )
            row = conn.execute(sa.select(st.pia).where(st.pia.c.id == pia.id)).one()
        log.info("pia %s filed for agency %s", pia.id, pia.agency)
        return _pia_json(row)

    def review_pia(self, pia_id: str) -> list[str]:
        """Every finding that stands in the way of approval (empty: approvable)."""
        with self.engine.connect() as conn:
            return self._review(conn, self._pia_row(conn, pia_id))

    def _review(self, conn: sa.Connection, row: Any) -> list[str]:
        pia = pia_from_json(row.document)
        findings = review(pia, self.table)
        current = self._current(conn, pia.agency, pia.system)
        if pia.supersedes != (current.id if current is not None else None):
            findings.append("supersedes-mismatch")
        others = conn.execute(
            sa.select(st.pia.c.id, st.pia.c.system, st.pia.c.purposes).where(
                st.pia.c.agency == pia.agency, st.pia.c.status == "approved", st.pia.c.id != pia.id
            )
        ).all()
        for o in others:
            if o.system != pia.system and set(st.uncodes(o.purposes)) & pia.purposes:
                findings.append("purpose-covered-by-other-system")
        return findings

    def approve_pia(self, pia_id: str, *, by: str) -> PiaDecision:
        """Approve and sign; the PIA in force for the same system is superseded in the same transaction."""
        _check_officer(by)
        now = self.clock()
        with self.engine.begin() as conn:
            row = self._pia_row(conn, pia_id, for_update=True)
            if row.status != "submitted":
                raise Conflict("only a submitted PIA can be decided", field="pia")
            findings = self._review(conn, row)
            if findings:
                raise Refused("cannot be approved: " + " ".join(findings), field="pia")
            current = self._current(conn, row.agency, row.system)
            not_after = _years_later(now, APPROVAL_YEARS)
            statement = self.signer.sign("pia", self._pia_body(row, "approved", now, not_after, ()))
            if current is not None:
                conn.execute(
                    st.pia.update().where(st.pia.c.id == current.id).values(status="superseded", superseded_by=row.id)
                )
            conn.execute(
                st.pia.update()
                .where(st.pia.c.id == row.id)
                .values(status="approved", decided_at=now, decided_by=by, not_after=not_after, statement=statement)
            )
        log.info("pia %s approved", pia_id)
        return PiaDecision(pia_id, "approved", statement, (), current.id if current is not None else None)

    def reject_pia(self, pia_id: str, *, by: str, reasons: Sequence[str] = ()) -> PiaDecision:
        """Refuse and sign, with the review's findings and any further reason codes the officer gives."""
        _check_officer(by)
        now = self.clock()
        with self.engine.begin() as conn:
            row = self._pia_row(conn, pia_id, for_update=True)
            if row.status != "submitted":
                raise Conflict("only a submitted PIA can be decided", field="pia")
            all_reasons = tuple(dict.fromkeys([*self._review(conn, row), *reasons]))
            _check_reasons(all_reasons)
            statement = self.signer.sign("pia", self._pia_body(row, "rejected", now, None, all_reasons))
            conn.execute(
                st.pia.update()
                .where(st.pia.c.id == row.id)
                .values(
                    status="rejected", decided_at=now, decided_by=by, statement=statement, reasons=st.codes(all_reasons)
                )
            )
        log.info("pia %s rejected", pia_id)
        return PiaDecision(pia_id, "rejected", statement, all_reasons)

    def revoke_pia(self, pia_id: str, *, by: str, reason: str) -> str:
        """Withdraw an approval (after an incident, say): published on the revocation list; returns the new list."""
        _check_officer(by)
        _check_reasons([reason])
        now = self.clock()
        with self.engine.begin() as conn:
            row = self._pia_row(conn, pia_id, for_update=True)
            if row.status != "approved":
                raise Conflict("only an approved PIA can be revoked", field="pia")
            conn.execute(st.pia.update().where(st.pia.c.id == pia_id).values(status="revoked"))
            conn.execute(st.revoked.insert().values(kind="pia", id=pia_id, revoked_at=now, reason=reason))
            return self._issue_revocations(conn, now)

    def _pia_body(
        self, row: Any, decision: str, now: datetime, not_after: datetime | None, reasons: Sequence[str]
    ) -> dict[str, Any]:
        return {
            "v": 1,
            "pia": row.id,
            "agency": row.agency,
            "digest": row.digest,
            "decision": decision,
            "level": row.level,
            "purposes": sorted(st.uncodes(row.purposes)),
            "items": sorted(st.uncodes(row.items)),
            "events": sorted(st.uncodes(row.events)),
            "decided": int(now.timestamp()),
            "exp": int(not_after.timestamp()) if not_after else None,
            "supersedes": row.supersedes,
            "reasons": list(reasons),
        }

    def _pia_row(self, conn: sa.Connection, pia_id: str, *, for_update: bool = False) -> Any:
        q = sa.select(st.pia).where(st.pia.c.id == pia_id)
        row = conn.execute(q.with_for_update() if for_update else q).first()
        if row is None:
            raise NotFound("no PIA with this id", field="pia")
        return row

    def _current(self, conn: sa.Connection, agency: str, system: str) -> Any:
        return conn.execute(
            sa.select(st.pia).where(st.pia.c.agency == agency, st.pia.c.system == system, st.pia.c.status == "approved")
        ).first()

    def pia(self, pia_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return _pia_json(self._pia_row(conn, pia_id), document=True)

    def pias(self, *, agency: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(st.pia).order_by(st.pia.c.agency, st.pia.c.submitted_at, st.pia.c.id)
        if agency is not None:
            q = q.where(st.pia.c.agency == agency)
        with self.engine.connect() as conn:
            return [_pia_json(r) for r in conn.execute(q)]

    def pia_statements(self) -> list[str]:
        """Every signed approval ever given, oldest first (what transcryptors copy; supersession follows from the
        ``supersedes`` field of the newer approval, withdrawal from the revocation list)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(st.pia.c.statement)
                .where(st.pia.c.status.in_(["approved", "superseded", "revoked"]))
                .order_by(st.pia.c.decided_at, st.pia.c.id)
            ).scalars()
            return [s for s in rows if s]

    # --- warrants --------------------------------------------------------------------------------------------

    def request_warrant(
        self,
        *,
        requester: str,
        target: str,
        purpose: str,
        legal_basis: str,
        case_reference: str,
        persons: int,
        not_after: datetime,
        not_before: datetime | None = None,
        sealed_until: date | None = None,
        by: str,
    ) -> str:
        """Agency A asks for a warrant; returns its id (status ``requested``)."""
        _check_officer(by)
        now = self.clock()
        w = Warrant(
            id=secrets.token_hex(16),
            requester=requester,
            target=target,
            purpose=purpose,
            legal_basis=legal_basis,
            case_reference=case_reference,
            persons=persons,
            not_before=(not_before or now).astimezone(UTC).replace(microsecond=0),
            not_after=not_after.astimezone(UTC).replace(microsecond=0),
            sealed_until=sealed_until,
        )
        check_fields(w)
        with self.engine.begin() as conn:
            conn.execute(
                st.warrant.insert().values(
                    id=w.id,
                    requester=w.requester,
                    target=w.target,
                    purpose=w.purpose,
                    legal_basis=w.legal_basis,
                    case_reference=w.case_reference,
                    persons=w.persons,
                    not_before=w.not_before,
                    not_after=w.not_after,
                    sealed_until=w.sealed_until,
                    status="requested",
                    requested_at=now,
                    requested_by=by,
                    reasons="",
                )
            )
        return w.id

    def review_warrant(self, warrant_id: str) -> list[str]:
        with self.engine.connect() as conn:
            return self._review_warrant(conn, self._warrant_row(conn, warrant_id))

    def _review_warrant(self, conn: sa.Connection, row: Any) -> list[str]:
        w = _warrant_of(row)
        findings = check_against_table(w, self.table)
        standing = WatchdogRules(keys=self.keys).pia_standing(
            conn, agency=w.requester, purpose=w.purpose, now=self.clock()
        )
        if isinstance(standing, str):
            findings.append(standing)
        if self.clock() >= w.not_after:
            findings.append("warrant-expired")
        return findings

    def approve_warrant(self, warrant_id: str, *, by: str) -> str:
        """Approve and sign; returns the warrant token the agency hands to the transcryptors."""
        _check_officer(by)
        now = self.clock()
        with self.engine.begin() as conn:
            row = self._warrant_row(conn, check_warrant_id(warrant_id), for_update=True)
            if row.status != "requested":
                raise Conflict("only a requested warrant can be decided", field="warrant")
            findings = self._review_warrant(conn, row)
            if findings:
                raise Refused("cannot be approved: " + " ".join(findings), field="warrant")
            token = self.signer.sign("warrant", decision_body(WarrantDecision(_warrant_of(row), "approved", now, ())))
            conn.execute(
                st.warrant.update()
                .where(st.warrant.c.id == row.id)
                .values(status="approved", decided_at=now, decided_by=by, token=token)
            )
        log.info("warrant %s approved", warrant_id)
        return token

    def reject_warrant(self, warrant_id: str, *, by: str, reasons: Sequence[str] = ()) -> str:
        _check_officer(by)
        now = self.clock()
        with self.engine.begin() as conn:
            row = self._warrant_row(conn, check_warrant_id(warrant_id), for_update=True)
            if row.status != "requested":
                raise Conflict("only a requested warrant can be decided", field="warrant")
            all_reasons = _check_reasons(tuple(dict.fromkeys([*self._review_warrant(conn, row), *reasons])))
            token = self.signer.sign(
                "warrant", decision_body(WarrantDecision(_warrant_of(row), "refused", now, all_reasons))
            )
            conn.execute(
                st.warrant.update()
                .where(st.warrant.c.id == row.id)
                .values(status="refused", decided_at=now, decided_by=by, token=token, reasons=st.codes(all_reasons))
            )
        return token

    def revoke_warrant(self, warrant_id: str, *, by: str, reason: str) -> str:
        """Revoke an approved warrant and publish a new revocation list (returned)."""
        _check_officer(by)
        _check_reasons([reason])
        now = self.clock()
        with self.engine.begin() as conn:
            row = self._warrant_row(conn, check_warrant_id(warrant_id), for_update=True)
            if row.status != "approved":
                raise Conflict("only an approved warrant can be revoked", field="warrant")
            conn.execute(
                st.warrant.update()
                .where(st.warrant.c.id == row.id)
                .values(status="revoked", revoked_at=now, revocation_reason=reason)
            )
            conn.execute(st.revoked.insert().values(kind="warrant", id=row.id, revoked_at=now, reason=reason))
            token = self._issue_revocations(conn, now)
        log.info("warrant %s revoked", warrant_id)
        return token

    def warrant(self, warrant_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = self._warrant_row(conn, check_warrant_id(warrant_id))
            used = conn.execute(
                sa.select(st.warrant_use.c.used).where(st.warrant_use.c.warrant_id == row.id)
            ).scalar_one_or_none()
        return _warrant_json(row, used=int(used or 0))

    def warrants(self, *, requester: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(st.warrant).order_by(st.warrant.c.requested_at, st.warrant.c.id)
        if requester is not None:
            q = q.where(st.warrant.c.requester == requester)
        with self.engine.connect() as conn:
            return [_warrant_json(r) for r in conn.execute(q)]

    def _warrant_row(self, conn: sa.Connection, warrant_id: str, *, for_update: bool = False) -> Any:
        q = sa.select(st.warrant).where(st.warrant.c.id == warrant_id)
        row = conn.execute(q.with_for_update() if for_update else q).first()
        if row is None:
            raise NotFound("no warrant with this id", field="warrant")
        return row

    # --- revocation list -----------------------------------------------------------------------------------------

    def _issue_revocations(self, conn: sa.Connection, now: datetime) -> str:
        seq = int(conn.execute(sa.select(sa.func.max(st.revocation_list.c.seq))).scalar() or 0) + 1
        entries = tuple(
            Revoked(kind=r.kind, id=r.id, at=_aware(r.revoked_at), reason=r.reason)
            for r in conn.execute(sa.select(st.revoked).order_by(st.revoked.c.kind, st.revoked.c.id))
        )
        rl = RevocationList(seq=seq, issued_at=now, next_update=now + REVOCATION_LIST_VALIDITY, revoked=entries)
        token = self.signer.sign("revocations", rl.body())
        conn.execute(
            st.revocation_list.insert().values(seq=seq, issued_at=now, next_update=rl.next_update, token=token)
        )
        return token

    def revocation_list(self) -> str:
        """The newest list; reissued (same entries, next sequence number) once half its validity has passed, when
        the signing key is open.  Without the key the last list is served, and goes stale (transcryptors then
        refuse: fail closed)."""
        now = self.clock()
        with self.engine.begin() as conn:
            latest = conn.execute(
                sa.select(st.revocation_list).order_by(st.revocation_list.c.seq.desc()).limit(1)
            ).first()
            fresh = latest is not None and now < _aware(latest.issued_at) + REVOCATION_LIST_VALIDITY / 2
            if fresh or self._signer is None:
                if latest is None:
                    raise Unavailable("the watchdog has not published a revocation list yet", field="revocations")
                return str(latest.token)
            return self._issue_revocations(conn, now)

    # --- decisions and alerts ------------------------------------------------------------------------------------

    def decisions(self, *, since: datetime | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        q = sa.select(st.decision).order_by(st.decision.c.id.desc()).limit(limit)
        if since is not None:
            q = q.where(st.decision.c.at >= since)
        with self.engine.connect() as conn:
            return [_decision_json(r) for r in conn.execute(q)]

    def detect(
        self,
        *,
        until: datetime | None = None,
        window: timedelta = timedelta(days=1),
        config: anomaly.Config | None = None,
    ) -> list[dict[str, Any]]:
        """Run the anomaly rules over ``[until - window, until)`` against the baseline before it; store new alerts
        (a finding already stored is not stored twice); return the alerts stored by this run."""
        cfg = config or anomaly.Config()
        end = until or self.clock()
        start = end - window
        with self.engine.connect() as conn:
            records = [
                anomaly.record_of(dict(r._mapping))
                for r in conn.execute(
                    sa.select(st.decision)
                    .where(st.decision.c.at >= start - cfg.baseline, st.decision.c.at < end)
                    .order_by(st.decision.c.at)
                )
            ]
        baseline = [r for r in records if r.at < start]
        current = [r for r in records if r.at >= start]
        found = anomaly.detect(current, baseline=baseline, config=cfg)
        stored: list[dict[str, Any]] = []
        with self.engine.begin() as conn:
            for a in found:
                exists = conn.execute(sa.select(st.alert.c.id).where(st.alert.c.key == a.key)).first()
                if exists is not None:
                    continue
                values = {
                    "alert_id": secrets.token_hex(16),
                    "key": a.key,
                    "created_at": self.clock(),
                    "rule": a.rule,
                    "severity": a.severity,
                    "scope": a.scope,
                    "subject": a.subject,
                    "window_start": a.window_start,
                    "window_end": a.window_end,
                    "observed": a.observed,
                    "threshold": a.threshold,
                    "details": st.codes(a.details),
                    "status": "open",
                }
                conn.execute(st.alert.insert().values(**values))
                stored.append(_alert_json(values))
        return stored

    def record_alert(self, alert: anomaly.Alert) -> dict[str, Any]:
        """Store one alert reported by another party (a refusal at its guard: rule ``auth-<reason>``).  Unlike a
        detected finding, each refusal is its own alert, so the key carries a random part."""
        if not alert.rule.startswith("auth-") or alert.scope not in ("terminal", "party"):
            raise InvalidInput("a reported alert is an auth- rule about a terminal or a party", field="rule")
        values = {
            "alert_id": secrets.token_hex(16),
            "key": f"{alert.key}|{secrets.token_hex(8)}",
            "created_at": self.clock(),
            "rule": alert.rule,
            "severity": alert.severity,
            "scope": alert.scope,
            "subject": alert.subject,
            "window_start": alert.window_start,
            "window_end": alert.window_end,
            "observed": alert.observed,
            "threshold": alert.threshold,
            "details": st.codes(alert.details),
            "status": "open",
        }
        with self.engine.begin() as conn:
            conn.execute(st.alert.insert().values(**values))
        return _alert_json(values)

    def alerts(self, *, status: str | None = None, rule: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        q = sa.select(st.alert).order_by(st.alert.c.id.desc()).limit(limit)
        if status is not None:
            q = q.where(st.alert.c.status == status)
        if rule is not None:
            q = q.where(st.alert.c.rule == rule)
        with self.engine.connect() as conn:
            return [_alert_json(dict(r._mapping)) for r in conn.execute(q)]

    def set_alert_status(self, alert_id: str, status: str, *, by: str) -> None:
        _check_officer(by)
        if status not in ("open", "acknowledged", "closed"):
            raise InvalidInput("must be open, acknowledged or closed", field="status")
        with self.engine.begin() as conn:
            n = conn.execute(st.alert.update().where(st.alert.c.alert_id == alert_id).values(status=status)).rowcount
        if n != 1:
            raise NotFound("no alert with this id", field="alert")


# --- JSON views (public fields only) --------------------------------------------------------------------------------


def _iso(v: Any) -> str | None:
    if v is None:
        return None
    return _aware(v).isoformat() if isinstance(v, datetime) else str(v.isoformat())


def _pia_json(row: Any, *, document: bool = False) -> dict[str, Any]:
    import json

    out: dict[str, Any] = {
        "id": row.id,
        "agency": row.agency,
        "system": row.system,
        "level": row.level,
        "purposes": list(st.uncodes(row.purposes)),
        "items": list(st.uncodes(row.items)),
        "events": list(st.uncodes(row.events)),
        "persons": int(row.persons),
        "digest": row.digest,
        "status": row.status,
        "submitted_at": _iso(row.submitted_at),
        "decided_at": _iso(row.decided_at),
        "not_after": _iso(row.not_after),
        "supersedes": row.supersedes,
        "superseded_by": row.superseded_by,
        "reasons": list(st.uncodes(row.reasons)),
        "statement": row.statement,
    }
    if document:
        out["document"] = json.loads(row.document)
    return out


def _warrant_json(row: Any, *, used: int | None = None) -> dict[str, Any]:
    out = {
        "id": row.id,
        "requester": row.requester,
        "target": row.target,
        "purpose": row.purpose,
        "legal_basis": row.legal_basis,
        "case_reference": row.case_reference,
        "persons": int(row.persons),
        "not_before": _iso(row.not_before),
        "not_after": _iso(row.not_after),
        "sealed_until": _iso(row.sealed_until),
        "status": row.status,
        "requested_at": _iso(row.requested_at),
        "decided_at": _iso(row.decided_at),
        "reasons": list(st.uncodes(row.reasons)),
        "revoked_at": _iso(row.revoked_at),
        "revocation_reason": row.revocation_reason,
        "token": row.token,
    }
    if used is not None:
        out["used_here"] = used
    return out


def _decision_json(row: Any) -> dict[str, Any]:
    return {
        "decision_id": row.decision_id,
        "parent": row.parent,
        "party": row.party,
        "at": _iso(row.at),
        "requester": row.requester,
        "requester_kind": row.requester_kind,
        "action": row.action,
        "purpose": row.purpose,
        "terminal": row.terminal,
        "count": row.count,
        "items": list(st.uncodes(row.items)),
        "allow": bool(row.allow),
        "reasons": list(st.uncodes(row.reasons)),
        "legal_basis": row.legal_basis,
        "pia": row.pia,
        "warrant": row.warrant,
        "sealed_until": _iso(row.sealed_until),
    }


def _alert_json(m: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "alert_id": m["alert_id"],
        "rule": m["rule"],
        "severity": m["severity"],
        "scope": m["scope"],
        "subject": m["subject"],
        "window_start": _iso(m["window_start"]),
        "window_end": _iso(m["window_end"]),
        "observed": int(m["observed"]),
        "threshold": int(m["threshold"]),
        "details": list(st.uncodes(m["details"])),
        "status": m["status"],
        "created_at": _iso(m["created_at"]),
    }


# --- what other parties see of the watchdog ---------------------------------------------------------------------------


class LocalWatchdogSource:
    """The watchdog's publications, in-process (HTTP: ``GET /policy/pia-statements``, ``/policy/revocations``).
    Everything it returns is signed; the receiver verifies it."""

    def __init__(self, watchdog: Watchdog) -> None:
        self._watchdog = watchdog

    def pia_statements(self) -> list[str]:
        return self._watchdog.pia_statements()

    def revocation_list(self) -> str:
        return self._watchdog.revocation_list()


def open_watchdog(home: Home, *, passphrase: bytes | None = None, clock: Clock = utcnow) -> Watchdog:
    return Watchdog.open(home, passphrase=passphrase, clock=clock)


def open_decision_point(home: Home, *, clock: Clock = utcnow) -> DecisionPoint:
    """The national decision point of ``home`` (runs in the watchdog's party, records in its database).  Every
    path asks it: ``open_decision_point(home).decide(AccessRequest(...))``."""
    return Watchdog.open(home, clock=clock).decision_point()


def verify_pia_statement(token: str, keys: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    body = verify(token, "pia", keys)
    if body.get("decision") not in ("approved", "rejected"):
        raise Refused("is not a well-formed signed pia statement", field="pia")
    return body
