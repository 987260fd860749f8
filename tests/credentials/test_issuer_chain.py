"""A credential issuer's certificate is accepted only from its own prefecture's CA: every prefectural CA is joined
to every other through the bridge, so without this check any prefecture could certify an issuer named for a town
elsewhere and every verifier would take its credentials as that town's."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sekisho.errors import Refused
from sekisho.pki import hierarchy as pki_hierarchy
from sekisho.pki import issuance as pki_issuance
from sekisho.pki import profiles, store
from sekisho.pki import status as pki_status


def _certified_by_gifu_for(pki: pki_hierarchy.Pki, municipality: str) -> list[x509.Certificate]:
    """An issuer certificate for ``municipality`` signed by 岐阜県's CA, stored as issued (so OCSP answers good)."""
    when = pki_hierarchy.utcnow()
    with pki.engine.begin() as conn:
        ca = pki_hierarchy.ca_of(conn, "pref-21")
        issuer = x509.load_der_x509_certificate(ca.cert_der)
        cert = profiles.credential_issuer_certificate(
            prefecture="21",
            municipality=municipality,
            key=ec.generate_private_key(ec.SECP256R1()).public_key(),
            issuer=issuer,
            issuer_key=pki.keyring.ca_key("pref-21"),
            endpoints=pki.endpoints(),
            now=when,
        )
        conn.execute(sa.insert(store.cert), [pki_hierarchy.cert_row("pref-21", cert, "vc-issuer", when)])
    bridge = [
        c for c in pki_hierarchy.cross_certificates(pki.engine) if c.subject == issuer.subject and c.issuer != c.subject
    ]
    return [cert, *bridge[:1]]


@pytest.mark.parametrize("trust", ["13", "21"])
def test_an_issuer_certified_by_another_prefectures_ca_is_refused(pki: pki_hierarchy.Pki, trust: str) -> None:
    forged = _certified_by_gifu_for(pki, "131016")  # 千代田区, certified by 岐阜県
    with pytest.raises(Refused, match="its own prefecture's CA") as refused:
        pki_status.CredentialChainValidator(pki, trust).validate(forged, at=pki_hierarchy.utcnow())
    assert refused.value.field == "x5c"


def test_an_issuer_certified_by_its_own_prefecture_passes(pki: pki_hierarchy.Pki) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    for name in ("212024", "21"):  # 大垣市, and 岐阜県's own issuer
        chain = pki_issuance.certify_credential_issuer(pki, municipality=name, public_key=key)
        assert pki_status.CredentialChainValidator(pki, "13").validate(chain, at=pki_hierarchy.utcnow()) == name
    same_ca = _certified_by_gifu_for(pki, "212016")  # the same path as the forged one, for a town of 岐阜県
    assert pki_status.CredentialChainValidator(pki, "13").validate(same_ca, at=pki_hierarchy.utcnow()) == "212016"
