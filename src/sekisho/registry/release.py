"""The municipality's side of the pseudonym flows: what leaves the register for agencies and the locator.

* **Index** (:func:`index_pending`): records with a PP and no registry pseudonym yet are converted R → R through
  T1 and T2; the locator decrypts ``s_R·P``, maps it to this municipality and returns it; the register stores it
  (``rp``), so that an identity confirmation routed by the locator finds the resident.
* **Join the network** (:func:`join_network`): a register loaded before ``sekisho network init`` gets a PP for
  every record lacking one (in bulk, over a process pool), then is indexed.
* **Enrolment** (:meth:`ReleaseService.enrol`): policy decision → access records and the enrolment rows commit →
  re-randomised PPs go R → A through both transcryptors → the agency receives ``Enc_A(s_A·P)`` with only the
  released items.
* **Identity confirmation** (:meth:`ReleaseService.answer_identity`): the locator hands over registry pseudonyms;
  the municipality decides, writes the access records, then answers with only the released items.
* **Cross-references** (:meth:`ReleaseService.record_cross_reference`): the record leg of A → B under a warrant
  reaches the municipality through the locator; it decides, records (sealed until the warrant's date), commits and
  says per person whether B may have them — B's result is handed over only after that.
* **Change notices** (:meth:`ReleaseService.deliver_notices`): outbox events → each enrolled agency entitled to
  that notice (``decision.events``) → one conversion per agency and batch; an event is marked delivered only after
  every entitled agency accepted it.

Every release writes its access record (``RegisterService.record_release``) in a transaction that commits before
the data leaves.  Nothing here logs a value: counts, codes and kinds only.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Connection

from sekisho.errors import Conflict, InvalidInput, NotFound, Refused
from sekisho.pep.flows import conversion_request, convert_batch, prepare_batch
from sekisho.pep.keys import NetworkParams
from sekisho.protocols.access import AccessRequest, Decision, PolicyDecisionPoint, RequesterKind, SubjectFacts
from sekisho.protocols.agency import (
    RELEASABLE_ITEMS,
    AgencyEndpoint,
    CrossReferenceQuery,
    CrossReferenceStatus,
    EnrolmentDelivery,
    IdentityAnswer,
    IdentityQuery,
    LookupStatus,
    Notice,
    NoticeBatch,
    NoticeFeedPage,
)
from sekisho.protocols.conversion import REGISTRY_DOMAIN, Hops, check_domain, check_purpose
from sekisho.protocols.handles import parse_handle
from sekisho.protocols.warrants import Warrant, verify_warrant
from sekisho.registry import procedures as proc
from sekisho.registry import store as st
from sekisho.registry.model import ClosedReason, Resident, Status
from sekisho.registry.service import RegisterService

log = logging.getLogger("sekisho.registry.release")

#: outbox events that become change notices to agencies (design flow 4); the others concern other parties
NOTICE_KINDS = frozenset({proc.DIED, proc.MOVED_OUT, proc.MOVED_IN, proc.MOVED_WITHIN, proc.NAME_CHANGED})
#: the items a notice of each kind may carry: of these, those the agency was enrolled with (and the policy allows)
NOTICE_ITEMS: Mapping[str, tuple[str, ...]] = {
    proc.DIED: ("death",),
    proc.MOVED_OUT: ("moved",),
    proc.MOVED_IN: ("address",),
    proc.MOVED_WITHIN: ("address",),
    proc.NAME_CHANGED: ("name", "kana"),
}
#: conversions are sent in batches of at most this many residents
CHUNK = 10_000
#: the item a cross-reference record names when the warrant's row lets B release no register item: the person's
#: pseudonyms in A's and B's domains were linked (a record-only name, outside the policy's item vocabulary)
LINK_ITEM = "link"
_LIVE = (Status.ACTIVE.value, Status.INCOMING.value)
#: the access record's decision when a release it recorded as allowed did not complete, and why
FAILED, DELIVERY_FAILED = "failed", "delivery-failed"


class SubjectFactsSource(Protocol):
    """Where the municipality's per-resident policy facts come from (support measures, opt-outs, consents:
    ``sekisho.policy.municipality``).  ``snapshot()`` is taken once per batch and answers per handle."""

    def snapshot(self) -> Callable[[str], SubjectFacts]: ...


class NoFacts:
    """A register without policy tables: every resident has the default facts."""

    def snapshot(self) -> Callable[[str], SubjectFacts]:
        default = SubjectFacts()
        return lambda _handle: default


class ReleaseNetwork(Protocol):
    """What a municipality needs from the network to release data to agencies (``sekisho.node.local``)."""

    @property
    def params(self) -> NetworkParams: ...

    def hops(self) -> Hops: ...

    def conversion_grant(
        self,
        *,
        requester: str,
        requester_kind: RequesterKind,
        from_domain: str,
        to_domain: str,
        purpose: str,
        count: int,
        municipality: str | None = None,
    ) -> str: ...

    def agency(self, name: str) -> AgencyEndpoint: ...


@dataclass(frozen=True, slots=True)
class IndexReport:
    indexed: int
    #: records whose person the locator already maps to another municipality (an anomaly for the clerk)
    elsewhere: int


@dataclass(frozen=True, slots=True)
class EnrolmentReport:
    enrolled: int
    #: residents the per-person check refused (a protection measure, an opt-out)
    refused: int
    items: tuple[str, ...]
    #: the ids of the deliveries the agency received (one per batch): how the agency finds who came in which one
    deliveries: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NoticeReport:
    events: int  # outbox events marked delivered
    notices: int  # notices handed to agencies (a re-delivery counts again)
    pending: int  # events left for the next run (an agency could not be reached)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def item_values(r: Resident, items: Iterable[str]) -> dict[str, str]:
    """The text of each released item of a record (the names of :data:`RELEASABLE_ITEMS`)."""
    out: dict[str, str] = {}
    closing: dict[str, str] = {}  # the date of death, or of the move out, for a record closed by one
    if r.closed is not None and r.closed.reason is ClosedReason.DEATH:
        closing["death"] = r.closed.event_date.isoformat()
    elif r.closed is not None and r.closed.reason in _MOVED:
        closing["moved"] = r.closed.event_date.isoformat()
    for item in items:
        if item == "name":
            out[item] = r.display_name
        elif item == "kana":
            out[item] = r.display_kana
        elif item == "birth_date":
            out[item] = r.birth_date.iso()
        elif item == "sex":
            out[item] = r.sex
        elif item == "address":
            out[item] = r.address.line()
        elif item == "resident_since":
            out[item] = r.became_resident_on.isoformat()
        elif item == "nationality":
            out[item] = r.nationality
        elif item in closing:
            out[item] = closing[item]
    return out


_MOVED = frozenset({ClosedReason.MOVE_OUT, ClosedReason.ABROAD})


def _status(r: Resident, allowed: frozenset[str]) -> LookupStatus:
    """What an identity confirmation says about a record.  That a person died or moved away is itself an item
    (``death``, ``moved``): an agency not entitled to it learns only that nothing is released."""
    if r.status is Status.ACTIVE:
        return "found"
    if r.status is Status.INCOMING:
        return "pending"  # a move-in in flight: the hand-over completes within one call of the destination
    if r.closed is not None and r.closed.reason is ClosedReason.DEATH:
        return "died" if "death" in allowed else "refused"
    return "moved" if "moved" in allowed else "refused"


def move_id(token: str) -> str:
    """What both ends of a hand-over tell agencies about the move: a digest of the transfer token, which itself
    never leaves the two registers (it opens the transfer package)."""
    return hashlib.sha256(b"sekisho/move/v1\0" + token.strip().encode()).hexdigest()[:32]


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns: they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _batches(seq: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


# --- the registry pseudonym index -------------------------------------------------------------------------


def _indexable() -> sa.ColumnElement[bool]:
    """Records the locator should know: live ones, and the dead (the locator keeps pointing at their last
    municipality, whose closed record answers "died").  A record closed by a move belongs to the destination."""
    r = st.resident.c
    return sa.and_(
        r.pp.is_not(None),
        r.rp.is_(None),
        sa.or_(r.status.in_(_LIVE), r.closed_reason == ClosedReason.DEATH.value),
    )


def index_pending(
    register: RegisterService,
    *,
    resident_ids: Sequence[int] | None = None,
    chunk: int = CHUNK,
    advance: Callable[[int], None] | None = None,
) -> IndexReport:
    """Index every record that has a PP and no registry pseudonym (or just ``resident_ids``) at the locator."""
    if register.index is None:
        raise NotFound("no pseudonym index is configured for this register", field="index")
    r = st.resident.c
    indexed = elsewhere = 0
    last = 0
    while True:
        stmt = sa.select(r.id, r.pp).where(_indexable(), r.id > last).order_by(r.id).limit(chunk)
        if resident_ids is not None:
            stmt = stmt.where(r.id.in_(resident_ids))
        with register.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            break
        last = rows[-1].id
        entries = register.index.index([bytes(row.pp) for row in rows])
        with register.engine.begin() as conn:
            conn.execute(
                st.resident.update().where(r.id == sa.bindparam("rid")).values(rp=sa.bindparam("new_rp")),
                [{"rid": row.id, "new_rp": e.rp} for row, e in zip(rows, entries, strict=True)],
            )
        indexed += len(rows)
        elsewhere += sum(1 for e in entries if not e.here)
        if advance is not None:
            advance(len(rows))
    if elsewhere:
        log.warning("municipality %s: %d indexed record(s) are held by another municipality", register.code, elsewhere)
    return IndexReport(indexed=indexed, elsewhere=elsewhere)


def count_without_pp(register: RegisterService) -> int:
    with register.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(st.resident).where(st.resident.c.pp.is_(None))
            ).scalar_one()
        )


def count_unindexed(register: RegisterService) -> int:
    with register.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(st.resident).where(_indexable())).scalar_one())


def join_network(
    register: RegisterService,
    *,
    chunk: int = 50_000,
    workers: int | None = None,
    advance: Callable[[int], None] | None = None,
) -> int:
    """``PP = Enc_Y(P)`` for every record lacking one (a register loaded before the network was set up), in
    batches over a process pool; returns how many were made.  Every status: a closed record's PP is what the
    person's change notices and confirmations of death are converted from."""
    from sekisho.pep.flows import new_polymorphic_pseudonyms_batch

    if register.pp_key is None:
        raise NotFound("no network here yet (run `sekisho network init`)", field="network")
    r = st.resident.c
    done = 0
    last = 0
    while True:
        with register.engine.connect() as conn:
            rows = conn.execute(
                sa.select(r.id, r.root).where(r.pp.is_(None), r.id > last).order_by(r.id).limit(chunk)
            ).all()
        if not rows:
            return done
        last = rows[-1].id
        pps = new_polymorphic_pseudonyms_batch([bytes(row.root) for row in rows], register.pp_key, workers=workers)
        with register.engine.begin() as conn:
            # "pp IS NULL" again: a record given a PP meanwhile (a procedure running beside this) keeps its own
            conn.execute(
                st.resident.update()
                .where(r.id == sa.bindparam("rid"), r.pp.is_(None))
                .values(pp=sa.bindparam("new_pp")),
                [{"rid": row.id, "new_pp": pp} for row, pp in zip(rows, pps, strict=True)],
            )
        done += len(rows)
        if advance is not None:
            advance(len(rows))


