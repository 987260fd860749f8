"""The decision point: evaluate a request on the rules this party holds, count warrant uses, record, return.

:class:`DecisionPoint` implements :class:`~sekisho.protocols.access.PolicyDecisionPoint` over *one party's*
database: the decision and its reasons are written to that party's ``pol_decision`` in the same transaction as any
warrant count, and only then returned.  Where the rules come from is a :class:`RuleSource`:

* :class:`~sekisho.policy.service.WatchdogRules` — the watchdog's own PIA and warrant tables (the national decision
  point, :func:`sekisho.policy.service.open_decision_point`);
* :class:`PublishedRules` — verified copies of what the watchdog published (each transcryptor's hook): PIA
  decisions and the revocation list, each checked against the watchdog's signature before it is stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sekisho.errors import Refused
from sekisho.jp.legal import ITEMS, LegalBasisTable
from sekisho.policy import store as st
from sekisho.policy.procedure import (
    ApprovedPia,
    Outcome,
    PiaStanding,
    Subject,
    WarrantStanding,
    check_request,
    evaluate,
    narrow,
    subject_of,
)
from sekisho.protocols.access import AccessRequest, Decision, SubjectFacts
from sekisho.protocols.statements import is_statement
from sekisho.protocols.warrants import Warrant, verify_warrant

Clock = Callable[[], datetime]


class RuleSource(Protocol):
    def pia_standing(self, conn: sa.Connection, *, agency: str, purpose: str, now: datetime) -> PiaStanding: ...

    def warrant_standing(self, conn: sa.Connection, *, ref: str, now: datetime) -> Warrant | str: ...

    def freshness(self, conn: sa.Connection, *, now: datetime) -> str | None:
        """A reason code when the rules held here are too old to decide on (fail closed), else None."""
        ...


class WarrantCounter(Protocol):
    """Where a party counts the persons converted under a warrant (its own store, never another party's)."""

    def remaining(self, conn: sa.Connection, warrant: Warrant, request: AccessRequest) -> int: ...

    def count(self, conn: sa.Connection, warrant: Warrant, request: AccessRequest, now: datetime) -> None:
        """Count ``request.count`` uses, or raise Refused when that would pass the warrant's cap."""
        ...


class TableCounter:
    """Counts in ``pol_warrant_use`` with one conditional UPDATE (concurrent decisions never pass the cap)."""

    def remaining(self, conn: sa.Connection, warrant: Warrant, request: AccessRequest) -> int:
        used = conn.execute(
            sa.select(st.warrant_use.c.used).where(st.warrant_use.c.warrant_id == warrant.id)
        ).scalar_one_or_none()
        return warrant.persons - int(used or 0)

    def count(self, conn: sa.Connection, warrant: Warrant, request: AccessRequest, now: datetime) -> None:
        exists = conn.execute(
            sa.select(st.warrant_use.c.warrant_id).where(st.warrant_use.c.warrant_id == warrant.id)
        ).first()
        if exists is None:
            conn.execute(
                st.warrant_use.insert().values(warrant_id=warrant.id, max_uses=warrant.persons, used=0, updated_at=now)
            )
        n = request.count
        counted = conn.execute(
            sa.update(st.warrant_use)
            .where(st.warrant_use.c.warrant_id == warrant.id, st.warrant_use.c.used + n <= st.warrant_use.c.max_uses)
            .values(used=st.warrant_use.c.used + n, updated_at=now)
        ).rowcount
        if counted != 1:
            raise Refused("has no uses left for this request", field="warrant")


class DecisionPoint:
    """Decides, records, returns.  One instance per deciding party; ``party`` is written into every record."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        party: str,
        rules: RuleSource,
        table: LegalBasisTable,
        clock: Clock,
        counter: WarrantCounter | None = None,
    ) -> None:
        self.engine = engine
        self.party = party
        self.rules = rules
        self.table = table
        self.clock = clock
        self.counter: WarrantCounter = counter or TableCounter()

    def decide(self, request: AccessRequest) -> Decision:
        return self.decide_with(request, counter=self.counter)

    def decide_with(
        self,
        request: AccessRequest,
        *,
        counter: WarrantCounter,
        then: Callable[[sa.Connection, Decision], None] | None = None,
    ) -> Decision:
        """Decide and record; for an allowed request ``then(conn, decision)`` runs in the same transaction as the
        record (the caller's own record of what it does with the decision: one commit for both)."""
        check_request(request)
        subject = subject_of(request)
        now = self.clock()
        outcome: Outcome | None = None
        recorded = False
        try:
            with self.engine.begin() as conn:
                outcome = self._evaluate(conn, request, subject, now, counter)
                if outcome.allow and outcome.warrant is not None:
                    counter.count(conn, outcome.warrant, request, now)
                decision = self._record(conn, request, outcome, now)
                recorded = True
                if then is not None and decision.allow:
                    then(conn, decision)
                return decision
        except Refused:
            if recorded:
                raise  # the caller's own refusal: nothing of this transaction is kept
            # the cap was reached between the look and the count (or by a concurrent decision): record the refusal
            refused = Outcome(
                False, frozenset(), ("warrant-exhausted",), legal_basis=outcome.legal_basis if outcome else None
            )
            with self.engine.begin() as conn:
                return self._record(conn, request, refused, now)

    def check_subject(self, decision: Decision, facts: SubjectFacts, request: AccessRequest) -> Decision:
        check_request(request)
        outcome = narrow(decision, facts, request, self.table)
        if outcome is None:
            return decision
        with self.engine.begin() as conn:
            return self._record(
                conn,
                request,
                outcome,
                self.clock(),
                parent=decision.decision_id,
                subject_ref=facts.subject_ref,
                warrant_id=decision.warrant if outcome.allow else None,
                sealed_until=decision.sealed_until if outcome.allow else None,
            )

    # --- internals ------------------------------------------------------------------------------------------

    def _evaluate(
        self, conn: sa.Connection, request: AccessRequest, subject: Subject, now: datetime, counter: WarrantCounter
    ) -> Outcome:
        freshness = self.rules.freshness(conn, now=now)
        pia: PiaStanding | None = None
        warrant: WarrantStanding | None = None
        if freshness is None:
            if subject.needs_pia and subject.agency is not None:
                pia = self.rules.pia_standing(conn, agency=subject.agency, purpose=request.purpose, now=now)
            if subject.needs_warrant and request.warrant:
                standing = self.rules.warrant_standing(conn, ref=request.warrant, now=now)
                warrant = (
                    (standing, counter.remaining(conn, standing, request))
                    if isinstance(standing, Warrant)
                    else standing
                )
        return evaluate(
            request, table=self.table, subject=subject, pia=pia, warrant=warrant, now=now, freshness=freshness
        )

    def _record(
        self,
        conn: sa.Connection,
        request: AccessRequest,
        outcome: Outcome,
        now: datetime,
        *,
        parent: str | None = None,
        subject_ref: str | None = None,
        warrant_id: str | None = None,
        sealed_until: date | None = None,
    ) -> Decision:
        decision_id = secrets.token_hex(16)
        wid = outcome.warrant.id if outcome.warrant is not None else warrant_id
        sealed = outcome.sealed_until or sealed_until
        conn.execute(
            st.decision.insert().values(
                decision_id=decision_id,
                parent=parent,
                party=self.party,
                at=now,
                requested_at=request.at,
                requester=request.requester,
                requester_kind=request.requester_kind,
                action=request.action,
                purpose=request.purpose,
                terminal=request.terminal,
                municipality=request.municipality,
                from_domain=request.from_domain,
                to_domain=request.to_domain,
                count=request.count,
                items_requested=st.codes(frozenset(i for i in request.items if i in ITEMS)),  # never a free string
                items=st.codes(outcome.items),
                events=st.codes(outcome.events),
                allow=outcome.allow,
                reasons=st.codes(outcome.reasons),
                legal_basis=outcome.legal_basis,
                pia=outcome.pia,
                warrant=wid,
                sealed_until=sealed,
                subject_ref=subject_ref,
            )
        )
        return Decision(
            decision_id=decision_id,
            allow=outcome.allow,
            items=outcome.items,
            reasons=outcome.reasons,
            legal_basis=outcome.legal_basis,
            pia=outcome.pia,
            warrant=wid,
            sealed_until=sealed,
            events=outcome.events,
            consent_required=outcome.consent_required,
            parent=parent,
        )


# --- rules from what the watchdog published (a transcryptor's own copies) ----------------------------------------


@dataclass(frozen=True, slots=True)
class _Held:
    """One read of a party's copies of the watchdog's publications (what :class:`PublishedRules` decides on)."""

    next_update: datetime | None
    published: tuple[Any, ...]
    revoked: Mapping[str, frozenset[str]]


class PublishedRules:
    """Rules from verified copies of the watchdog's publications in *this* party's store.

    The copies change only when the party's hook stores a refresh (:meth:`forget` then), so they are read once and
    kept: a decision costs no read of them.  Times (the list's next update, a PIA's expiry) are still compared
    with the clock on every decision."""

    def __init__(self, *, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self.keys = dict(keys)
        self._held: _Held | None = None
        self._generation = 0

    def forget(self) -> None:
        """The copies changed (a refresh stored something): read them again at the next decision."""
        self._generation += 1
        self._held = None

    def _copies(self, conn: sa.Connection) -> _Held:
        held = self._held
        if held is None:
            generation = self._generation
            latest = conn.execute(
                sa.select(st.revocation_list.c.next_update).order_by(st.revocation_list.c.seq.desc()).limit(1)
            ).scalar_one_or_none()
            revoked: dict[str, set[str]] = {}
            for kind, rid in conn.execute(sa.select(st.revoked.c.kind, st.revoked.c.id)):
                revoked.setdefault(kind, set()).add(rid)
            held = _Held(
                next_update=None if latest is None else _aware(latest),
                published=tuple(conn.execute(sa.select(st.published)).all()),
                revoked={k: frozenset(v) for k, v in revoked.items()},
            )
            if generation == self._generation:  # a refresh that committed meanwhile: do not keep what was read
                self._held = held
        return held

    def pia_standing(self, conn: sa.Connection, *, agency: str, purpose: str, now: datetime) -> PiaStanding:
        held = self._copies(conn)
        revoked = held.revoked.get("pia", frozenset())
        found = ""
        for r in held.published:
            if r.agency != agency or purpose not in st.uncodes(r.purposes):
                continue
            if r.pia_id in revoked:
                found = found or "pia-revoked"
            elif r.status != "approved":
                found = found or "pia-superseded"
            elif now >= _aware(r.not_after):
                found = found or "pia-expired"
            else:
                return ApprovedPia(
                    id=r.pia_id,
                    purposes=frozenset(st.uncodes(r.purposes)),
                    items=frozenset(st.uncodes(r.items)),
                    events=frozenset(st.uncodes(r.events)),
                )
        return found or "pia-not-approved"

    def warrant_standing(self, conn: sa.Connection, *, ref: str, now: datetime) -> Warrant | str:
        if not is_statement(ref, "warrant"):
            return "warrant-token-required"
        try:
            w = verify_warrant(ref, self.keys)
        except Refused:
            return "warrant-invalid"
        if w.id in self._copies(conn).revoked.get("warrant", frozenset()):
            return "warrant-revoked"
        return w

    def freshness(self, conn: sa.Connection, *, now: datetime) -> str | None:
        latest = self._copies(conn).next_update
        if latest is None:
            return "revocation-list-missing"
        if now >= latest:
            return "revocation-list-stale"
        return None


def _revoked(conn: sa.Connection, kind: str) -> frozenset[str]:
    return frozenset(conn.execute(sa.select(st.revoked.c.id).where(st.revoked.c.kind == kind)).scalars())


def _aware(dt: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; every stored time is UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
