"""The PKI's dealings through the network: joining it as an agency, and a card issued at a municipality's counter.

A card is issued from the register, never from what someone types in:

1. the municipality enrols the resident with agency ``pki`` for ``pki.certificate`` through the ordinary release
   flow (policy decision — legal basis ∩ approved PIA ∩ request —, access record, R → pki through T1 and T2); the
   PKI receives its own pseudonym of the person and exactly the released items (the four basic items);
2. that enrolment is the card application (:func:`sekisho.pki.issuance.application`: one person, within
   ``APPLICATION_TTL``, used once, by the municipality that made it);
3. the card makes its key pairs and the prefectural CA of the municipality certifies them, bound to the PKI's
   pseudonym.  With the resident's card (a re-issue after a move or a change of name), only a new signature key
   is made and certified; the card keeps its authentication certificate.

In production the counter's terminal speaks to the municipality and to the PKI over authenticated channels; here
both are reached in-process through :class:`~sekisho.network.local.LocalNetwork`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sekisho.errors import InvalidInput, Refused
from sekisho.pki import hierarchy, issuance, membership
from sekisho.pki.card import SoftwareCard
from sekisho.pki.oids import Purpose
from sekisho.pseudonyms.keyfile import DEFAULT_N

if TYPE_CHECKING:
    from sekisho.network.local import LocalNetwork


def join(net: LocalNetwork, *, passphrase: bytes, scrypt_n: int = DEFAULT_N) -> bool:
    """The PKI's pseudonym domain, from T1's and T2's key shares (which go to the ``pki`` party alone).
    Idempotent; returns whether it was set up now."""
    return membership.join_network(
        net.pki(), net.home, shares=net.key_shares(hierarchy.DOMAIN), passphrase=passphrase, scrypt_n=scrypt_n
    )


def issue_at_counter(
    net: LocalNetwork,
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
