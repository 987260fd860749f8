"""A card issued at a municipality's counter, through the network (joining it: ``sekisho.node.pki_agency``).

A card is issued from the register, never from what someone types in:

1. the municipality enrols the resident with agency ``pki`` for ``pki.certificate`` through the ordinary release
   flow (policy decision — legal basis ∩ approved PIA ∩ request —, access record, R → pki through T1 and T2); the
   PKI receives its own pseudonym of the person and exactly the released items (the four basic items);
2. that enrolment is the card application (:func:`sekisho.pki.issuance.application`: one person, within
   ``APPLICATION_TTL``, used once, by the municipality that made it);
3. the card makes its key pairs and the prefectural CA of the municipality certifies them, bound to the PKI's
   pseudonym.  With the resident's card (a re-issue after a move or a change of name), only a new signature key
   is made and certified; the card keeps its authentication certificate.

The counter is handed the network it works through (:class:`CounterNetwork`: the composition root's in-process
wiring, ``sekisho.node.local.LocalNetwork``, today); it never looks a party up itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from sekisho.errors import InvalidInput, Refused
from sekisho.pki import hierarchy, issuance
from sekisho.pki.card import SoftwareCard
from sekisho.pki.oids import Purpose


class _Enrolled(Protocol):
    @property
    def deliveries(self) -> Sequence[str]: ...


class _Releases(Protocol):
    def enrol(self, handles: Sequence[str] | None, *, agency: str, purpose: str) -> _Enrolled: ...


class CounterNetwork(Protocol):
    """What the counter needs from the network: the PKI party, its agency side, and a municipality's releases
    (the enrolment that is the card application)."""

    def pki(self) -> hierarchy.Pki: ...

    def agency_service(self, name: str) -> issuance.Enrolments: ...

    def releases(self, code: str) -> _Releases: ...


def issue_at_counter(
    net: CounterNetwork,
    *,
    municipality: str,
    handle: str,
    auth_pin: str,
    sign_pin: str,
    card: SoftwareCard | None = None,
    card_out: Path | None = None,
) -> tuple[issuance.Issued, SoftwareCard]:
    """Enrol ``handle`` of ``municipality`` with the PKI and issue from that enrolment: a new card written to
    ``card_out``, or a new signature certificate on ``card`` (the resident's own)."""
    if (card is None) == (card_out is None):
        raise InvalidInput("give either the resident's card or a file for a new card", field="card")
    pki = net.pki()
    report = net.releases(municipality).enrol([handle], agency=hierarchy.DOMAIN, purpose=hierarchy.PURPOSE)
    if not report.deliveries:
        raise Refused("the register released nothing to the PKI for this resident", field="handle")
    app = issuance.application(
        pki, net.agency_service(hierarchy.DOMAIN), delivery_id=report.deliveries[0], municipality=municipality
    )
    app.basic_items()  # refuse now (e.g. a partial birth date), before any key is made or replaced
    if card is not None:
        subject = issuance.card_of(pki, owner=app.owner, certificate=card.certificate(Purpose.AUTHENTICATION))
        card.rekey(Purpose.SIGNATURE, pin=sign_pin)
        issued = issuance.issue_card(
            pki, app, authentication_csr=None, signature_csr=card.csr(Purpose.SIGNATURE, pin=sign_pin), card=subject
        )
        assert issued.signature is not None
        card.install(Purpose.SIGNATURE, issued.signature)
        return issued, card
    assert card_out is not None
    new = SoftwareCard.create(card_out, auth_pin=auth_pin, sign_pin=sign_pin)
    try:
        issued = issuance.issue_card(
            pki,
            app,
            authentication_csr=new.csr(Purpose.AUTHENTICATION, pin=auth_pin),
            signature_csr=new.csr(Purpose.SIGNATURE, pin=sign_pin),
        )
        assert issued.authentication is not None
        assert issued.signature is not None
        new.install(Purpose.AUTHENTICATION, issued.authentication)
        new.install(Purpose.SIGNATURE, issued.signature)
    except BaseException:
        card_out.unlink(missing_ok=True)  # no card without certificates
        raise
    return issued, new
