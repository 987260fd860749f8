"""The transcryptors' policy hook on the decision point: each of T1 and T2 decides every conversion on its own.

:class:`TranscryptorPolicy` implements :class:`~sekisho.protocols.conversion.PolicyHook`.  For each
:class:`~sekisho.protocols.conversion.ConversionRequest` it

1. refreshes, when due, its *own copies* of what the watchdog publishes — the signed PIA decisions and the signed
   revocation list — verifying each signature with the watchdog's public key before storing it (a list older than
   the one held is ignored, so a replayed list cannot un-revoke anything);
2. builds an :class:`~sekisho.protocols.access.AccessRequest` (action ``conversion``) and decides it with a
   :class:`~sekisho.policy.decision.DecisionPoint` over its own database: R → A needs a legal basis for A's
   enrolment or notices and A's approved PIA for the purpose; A → R the same for identity confirmation; A → B a
   warrant token (in ``ConversionRequest.grant``) whose signature, parties, purpose, period and revocation it
   checks itself; A → R carrying a warrant token is a cross-reference's *record leg* (the same persons, so that
   their municipalities record the cross-reference), allowed only beside an A → B request it counted under that
   warrant with as many persons, and decided as the cross-reference; once its newest revocation list has passed
   its next update, it refuses everything (fail closed);
3. counts the persons converted under a warrant in the transcryptor's grant ledger (handed to it: a
   :class:`~sekisho.protocols.conversion.GrantLedger`; retries of one request are not counted twice), records
   the decision in its own ``pol_decision``, and returns a
   :class:`~sekisho.protocols.conversion.Grant` — or raises :class:`~sekisho.errors.Refused` naming the reason codes.

T1 and T2 never consult each other or the watchdog's database: a compromised or confused transcryptor cannot make
the other one convert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sekisho.config import Home
from sekisho.errors import Conflict, Refused
from sekisho.jp.legal import LegalBasisTable, default_table
from sekisho.policy import store as st
from sekisho.policy.decision import Clock, DecisionPoint, PublishedRules
from sekisho.policy.service import CONTEXT, utcnow, verify_pia_statement
from sekisho.policy.signing import public_keys
from sekisho.protocols.access import AccessRequest, Decision
from sekisho.protocols.conversion import (
    MAX_USES,
    REGISTRY_DOMAIN,
    ConversionRequest,
    Grant,
    GrantLedger,
    batch_digest,
    paired_request_id,
)
from sekisho.protocols.statements import is_statement
from sekisho.protocols.warrants import Warrant, verify_revocation_list, verify_warrant
from sekisho.storage import open_party_db

log = logging.getLogger("sekisho.policy.hook")

#: how often a transcryptor asks the watchdog for news (a revocation reaches it within this)
DEFAULT_REFRESH = timedelta(seconds=60)


class WatchdogSource(Protocol):
    """What the watchdog publishes (in-process: ``LocalWatchdogSource``; HTTP later).  Everything is signed."""

    def pia_statements(self) -> list[str]: ...

    def revocation_list(self) -> str: ...


class _PepCounter:
    """Counts one conversion request's persons in the transcryptor's own grant-use table."""

    def __init__(self, request: ConversionRequest, issuer: str, ledger: GrantLedger) -> None:
        self.request = request
        self.issuer = issuer
        self.ledger = ledger
        self.digest = batch_digest(request)

    def grant(self, w: Warrant) -> Grant:
        return Grant(
            grant_id=w.id,
            issuer=self.issuer,
            from_domain=w.requester,
            to_domain=w.target,
            purpose=w.purpose,
            not_before=w.not_before,
            not_after=w.not_after,
            max_uses=w.persons,
            legal_basis=w.legal_basis,
        )

    def remaining(self, conn: sa.Connection, warrant: Warrant, request: AccessRequest) -> int:
        previous = self.ledger.redemption(conn, requester=self.request.requester, request_id=self.request.request_id)
        if previous is not None and previous.grant_id == warrant.id and previous.batch_digest == self.digest:
            return warrant.persons  # a retry of a request already counted: it costs nothing
        return warrant.persons - self.ledger.uses(conn, warrant.id)

    def count(self, conn: sa.Connection, warrant: Warrant, request: AccessRequest, now: datetime) -> None:
        self.ledger.redeem(conn, grant=self.grant(warrant), request=self.request, digest=self.digest, now=now)


class TranscryptorPolicy:
    """T1's or T2's policy: the decision point on its own verified copies of the watchdog's publications."""

    def __init__(
        self,
        *,
        engine: sa.Engine,
        party: str,
        source: WatchdogSource,
        ledger: GrantLedger,
        keys: Mapping[str, Ed25519PublicKey],
        table: LegalBasisTable | None = None,
        clock: Clock = utcnow,
        refresh_every: timedelta = DEFAULT_REFRESH,
    ) -> None:
        self.engine = engine
        self.party = party
        self.source = source
        self.ledger = ledger
        self.keys = dict(keys)
        self.clock = clock
        self.refresh_every = refresh_every
        self._refreshed: datetime | None = None
        self.rules = PublishedRules(keys=self.keys)
        self.decision_point = DecisionPoint(
            engine=engine,
            party=party,
            rules=self.rules,
            table=table or default_table(),
            clock=clock,
        )

    # --- copies of the watchdog's publications -------------------------------------------------------------------

    def refresh(self) -> None:
        """Fetch, verify and store the watchdog's PIA decisions and revocation list.  A source that cannot be
        reached or returns something that does not verify changes nothing here (and is logged): decisions then
        rest on the copies held, until the revocation list held goes stale."""
        now = self.clock()
        try:
            statements = self.source.pia_statements()
            revocations = self.source.revocation_list()
        except Exception:  # any transport failure: keep what we have, refuse once it is stale
            log.warning("%s could not reach the watchdog's publications", self.party)
            return
        approvals = []
        for token in statements:
            try:
                body = verify_pia_statement(token, self.keys)
            except Refused:
                log.warning("%s ignored a PIA statement that does not verify", self.party)
                continue
            if body.get("decision") == "approved":
                approvals.append((token, body))
        try:
            rl = verify_revocation_list(revocations, self.keys)
        except Refused:
            log.warning("%s ignored a revocation list that does not verify", self.party)
            rl = None
        with self.engine.begin() as conn:
            for token, body in approvals:
                self._store_approval(conn, token, body, now)
            if rl is not None:
                held = conn.execute(sa.select(sa.func.max(st.revocation_list.c.seq))).scalar()
                if held is None or rl.seq > int(held):
                    conn.execute(
                        st.revocation_list.insert().values(
                            seq=rl.seq, issued_at=rl.issued_at, next_update=rl.next_update, token=revocations
                        )
                    )
                    conn.execute(st.revoked.delete())
                    if rl.revoked:
                        conn.execute(
                            st.revoked.insert(),
                            [{"kind": r.kind, "id": r.id, "revoked_at": r.at, "reason": r.reason} for r in rl.revoked],
                        )
                elif rl.seq < int(held):
                    log.warning("%s ignored an older revocation list", self.party)
        self.rules.forget()  # the decisions' kept copies are read again
        self._refreshed = now

    def _store_approval(self, conn: sa.Connection, token: str, body: dict[str, object], now: datetime) -> None:
        pia_id = str(body["pia"])
        if conn.execute(sa.select(st.published.c.pia_id).where(st.published.c.pia_id == pia_id)).first() is None:
            decided = datetime.fromtimestamp(int(body["decided"]), tz=now.tzinfo)  # type: ignore[call-overload]
            conn.execute(
                st.published.insert().values(
                    pia_id=pia_id,
                    agency=str(body["agency"]),
                    purposes=st.codes(body["purposes"]),
                    items=st.codes(body["items"]),
                    events=st.codes(body["events"]),
                    status="approved",
                    approved_at=decided,
                    not_after=datetime.fromtimestamp(int(body["exp"]), tz=now.tzinfo),  # type: ignore[call-overload]
                    supersedes=body.get("supersedes"),
                    statement=token,
                    fetched_at=now,
                )
            )
        if body.get("supersedes"):
            conn.execute(
                st.published.update().where(st.published.c.pia_id == body["supersedes"]).values(status="superseded")
            )

    def _due(self, now: datetime) -> bool:
        return self._refreshed is None or now - self._refreshed >= self.refresh_every

    # --- PolicyHook -------------------------------------------------------------------------------------------

    def authorise(self, request: ConversionRequest) -> Grant:
        return self.authorise_recording(request, None)

    def authorise_recording(
        self, request: ConversionRequest, record: Callable[[sa.Connection, Grant], None] | None
    ) -> Grant:
        """:meth:`authorise`; ``record(conn, grant)`` (the transcryptor's journal row) runs in the transaction
        of the recorded decision (``RecordingPolicyHook``)."""
        now = self.clock()
        if self._due(now):
            self.refresh()
        if (
            request.to_domain == REGISTRY_DOMAIN
            and request.from_domain != REGISTRY_DOMAIN
            and is_statement(request.grant, "warrant")
        ):
            return self._authorise_record_leg(request, now, record)
        cross = REGISTRY_DOMAIN not in (request.from_domain, request.to_domain)
        access = AccessRequest(
            requester=request.requester,
            requester_kind="municipality" if request.from_domain == REGISTRY_DOMAIN else "agency",
            action="conversion",
            purpose=request.purpose,
            items=frozenset(),
            at=now,
            warrant=request.grant if cross else None,
            from_domain=request.from_domain,
            to_domain=request.to_domain,
            count=max(1, len(request.ciphertexts)),
        )
        issuer = next(iter(self.keys), "watchdog")
        counter = _PepCounter(request, issuer, self.ledger)

        def grant_of(decision: Decision) -> Grant:
            if cross:
                # verified once more: cheap, no state
                return replace(counter.grant(verify_warrant(request.grant, self.keys)), under_warrant=True)
            # a grant for this one request: its id is the decision's, which the access record then points to
            return Grant(
                grant_id=decision.decision_id,
                issuer=issuer,
                from_domain=request.from_domain,
                to_domain=request.to_domain,
                purpose=request.purpose,
                not_before=now,
                not_after=now + timedelta(minutes=5),
                max_uses=min(MAX_USES, max(1, len(request.ciphertexts))),
                legal_basis=decision.legal_basis or "",
            )

        granted: list[Grant] = []

        def then(conn: sa.Connection, decision: Decision) -> None:
            granted.append(grant_of(decision))
            if record is not None:
                record(conn, granted[0])

        try:
            decision = self.decision_point.decide_with(access, counter=counter, then=then)
        except sa.exc.IntegrityError:
            # the same (requester, request id) counted concurrently: one wins, the other is told so
            raise Conflict("is being redeemed by another call", field="request_id") from None
        if not decision.allow:
            raise Refused("refused: " + " ".join(decision.reasons), field="policy")
        return granted[0]

    def _authorise_record_leg(
        self, request: ConversionRequest, now: datetime, record: Callable[[sa.Connection, Grant], None] | None
    ) -> Grant:
        """The record leg of a cross-reference: A → R under the warrant of an A → B request this transcryptor
        counted, with as many persons, so that each municipality records the cross-reference for its residents.

        It is decided as the cross-reference itself (action ``cross-reference``, A → the warrant's target), on the
        same checks — signature, parties, purpose, period, revocation — and is not counted again: its persons are
        the A → B request's.  A record leg with no such request here is refused (``cross-reference-unpaired``):
        a warrant buys no conversions to the registry of its own."""
        try:
            w = verify_warrant(request.grant, self.keys)
        except Refused:
            raise Refused("refused: warrant-invalid", field="policy") from None
        paired = paired_request_id(request.request_id)
        with self.engine.connect() as conn:
            counted = (
                None if paired is None else self.ledger.redemption(conn, requester=request.requester, request_id=paired)
            )
        if counted is None or counted.grant_id != w.id or counted.batch_size != len(request.ciphertexts):
            raise Refused("refused: cross-reference-unpaired", field="policy")
        access = AccessRequest(
            requester=request.requester,
            requester_kind="agency",
            action="cross-reference",
            purpose=request.purpose,
            items=frozenset(),
            at=now,
            warrant=request.grant,
            from_domain=request.from_domain,
            to_domain=w.target,
            count=max(1, len(request.ciphertexts)),
        )
        grant = Grant(
            grant_id=w.id,
            issuer=next(iter(self.keys), "watchdog"),
            from_domain=request.from_domain,
            to_domain=REGISTRY_DOMAIN,
            purpose=request.purpose,
            not_before=w.not_before,
            not_after=w.not_after,
            max_uses=w.persons,
            legal_basis=w.legal_basis,
            under_warrant=True,
        )
        decision = self.decision_point.decide_with(
            access, counter=_PairedCounter(), then=None if record is None else (lambda conn, _d: record(conn, grant))
        )
        if not decision.allow:
            raise Refused("refused: " + " ".join(decision.reasons), field="policy")
        return grant


class _PairedCounter:
    """The record leg's counter: its persons were counted with the A → B request it belongs to."""

    def remaining(self, conn: sa.Connection, warrant: Warrant, request: AccessRequest) -> int:
        return warrant.persons

    def count(self, conn: sa.Connection, warrant: Warrant, request: AccessRequest, now: datetime) -> None:
        return None


def open_transcryptor_policy(
    home: Home,
    party: str,
    *,
    source: WatchdogSource,
    ledger: GrantLedger,
    clock: Clock = utcnow,
    refresh_every: timedelta = DEFAULT_REFRESH,
) -> TranscryptorPolicy:
    """The policy hook for T1 or T2 of ``home``: its own database (policy and pseudonym contexts), the watchdog's
    published key, the transcryptor's grant ledger (``sekisho.pseudonyms.store.Ledger``, handed by the composition
    root).  Pass it as ``policy=`` to :func:`sekisho.pseudonyms.service.open_transcryptor`."""
    engine = open_party_db(home, party, ["pseudonyms", CONTEXT])
    return TranscryptorPolicy(
        engine=engine,
        party=party,
        source=source,
        ledger=ledger,
        keys=public_keys(home),
        clock=clock,
        refresh_every=refresh_every,
    )
