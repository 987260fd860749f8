"""Cross-referencing under a warrant (design flow 6): agency A links its persons to agency B's pseudonyms.

Agency A holds a warrant the watchdog signed (A, B, purpose, legal-basis row, a count of persons, an expiry, maybe a
*sealed until* date).  :func:`run_cross_reference` runs the flow on A's behalf:

1. **A → B** — A encrypts its own pseudonyms ``s_A·P`` under Y; T1 and T2 each check the warrant on their own and
   count the persons against its cap (a refusal converts nothing: no record, nothing for B); the result
   ``Enc_{Y_B}(s_B·P)`` comes back to A, which holds no key to it, and is *kept*, not handed over.
2. **the record leg, A → R** — the same ciphertexts, re-randomised, go through T1 and T2 to the registry under the
   same warrant (each transcryptor serves it only beside the A → B request it counted, with as many persons, and
   counts nothing more); the locator routes each person to the municipality holding them, which decides
   (``cross-reference``: the national decision point checks the warrant against the watchdog's register and
   counts there), writes the per-resident access record — actor A, the warrant, sealed until its date — and
   commits; the records reach the public log before it answers, per person: recorded, refused or not found.
3. **hand-over** — only then does B receive its ciphertexts, and only those of persons whose allowed record is in
   place; B decrypts to its own pseudonyms and keeps them by A's request and position (B's system answers A out of
   band; Sekisho moves none of B's data).

A failure anywhere before the municipalities' records commit hands B nothing.  Every step is kept in A's tables
(``agy_xref_out``, ``agy_xref_hop``) before the next one starts, so a re-run with the same warrant, B, purpose and
pseudonyms resumes the unfinished request: the transcryptors see the same bytes and count nothing twice, the
municipalities record nobody twice, B stores nobody twice.

Who learns what: T1 and T2 see ciphertexts and request metadata; the locator ``s_R·P`` and the holders, as for an
identity confirmation; A only ciphertexts under B's and the registry's keys, and per position whether the person
was recorded; B its own pseudonyms of the persons, by position; each municipality that its resident was
cross-referenced (which it records).  Nobody else learns who was linked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sekisho.agency.service import AgencyService, check_agency_name, cross_reference_digest, party_of
from sekisho.errors import IntegrityError, InvalidInput, Refused
from sekisho.pep.encoding import decode_pseudonym
from sekisho.pep.flows import checked_relay, conversion_request, encrypt_pseudonyms, prepare_batch
from sekisho.pep.keys import TRANSCRYPTORS, NetworkParams
from sekisho.protocols.agency import (
    CrossReferenceDelivery,
    CrossReferenceQuery,
    CrossReferenceReceiver,
    CrossReferenceStatus,
    LocatorRoute,
)
from sekisho.protocols.conversion import (
    REGISTRY_DOMAIN,
    ConversionRequest,
    HopResult,
    Hops,
    check_purpose,
    record_leg_id,
)
from sekisho.protocols.warrants import Warrant, verify_warrant

log = logging.getLogger("sekisho.agency.crossref")


@dataclass(frozen=True, slots=True)
class CrossReferenceReport:
    """Counts only: how many persons A asked about, what the municipalities recorded, what B received."""

    request_id: str
    warrant: str | None
    persons: int
    recorded: int
    refused: int
    not_found: int
    #: persons B stored on this run (a re-run after B had them: 0)
    delivered: int
    #: the residents see the cross-reference from this date (the watchdog at once); None: at once
    sealed_until: date | None
    #: this run resumed an unfinished request of the same warrant, B, purpose and pseudonyms
    resumed: bool


class CrossReferenceNetwork(Protocol):
    """What a cross-reference needs from the network (``sekisho.node.local``)."""

    @property
    def params(self) -> NetworkParams: ...

    def hops(self) -> Hops: ...

    def warrant_keys(self) -> Mapping[str, Ed25519PublicKey]: ...

    def locator_route(self) -> LocatorRoute: ...

    def cross_reference_receiver(self, name: str) -> CrossReferenceReceiver: ...


def run_cross_reference(
    network: CrossReferenceNetwork,
    agency: AgencyService,
    *,
    to_agency: str,
    warrant: str,
    pseudonyms: Sequence[str],
    purpose: str,
) -> CrossReferenceReport:
    """Cross-reference A's persons (``pseudonyms``, A's text form) to agency ``to_agency`` under ``warrant`` (the
    watchdog-signed token).  Raises :class:`~sekisho.errors.Refused` when a transcryptor refuses (nothing reaches B
    and no resident's record is written); see the module docstring for the steps."""
    a = agency.name
    check_agency_name(to_agency)
    if to_agency == a:
        raise InvalidInput("must name another agency", field="to")
    check_purpose(purpose)
    if not pseudonyms:
        raise InvalidInput("names no pseudonym", field="pseudonym")
    if not isinstance(warrant, str) or not 0 < len(warrant) <= 4096:
        raise InvalidInput("must be a warrant token", field="warrant")
    values = [decode_pseudonym(t, domain=a)[1] for t in pseudonyms]
    w = _read_warrant(warrant, network.warrant_keys())
    wid = w.id if w is not None else None
    params = network.params
    digest = cross_reference_digest(values, warrant=wid, target=to_agency, purpose=purpose)
    xref, resumed = agency.open_cross_reference(
        digest=digest,
        warrant=wid,
        target=to_agency,
        purpose=purpose,
        batch=lambda: encrypt_pseudonyms(values, params.public_key),
    )
    rid = xref.request_id
    hops = network.hops()

    # 1. A → B: each transcryptor checks the warrant and counts; the result stays with A (kept hop by hop)
    request = ConversionRequest(
        request_id=rid,
        requester=party_of(a),
        from_domain=a,
        to_domain=to_agency,
        purpose=purpose,
        grant=warrant,
        ciphertexts=xref.batch,
        key=params.public_key.to_bytes(),
    )
    try:
        result = _convert_kept(agency, request, hops, xref.hops)
    except Refused:
        agency.finish_cross_reference(rid, state="refused")
        log.info("cross-reference request_id=%s by %s to %s refused by a transcryptor", rid, a, to_agency)
        raise
    if xref.state == "converting":
        agency.cross_reference_converted(rid)

    # 2. the record leg: the same persons A → R under the same warrant; each municipality records and commits
    statuses = xref.statuses
    if statuses is None:
        record = conversion_request(
            prepare_batch(xref.batch, params.public_key),
            network=params,
            from_domain=a,
            to_domain=REGISTRY_DOMAIN,
            purpose=purpose,
            grant=warrant,
            requester=party_of(a),
            request_id=record_leg_id(rid),
        )
        query = CrossReferenceQuery(request_id=rid, requester=a, target=to_agency, purpose=purpose, warrant=warrant)
        try:
            # through T1 and T2 to the locator, which routes each person to their municipality
            statuses = tuple(network.locator_route().cross_reference(record, query))
        except Refused:
            # e.g. the warrant was revoked or expired since the A → B leg: B's result is never handed over
            agency.finish_cross_reference(rid, state="refused")
            log.info("cross-reference request_id=%s: the record leg was refused; nothing handed over", rid)
            raise
        if len(statuses) != len(values):
            raise IntegrityError("the locator answered for another number of persons", field="statuses")
        agency.cross_reference_recorded(rid, statuses)

    # 3. only now, and only the persons whose allowed record is in place, to B
    positions = tuple(i for i, s in enumerate(statuses) if s == "recorded")
    delivered = 0
    if positions:
        delivered = network.cross_reference_receiver(to_agency).receive_cross_reference(
            CrossReferenceDelivery(
                request_id=rid,
                requester=a,
                purpose=purpose,
                warrant=wid or "",
                positions=positions,
                result=replace(result, ciphertexts=tuple(result.ciphertexts[i] for i in positions)),
            )
        )
    agency.finish_cross_reference(rid, state="delivered", delivered=len(positions))
    report = CrossReferenceReport(
        request_id=rid,
        warrant=wid,
        persons=len(values),
        recorded=_count(statuses, "recorded"),
        refused=_count(statuses, "refused"),
        not_found=_count(statuses, "not-found"),
        delivered=delivered,
        sealed_until=w.sealed_until if w is not None else None,
        resumed=resumed,
    )
    log.info(
        "cross-reference request_id=%s by %s to %s: n=%d recorded=%d refused=%d not-found=%d delivered=%d",
        rid,
        a,
        to_agency,
        report.persons,
        report.recorded,
        report.refused,
        report.not_found,
        report.delivered,
    )
    return report


def _convert_kept(
    agency: AgencyService, request: ConversionRequest, hops: Hops, kept: Sequence[HopResult]
) -> HopResult:
    """``convert_batch``, keeping each transcryptor's output in A's tables before the next hop: a re-run sends
    each transcryptor the bytes it saw before (a retry, counted once) and skips the hops already done.  Through a
    relay only the last transcryptor's output comes back: it is kept as that hop's, and a re-run that has it
    skips the conversion (one without it sends T1 the same bytes again)."""
    last = TRANSCRYPTORS[-1]
    done = [k for k in kept if k.party == last]
    if done:
        return done[0]
    if not isinstance(hops, Sequence):
        relayed = checked_relay(request, hops.relay(request))
        agency.save_cross_reference_hop(request.request_id, TRANSCRYPTORS.index(last), relayed)
        return relayed
    if len(hops) != len(TRANSCRYPTORS):
        raise InvalidInput("a conversion passes through both transcryptors", field="hops")
    result: HopResult | None = None
    parties: set[str] = set()
    for i, hop in enumerate(hops):
        if i < len(kept):
            result = kept[i]
        else:
            if result is not None:
                request = replace(request, ciphertexts=result.ciphertexts, key=result.key)
            result = hop.convert(request)
            agency.save_cross_reference_hop(request.request_id, i, result)
        parties.add(result.party)
    if result is None or parties != set(TRANSCRYPTORS):
        raise IntegrityError("a conversion must pass through T1 and T2, once each", field="hops")
    return result


def _read_warrant(token: str, keys: Mapping[str, Ed25519PublicKey]) -> Warrant | None:
    """A's reading of its warrant (for its own bookkeeping: the id, the seal).  One that does not verify is still
    sent: the transcryptors refuse it, and journal the refusal."""
    try:
        return verify_warrant(token, keys)
    except Refused:
        return None


def _count(statuses: Sequence[CrossReferenceStatus], status: CrossReferenceStatus) -> int:
    return sum(1 for s in statuses if s == status)