# --- releases to agencies ---------------------------------------------------------------------------------


class _SubjectCheck:
    """``check_subject`` per distinct set of facts: the register keeps no protection measures yet, so every
    resident has the same facts and one call serves a batch (the decision point records a narrowed decision)."""

    def __init__(self, pdp: PolicyDecisionPoint, decision: Decision, request: AccessRequest) -> None:
        self._pdp, self._decision, self._request = pdp, decision, request
        self._cache: dict[SubjectFacts, Decision] = {}

    def __call__(self, facts: SubjectFacts) -> Decision:
        d = self._cache.get(facts)
        if d is None:
            d = self._cache[facts] = self._pdp.check_subject(self._decision, facts, self._request)
        return d


def _reasons(decision: Decision) -> str:
    return ", ".join(decision.reasons) or "no reason given"


class ReleaseService:
    """Enrolment, identity confirmation and change notices at one municipality."""

    def __init__(
        self,
        register: RegisterService,
        *,
        network: ReleaseNetwork,
        pdp: PolicyDecisionPoint,
        facts: SubjectFactsSource | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.register = register
        self.network = network
        self.pdp = pdp
        self.facts = facts or NoFacts()
        self._clock = clock

    @property
    def code(self) -> str:
        return self.register.code

    @property
    def requester(self) -> str:
        """How this municipality names itself to the transcryptors."""
        return f"municipality/{self.code}"

    # --- enrolment -----------------------------------------------------------------------------------------

    def enrol(
        self,
        handles: Sequence[str] | None,
        *,
        agency: str,
        purpose: str,
        items: Iterable[str] | None = None,
        chunk: int = CHUNK,
        advance: Callable[[int], None] | None = None,
    ) -> EnrolmentReport:
        """Enrol residents (by handle; ``None``: every active resident) with ``agency`` for ``purpose``."""
        check_domain(agency, field="agency")
        if agency == REGISTRY_DOMAIN:
            raise InvalidInput("names the registry, not an agency", field="agency")
        check_purpose(purpose)
        endpoint = self.network.agency(agency)
        asked = frozenset(endpoint.requested_items(purpose) if items is None else items)
        if not asked or not asked <= set(RELEASABLE_ITEMS):
            # `household` (and other register items) may be in a legal basis, but these flows never release them
            raise InvalidInput(f"must name items this register releases: {', '.join(RELEASABLE_ITEMS)}", field="items")
        ids = self._resident_ids(handles)
        request = AccessRequest(
            requester=agency,
            requester_kind="agency",
            action="enrolment",
            purpose=purpose,
            items=asked,
            at=self._clock(),
            from_domain=REGISTRY_DOMAIN,
            to_domain=agency,
            count=max(len(ids), 1),
            municipality=self.code,
        )
        decision = self.pdp.decide(request)
        if not decision.allow:
            raise Refused(f"the policy refused the enrolment ({_reasons(decision)})", field="purpose")
        check = _SubjectCheck(self.pdp, decision, request)
        facts = self.facts.snapshot()
        enrolled = refused = 0
        deliveries: list[str] = []
        for batch_ids in _batches(ids, chunk):
            rows = self._rows(batch_ids)
            allowed = []
            for row in rows:
                d = check(facts(row.handle))
                if d.allow:
                    allowed.append((row, d))
                else:
                    refused += 1
            if allowed:
                deliveries.append(
                    self._enrol_batch(allowed, agency=agency, purpose=purpose, decision=decision, endpoint=endpoint)
                )
                enrolled += len(allowed)
            if advance is not None:
                advance(len(rows))
        log.info(
            "municipality %s enrolled n=%d with agency=%s purpose=%s (refused %d)",
            self.code,
            enrolled,
            agency,
            purpose,
            refused,
        )
        return EnrolmentReport(
            enrolled=enrolled, refused=refused, items=tuple(sorted(decision.items)), deliveries=tuple(deliveries)
        )

    def _enrol_batch(
        self,
        allowed: Sequence[tuple[Any, Decision]],
        *,
        agency: str,
        purpose: str,
        decision: Decision,
        endpoint: AgencyEndpoint,
    ) -> str:
        grant = self.network.conversion_grant(
            requester=self.requester,
            requester_kind="municipality",
            from_domain=REGISTRY_DOMAIN,
            to_domain=agency,
            purpose=purpose,
            count=len(allowed),
            municipality=self.code,
        )
        request = conversion_request(
            prepare_batch([bytes(row.pp) for row, _ in allowed], self.network.params.public_key),
            network=self.network.params,
            from_domain=REGISTRY_DOMAIN,
            to_domain=agency,
            purpose=purpose,
            grant=grant,
            requester=self.requester,
        )
        released = [(row.id, d) for row, d in allowed]
        now = self._clock()
        with self.register.transaction() as conn:
            self._record(conn, released, action="enrolment", purpose=purpose, agency=agency)
            self._insert_enrolments(conn, released, agency, purpose, now)
        delivery_id = f"{self.code}-{request.request_id}"
        # the record is public before anything leaves; if the conversion or the hand-over fails, it says so
        with self._failed_on_error(released, action="enrolment", purpose=purpose, agency=agency):
            result = convert_batch(request, self.network.hops())
            endpoint.receive_enrolment(
                EnrolmentDelivery(
                    delivery_id=delivery_id,
                    purpose=purpose,
                    result=result,
                    items=tuple(item_values(self.register._from_row(row), d.items) for row, d in allowed),
                    released=tuple(sorted(decision.items)),
                )
            )
        return delivery_id

    @contextmanager
    def _failed_on_error(
        self, released: Sequence[tuple[int, Decision]], *, action: str, purpose: str, agency: str
    ) -> Iterator[None]:
        """Around the conversion and hand-over of data whose ``allow`` records are committed (and public): if
        either fails, each record gets a ``failed`` one after it — same action, actor and purpose, no item, reason
        ``delivery-failed`` — so that the resident's list says the release was attempted and not completed.  A
        public entry cannot be taken back; this one says what happened to it (docs/auditlog.md)."""
        try:
            yield
        except Exception:
            try:
                with self.register.transaction() as conn:
                    self._record(
                        conn,
                        released,
                        action=action,
                        purpose=purpose,
                        agency=agency,
                        decision=FAILED,
                        reasons=(DELIVERY_FAILED,),
                    )
            except Exception as exc:  # the original failure is what the caller must see
                log.warning(
                    "municipality %s: the failed %s to agency=%s (n=%d) could not be recorded: %s",
                    self.code,
                    action,
                    agency,
                    len(released),
                    type(exc).__name__,
                )
            raise

    def _insert_enrolments(
        self, conn: Connection, enrolled: Sequence[tuple[int, Decision]], agency: str, purpose: str, now: datetime
    ) -> None:
        """One row per (resident, agency, purpose); a re-enrolment updates the items the agency now holds."""
        e = st.enrolment.c
        ids = [rid for rid, _ in enrolled]
        have = set(
            conn.execute(
                sa.select(e.resident_id).where(e.agency == agency, e.purpose == purpose, e.resident_id.in_(ids))
            ).scalars()
        )
        values = [
            {
                "rid": rid,
                "agency": agency,
                "purpose": purpose,
                "enrolled_at": now,
                "decision_id": d.decision_id[:64],
                "items": ",".join(sorted(d.items)),
            }
            for rid, d in enrolled
        ]
        new = [v for v in values if v["rid"] not in have]
        if new:
            conn.execute(st.enrolment.insert().values(resident_id=sa.bindparam("rid")), new)
        old = [v for v in values if v["rid"] in have]
        if old:
            conn.execute(
                st.enrolment.update()
                .where(e.resident_id == sa.bindparam("rid"), e.agency == agency, e.purpose == purpose)
                .values(items=sa.bindparam("new_items"), decision_id=sa.bindparam("new_decision")),
                [{"rid": v["rid"], "new_items": v["items"], "new_decision": v["decision_id"]} for v in old],
            )

    # --- identity confirmation -----------------------------------------------------------------------------

    def answer_identity(self, rps: Sequence[bytes], query: IdentityQuery) -> list[IdentityAnswer]:
        """Answer for persons the locator routed here by registry pseudonym: decide, record, then answer."""
        check_domain(query.requester, field="requester")
        check_purpose(query.purpose)
        asked = frozenset(query.items) & frozenset(RELEASABLE_ITEMS)
        request = AccessRequest(
            requester=query.requester,
            requester_kind="agency",
            action="identity-confirmation",
            purpose=query.purpose,
            items=asked,
            at=self._clock(),
            from_domain=query.requester,
            to_domain=REGISTRY_DOMAIN,
            count=max(len(rps), 1),
            municipality=self.code,
        )
        decision = self.pdp.decide(request)
        found = self._by_rp(rps)
        answers: list[IdentityAnswer] = []
        released: list[tuple[int, Decision]] = []
        denied: list[tuple[int, Decision]] = []
        check = _SubjectCheck(self.pdp, decision, request)
        facts = self.facts.snapshot()
        for rp in rps:
            row = found.get(rp)
            if row is None:
                answers.append(IdentityAnswer(status="not-found"))
                continue
            d = check(facts(row.handle)) if decision.allow else decision
            if not d.allow:
                denied.append((row.id, d))
                # the request itself refused: say why, as an enrolment does; a person's own refusal: no reason
                answers.append(IdentityAnswer(status="refused", reasons=() if decision.allow else decision.reasons))
                continue
            r = self.register._from_row(row)
            status = _status(r, d.items)
            # moved away: the person's current data is at another register; only the status and date leave here
            values = item_values(r, d.items if status in ("found", "died") else d.items & {"moved"})
            if status in ("pending", "refused"):
                values = {}
            released.append((row.id, replace(d, items=frozenset(values))))
            answers.append(IdentityAnswer(status=status, items=values))
        # the records reach the public log, then are stored with their indexes: one commit (store_published)
        roots = {row.id: bytes(row.root) for row in found.values()}
        rows = self._access_rows(
            roots, released, action="identity-confirmation", purpose=query.purpose, agency=query.requester
        ) + self._access_rows(
            roots, denied, action="identity-confirmation", purpose=query.purpose, agency=query.requester, deny=True
        )
        self.register.store_published(rows)
        return answers

    def _by_rp(self, rps: Sequence[bytes]) -> dict[bytes, Any]:
        """The record of each registry pseudonym: the live one if there is one, else the latest closed one."""
        out: dict[bytes, Any] = {}
        with self.register.engine.connect() as conn:
            for batch in _batches(list(dict.fromkeys(rps)), 1000):
                rows = conn.execute(
                    self.register._select().where(st.resident.c.rp.in_(batch)).order_by(st.resident.c.id)
                ).all()
                for row in rows:
                    key = bytes(row.rp)
                    held = out.get(key)
                    if held is None or row.status in _LIVE or held.status not in _LIVE:
                        out[key] = row
        return out

    # --- cross-references ----------------------------------------------------------------------------------

    def record_cross_reference(
        self,
        rps: Sequence[bytes],
        query: CrossReferenceQuery,
        *,
        warrant_keys: Mapping[str, Ed25519PublicKey],
    ) -> list[CrossReferenceStatus]:
        """Record a cross-reference for the residents the locator routed here (the record leg of A → B under a
        warrant); returns per person whether the allowed record is in place — only those may agency B receive.

        The national decision point decides ``cross-reference`` on the warrant (checked against the watchdog's own
        register, its persons counted there), each resident's facts narrow it, and the access records — action
        ``cross-reference``, actor A, the warrant, sealed until the warrant's date — commit and reach the public
        log before this returns.  A refusal here is recorded too (the person's pseudonym did reach this register),
        sealed like the allowed record would have been, so a refusal cannot reveal a sealed investigation
        (``warrant_keys``: the watchdog's published keys, to read the warrant's seal when the decision point
        refused it).  A resident already recorded for this request (a re-run after a crash) is not recorded again:
        the earlier outcome stands, returned once every record is in the public log."""
        check_domain(query.requester, field="requester")
        check_domain(query.target, field="target")
        check_purpose(query.purpose)
        found = self._by_rp(rps)
        rows = {row.id: row for rp in rps if (row := found.get(rp)) is not None}
        done = self._cross_referenced(query.request_id, list(rows))
        if done:
            self.register.publish_pending()  # what a failed append left behind goes out before anything leaves
        new = [row for rid, row in rows.items() if rid not in done]
        if new:
            done |= self._record_cross_reference(new, query, warrant_keys)
        out: list[CrossReferenceStatus] = []
        for rp in rps:
            row = found.get(rp)
            out.append("not-found" if row is None else "recorded" if done[row.id] == "allow" else "refused")
        return out

    def _cross_referenced(self, request_id: str, resident_ids: Sequence[int]) -> dict[int, str]:
        c = st.cross_reference.c
        out: dict[int, str] = {}
        with self.register.engine.connect() as conn:
            for batch in _batches(list(resident_ids), 1000):
                for row in conn.execute(
                    sa.select(c.resident_id, c.decision).where(c.request_id == request_id, c.resident_id.in_(batch))
                ):
                    out[row.resident_id] = row.decision
        return out

    def _record_cross_reference(
        self, rows: Sequence[Any], query: CrossReferenceQuery, warrant_keys: Mapping[str, Ed25519PublicKey]
    ) -> dict[int, str]:
        request = AccessRequest(
            requester=query.requester,
            requester_kind="agency",
            action="cross-reference",
            purpose=query.purpose,
            items=frozenset(),
            at=self._clock(),
            warrant=query.warrant,
            from_domain=query.requester,
            to_domain=query.target,
            count=len(rows),
            municipality=self.code,
        )
        decision = self.pdp.decide(request)
        try:
            warrant: Warrant | None = verify_warrant(query.warrant, warrant_keys)
        except Refused:
            warrant = None
        seal = decision.sealed_until if decision.allow else warrant.sealed_until if warrant else None
        if seal is not None and seal <= self.register.today():
            seal = None  # the seal has passed: the resident may match the entry at once
        check = _SubjectCheck(self.pdp, decision, request)
        facts = self.facts.snapshot()
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        outcome: dict[int, str] = {}
        for row in rows:
            d = check(facts(row.handle)) if decision.allow else decision
            # a cross-reference releases no register item: the record says the person was linked, and with
            # which items B may answer A where the warrant's row names any
            items = (tuple(sorted(d.items)) or (LINK_ITEM,)) if d.allow else ()
            key = (d.allow, items, d.legal_basis, d.warrant or (warrant.id if warrant else None), d.reasons)
            groups[key].append(row.id)
            outcome[row.id] = "allow" if d.allow else "deny"
        now = self._clock()
        with self.register.transaction() as conn:
            for (allow, items, basis, wid, reasons), ids in groups.items():
                self.register.record_release(
                    conn,
                    ids,
                    action="cross-reference",
                    purpose=query.purpose,
                    items=items,
                    requester=query.requester,
                    legal_basis=basis[:64] if basis else None,
                    warrant=wid,
                    decision="allow" if allow else "deny",
                    reason_codes=reasons,
                    sealed_until=seal,
                )
            # the unique constraint makes a concurrent run of the same request fail here, recording nothing twice
            conn.execute(
                st.cross_reference.insert(),
                [
                    {"request_id": query.request_id, "resident_id": rid, "decision": d, "at": now}
                    for rid, d in outcome.items()
                ],
            )
        log.info(
            "municipality %s recorded a cross-reference by %s: n=%d, refused %d",
            self.code,
            query.requester,
            len(outcome),
            sum(1 for d in outcome.values() if d == "deny"),
        )
        return outcome

    # --- change notices ------------------------------------------------------------------------------------

    def deliver_notices(self, *, limit: int = 1000) -> NoticeReport:
        """Deliver pending outbox events as change notices to every enrolled agency entitled to them."""
        ev = st.event.c
        with self._outbox_lock():
            events, work, residents, moves = self._notice_work(ev.delivered_at.is_(None), limit=limit)
            if not events:
                return NoticeReport(0, 0, 0)
            failed: set[int] = set()
            sent = 0
            for (agency, purpose), items in work.items():
                try:
                    self._send_notices(agency, purpose, items, residents, moves)
                except Exception as exc:
                    failed.update(x.id for x, _ in items)
                    log.warning(
                        "municipality %s: notices to agency=%s not delivered (n=%d): %s",
                        self.code,
                        agency,
                        len(items),
                        type(exc).__name__,
                    )
                    continue
                sent += len(items)
                self._confirm_delivered(agency, [x.id for x, _ in items])
            marked = [x.id for x in events if x.id not in failed]
            self._mark_events(marked)
        return NoticeReport(events=len(marked), notices=sent, pending=len(events) - len(marked))

    def notice_feed(self, agency: str, *, after: int = 0, limit: int = 1000) -> NoticeFeedPage:
        """The change notices ``agency`` is entitled to among the outbox events after ``after`` (its cursor), as
        the agency pulls them: at-least-once (a page is handed out again until the agency moves its cursor past
        it), each notice with its network-wide id so that the agency applies it once.  The same decisions as a
        push (:meth:`deliver_notices`): the policy's for the agency's purpose, narrowed per person by the
        municipality's facts (a support measure); the access records are written before the page leaves."""
        if after < 0:
            raise InvalidInput("must not be negative", field="after")
        if not 1 <= limit <= 10_000:
            raise InvalidInput("must be between 1 and 10000", field="limit")
        events, work, residents, moves = self._notice_work(
            st.event.c.id > after, limit=limit, only=agency, skip_delivered=False
        )
        batches = [
            self._notice_batch(name, purpose, items, residents, moves) for (name, purpose), items in work.items()
        ]
        cursor = max((x.id for x in events), default=after)
        return NoticeFeedPage(batches=tuple(batches), cursor=cursor)

    def _notice_work(
        self, which: sa.ColumnElement[bool], *, limit: int, only: str | None = None, skip_delivered: bool = True
    ) -> tuple[list[Any], dict[tuple[str, str], list[tuple[Any, Decision]]], dict[int, Any], dict[int, str]]:
        """The outbox events ``which`` (oldest first) and, per (agency, purpose), the notices each entitles: the
        events, the work, the residents' rows and the move ids."""
        ev, r, e = st.event.c, st.resident.c, st.enrolment.c
        with self.register.engine.connect() as conn:
            events = conn.execute(
                sa.select(ev.id, ev.kind, ev.event_date, ev.resident_id, ev.created_at)
                .where(which)
                .order_by(ev.id)
                .limit(limit)
            ).all()
            if not events:
                return [], {}, {}, {}
            resident_ids = list({x.resident_id for x in events})
            enrolments: dict[int, list[tuple[str, str, frozenset[str], datetime]]] = defaultdict(list)
            for row in conn.execute(
                sa.select(e.resident_id, e.agency, e.purpose, e["items"], e.enrolled_at)
                .where(e.resident_id.in_(resident_ids))
                .order_by(e.id)
            ):
                held = frozenset(i for i in (row._mapping["items"] or "").split(",") if i)
                enrolments[row.resident_id].append((row.agency, row.purpose, held, _aware(row.enrolled_at)))
            residents = {
                row.id: row for row in conn.execute(self.register._select().where(r.id.in_(resident_ids))).all()
            }
            moves = self._moves(conn, [x for x in events if x.kind in (proc.MOVED_OUT, proc.MOVED_IN)], residents)
            done = (
                {
                    (row.event_id, row.agency)
                    for row in conn.execute(
                        sa.select(st.notice.c.event_id, st.notice.c.agency).where(
                            st.notice.c.event_id.in_([x.id for x in events])
                        )
                    )
                }
                if skip_delivered
                else set()
            )
        # (agency, purpose) -> [(event, decision for this person)]
        work: dict[tuple[str, str], list[tuple[Any, Decision]]] = defaultdict(list)
        decisions: dict[tuple[str, str, str, frozenset[str]], tuple[Decision, _SubjectCheck]] = {}
        facts = self.facts.snapshot()
        for x in events:
            if x.kind not in NOTICE_KINDS:
                continue
            seen: set[str] = set()
            for agency, purpose, held, enrolled_at in enrolments.get(x.resident_id, []):
                if only is not None and agency != only:
                    continue
                if agency in seen or (x.id, agency) in done:
                    seen.add(agency)
                    continue
                if _aware(x.created_at) < enrolled_at:
                    continue  # the change predates the enrolment, which carried the state after it
                # a notice updates what the agency holds: of the kind's items, only those it was enrolled with
                asked = frozenset(NOTICE_ITEMS[x.kind]) & held
                key = (agency, purpose, x.kind, asked)
                if key not in decisions:
                    req = AccessRequest(
                        requester=agency,
                        requester_kind="agency",
                        action="notice",
                        purpose=purpose,
                        items=asked,
                        at=self._clock(),
                        from_domain=REGISTRY_DOMAIN,
                        to_domain=agency,
                        municipality=self.code,
                        event=x.kind,
                    )
                    dec = self.pdp.decide(req)
                    decisions[key] = (dec, _SubjectCheck(self.pdp, dec, req))
                dec, check = decisions[key]
                if not (dec.allow and x.kind in dec.events):
                    continue  # this purpose does not entitle the agency to this notice; another one may
                seen.add(agency)
                d = check(facts(residents[x.resident_id].handle))
                if d.allow:
                    work[(agency, purpose)].append((x, d))
        return list(events), work, residents, moves

    @contextmanager
    def _outbox_lock(self) -> Iterator[None]:
        """One deliverer at a time per register on PostgreSQL (a session advisory lock): two nodes or CLI runs
        sending the same outbox would each send every notice (harmless to the agency, which keeps the first copy,
        but double the releases and their access records).  SQLite has one writer anyway."""
        if self.register.engine.dialect.name != "postgresql":
            yield
            return
        key = int.from_bytes(hashlib.sha256(f"sekisho-outbox/{self.code}".encode()).digest()[:8], "big", signed=True)
        with self.register.engine.connect() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_lock(key)))
            try:
                yield
            finally:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                conn.commit()

    def _moves(self, conn: Connection, events: Sequence[Any], residents: Mapping[int, Any]) -> dict[int, str]:
        """The move id of each moved_out / moved_in event of a hand-over: a digest of its transfer token, the same
        at the origin (the transfer it handed over) and at the destination (the token its record came with), so
        that an agency orders the two ends of one move whatever the registers' clocks (a move abroad has none)."""
        out: dict[int, str] = {}
        t = st.transfer.c
        origin = [x.resident_id for x in events if x.kind == proc.MOVED_OUT]
        tokens: dict[int, str] = {}
        for batch in _batches(origin, 1000):
            for row in conn.execute(
                sa.select(t.resident_id, t.token).where(t.resident_id.in_(batch), t.state == "handed-over")
            ):
                tokens[row.resident_id] = row.token
        for x in events:
            token = tokens.get(x.resident_id) if x.kind == proc.MOVED_OUT else residents[x.resident_id].transfer_token
            if token:
                out[x.id] = move_id(token)
        return out

    def _send_notices(
        self,
        agency: str,
        purpose: str,
        items: Sequence[tuple[Any, Decision]],
        residents: Mapping[int, Any],
        moves: Mapping[int, str],
    ) -> None:
        batch = self._notice_batch(agency, purpose, items, residents, moves)
        released = [(x.resident_id, d) for x, d in items]
        with self._failed_on_error(released, action="notice", purpose=purpose, agency=agency):
            self.network.agency(agency).receive_notices(batch)

    def _notice_batch(
        self,
        agency: str,
        purpose: str,
        items: Sequence[tuple[Any, Decision]],
        residents: Mapping[int, Any],
        moves: Mapping[int, str],
    ) -> NoticeBatch:
        """The notices of ``items`` converted to ``agency``'s domain, their access records written first."""
        grant = self.network.conversion_grant(
            requester=self.requester,
            requester_kind="municipality",
            from_domain=REGISTRY_DOMAIN,
            to_domain=agency,
            purpose=purpose,
            count=len(items),
            municipality=self.code,
        )
        notices = []
        for x, d in items:
            r = self.register._from_row(residents[x.resident_id])
            allowed = [i for i in NOTICE_ITEMS[x.kind] if i in d.items]
            notices.append(
                Notice(
                    notice_id=f"{self.code}-{x.id}",
                    kind=x.kind,
                    event_date=x.event_date,
                    items=item_values(r, allowed),
                    recorded_at=_aware(x.created_at),
                    source=self.code,
                    sequence=x.id,
                    move=moves.get(x.id),
                )
            )
        request = conversion_request(
            prepare_batch([bytes(residents[x.resident_id].pp) for x, _ in items], self.network.params.public_key),
            network=self.network.params,
            from_domain=REGISTRY_DOMAIN,
            to_domain=agency,
            purpose=purpose,
            grant=grant,
            requester=self.requester,
        )
        # as for an enrolment: recorded first; a failed conversion or hand-over is recorded too
        released = [(x.resident_id, d) for x, d in items]
        with self.register.transaction() as conn:
            self._record(conn, released, action="notice", purpose=purpose, agency=agency)
        with self._failed_on_error(released, action="notice", purpose=purpose, agency=agency):
            result = convert_batch(request, self.network.hops())
        return NoticeBatch(purpose=purpose, result=result, notices=tuple(notices))

    def _confirm_delivered(self, agency: str, event_ids: Sequence[int]) -> None:
        now = self._clock()
        with self.register.engine.begin() as conn:
            conn.execute(
                st.notice.insert(),
                [{"event_id": i, "agency": agency, "delivered_at": now} for i in dict.fromkeys(event_ids)],
            )

    def _mark_events(self, event_ids: Sequence[int]) -> None:
        if not event_ids:
            return
        with self.register.engine.begin() as conn:
            conn.execute(
                st.event.update()
                .where(st.event.c.id.in_(event_ids), st.event.c.delivered_at.is_(None))
                .values(delivered_at=self._clock())
            )

    # --- shared ------------------------------------------------------------------------------------------

    def _resident_ids(self, handles: Sequence[str] | None) -> list[int]:
        r = st.resident.c
        with self.register.engine.connect() as conn:
            if handles is None:
                return list(
                    conn.execute(sa.select(r.id).where(r.status == Status.ACTIVE.value).order_by(r.id)).scalars()
                )
            parsed = list(dict.fromkeys(parse_handle(h) for h in handles))
            rows = {
                row.handle: row
                for batch in _batches(parsed, 1000)
                for row in conn.execute(sa.select(r.id, r.handle, r.status, r.pp).where(r.handle.in_(batch)))
            }
        ids = []
        for h in parsed:
            row = rows.get(h)
            if row is None:
                raise NotFound("no resident with this handle in this register", field="handle")
            if row.status != Status.ACTIVE.value:
                raise Conflict("the record is not active", field="handle")
            ids.append(row.id)
        return ids

    def _rows(self, ids: Sequence[int]) -> list[Any]:
        with self.register.engine.connect() as conn:
            rows = conn.execute(
                self.register._select().where(st.resident.c.id.in_(ids)).order_by(st.resident.c.id)
            ).all()
        if any(row.pp is None for row in rows):
            raise Conflict(
                "a resident has no polymorphic pseudonym yet (run `sekisho registry join-network`)", field="handle"
            )
        return list(rows)

    def _access_rows(
        self,
        roots: Mapping[int, bytes],
        released: Sequence[tuple[int, Decision]],
        *,
        action: str,
        purpose: str,
        agency: str,
        deny: bool = False,
    ) -> list[dict[str, Any]]:
        """:meth:`_record`'s access records, built for ``RegisterService.store_published`` instead of written."""
        outcome = "deny" if deny else "allow"
        rows: list[dict[str, Any]] = []
        for d, ids in _by_decision(released):
            rows += self.register.release_rows(
                roots,
                ids,
                action=action,
                purpose=purpose,
                items=tuple(sorted(d.items)) if outcome == "allow" else (),
                requester=agency,
                legal_basis=d.legal_basis[:64] if d.legal_basis else None,
                warrant=d.warrant,
                decision=outcome,
                reason_codes=d.reasons,
                sealed_until=d.sealed_until,
            )
        return rows

    def _record(
        self,
        conn: Connection,
        released: Sequence[tuple[int, Decision]],
        *,
        action: str,
        purpose: str,
        agency: str,
        deny: bool = False,
        decision: str | None = None,
        reasons: Sequence[str] | None = None,
    ) -> None:
        """Access records, grouped by identical decisions (one insert per group).  ``decision`` ``failed``: the
        release these records' ``allow`` twins announced did not complete (no item, ``reasons``)."""
        outcome = decision or ("deny" if deny else "allow")
        for d, ids in _by_decision(released):
            self.register.record_release(
                conn,
                ids,
                action=action,
                purpose=purpose,
                items=tuple(sorted(d.items)) if outcome == "allow" else (),
                requester=agency,
                legal_basis=d.legal_basis[:64] if d.legal_basis else None,
                warrant=d.warrant,
                decision=outcome,
                reason_codes=d.reasons if reasons is None else tuple(reasons),
                sealed_until=d.sealed_until,
            )


def _by_decision(released: Sequence[tuple[int, Decision]]) -> list[tuple[Decision, list[int]]]:
    """The released residents grouped by identical decisions (what an access record says), in first-seen order:
    one record insert per group."""
    groups: dict[tuple[Any, ...], tuple[Decision, list[int]]] = {}
    for rid, d in released:
        key = (tuple(sorted(d.items)), d.legal_basis, d.warrant, d.reasons, d.sealed_until)
        groups.setdefault(key, (d, []))[1].append(rid)
    return list(groups.values())
