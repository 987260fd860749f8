"""Relying-party validation through the bridge: success across prefectures, and one distinct error per failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sekisho.pki import hierarchy, profiles, status
from sekisho.pki.oids import Purpose, prefecture_policy
from sekisho.pki.verify import (
    CertificateExpired,
    CertificateRevoked,
    CrlChecker,
    OcspChecker,
    RelyingParty,
    RevocationUnknown,
    UntrustedCertificate,
    WrongKeyUsage,
    WrongPolicy,
)

from .conftest import NewCitizen


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize(
    ("home_pref", "trust"), [("472018", "13"), ("131016", "01"), ("011002", "47"), ("271004", "27")]
)
def test_a_relying_party_of_one_prefecture_accepts_any_citizen(
    pki: hierarchy.Pki, new_citizen: NewCitizen, home_pref: str, trust: str
) -> None:
    citizen = new_citizen(home_pref)
    rp = status.relying_party(pki, trust=trust)
    auth = rp.verify(citizen.auth, purpose=Purpose.AUTHENTICATION)
    sign = rp.verify(citizen.sign, purpose=Purpose.SIGNATURE)
    assert auth.leaf_policy == prefecture_policy(home_pref[:2], Purpose.AUTHENTICATION).dotted_string
    assert sign.leaf_policy == prefecture_policy(home_pref[:2], Purpose.SIGNATURE).dotted_string
    # leaf, (bridge -> home prefecture), (trusted prefecture -> bridge), trusted root; or leaf, root at home
    assert len(auth.chain) == (2 if home_pref[:2] == trust else 4)
    assert auth.chain[-1] == hierarchy.root(pki.engine, trust)


def test_expired(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen(now=_now() - timedelta(days=400), validity=timedelta(days=365))
    with pytest.raises(CertificateExpired) as err:
        status.relying_party(pki, trust="13").verify(citizen.auth, purpose=Purpose.AUTHENTICATION)
    assert err.value.kind == "certificate-expired"


@pytest.mark.parametrize(
    ("event", "reason"),
    [("died", x509.ReasonFlags.cessation_of_operation), ("card_lost", x509.ReasonFlags.key_compromise)],
)
def test_revoked_with_reason(pki: hierarchy.Pki, new_citizen: NewCitizen, event: str, reason: x509.ReasonFlags) -> None:
    citizen = new_citizen("131016")
    rp = status.relying_party(pki, trust="40")
    rp.verify(citizen.auth, purpose=Purpose.AUTHENTICATION)
    at = _now().replace(microsecond=0) - timedelta(seconds=5)
    if event == "card_lost":  # not a register event: the card is revoked by its holder's report
        status.revoke_card(pki.engine, serial=format(citizen.auth.serial_number, "x"), at=at)
    else:
        status.on_register_event(pki.engine, owner=citizen.owner, kind=event, at=at)
    for cert, purpose in ((citizen.auth, Purpose.AUTHENTICATION), (citizen.sign, Purpose.SIGNATURE)):
        with pytest.raises(CertificateRevoked) as err:
            rp.verify(cert, purpose=purpose)
        assert err.value.reason == reason
        assert err.value.revoked_at == at
        assert err.value.depth == 0
        assert reason.value in str(err.value)


def _forged(
    pki: hierarchy.Pki,
    *,
    prefecture: str,
    policy_prefecture: str,
    purpose: Purpose,
    usage: x509.KeyUsage,
    issuer_key: ec.EllipticCurvePrivateKey | None = None,
) -> x509.Certificate:
    """A certificate from a prefecture's real CA key (or another key) with a chosen policy and key usage."""
    ca_id = profiles.prefecture_ca_id(prefecture)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, profiles.new_subject_id())]))
        .issuer_name(hierarchy.root(pki.engine, prefecture).subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(prefecture_policy(policy_prefecture, purpose), None)]),
            critical=False,
        )
    )
    signer = issuer_key or pki.keyring.ca_key(ca_id)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
    )
    return builder.sign(signer, profiles.SIGNATURE_HASH)


def _usage(**on: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
            "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
        ),
        False,
    )  # fmt: skip
    flags.update(on)
    return x509.KeyUsage(**flags)


def test_wrong_policy_a_certificate_asserting_another_prefectures_policy(pki: hierarchy.Pki) -> None:
    # issued by 47's CA, but claiming 13's policy: the bridge maps into 47's domain only
    cert = _forged(
        pki,
        prefecture="47",
        policy_prefecture="13",
        purpose=Purpose.AUTHENTICATION,
        usage=_usage(digital_signature=True),
    )
    with pytest.raises(WrongPolicy) as err:
        status.relying_party(pki, trust="01").verify(cert, purpose=Purpose.AUTHENTICATION)
    assert err.value.kind == "wrong-policy"


def test_wrong_policy_an_authentication_certificate_used_to_sign(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen()
    with pytest.raises(WrongPolicy):
        status.relying_party(pki, trust="13").verify(citizen.auth, purpose=Purpose.SIGNATURE)


def test_wrong_key_usage(pki: hierarchy.Pki) -> None:
    # the signature policy, but no contentCommitment: not good for a legally binding signature
    cert = _forged(
        pki, prefecture="47", policy_prefecture="47", purpose=Purpose.SIGNATURE, usage=_usage(digital_signature=True)
    )
    with pytest.raises(WrongKeyUsage) as err:
        status.relying_party(pki, trust="13").verify(cert, purpose=Purpose.SIGNATURE)
    assert err.value.kind == "wrong-key-usage"
    # and an authentication-policy certificate with only keyAgreement
    cert = _forged(
        pki, prefecture="47", policy_prefecture="47", purpose=Purpose.AUTHENTICATION, usage=_usage(key_agreement=True)
    )
    with pytest.raises(WrongKeyUsage):
        status.relying_party(pki, trust="13").verify(cert, purpose=Purpose.AUTHENTICATION)


def test_untrusted_a_lookalike_ca(pki: hierarchy.Pki) -> None:
    impostor = ec.generate_private_key(ec.SECP256R1())
    cert = _forged(
        pki,
        prefecture="47",
        policy_prefecture="47",
        purpose=Purpose.AUTHENTICATION,
        usage=_usage(digital_signature=True),
        issuer_key=impostor,
    )
    with pytest.raises(UntrustedCertificate) as err:
        status.relying_party(pki, trust="13").verify(cert, purpose=Purpose.AUTHENTICATION)
    assert err.value.kind == "untrusted"


def test_untrusted_when_trusting_only_the_organisation_ca(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen()
    rp = RelyingParty(
        anchors=[hierarchy.ca_certificate(pki.engine, profiles.ORGANISATION)],
        intermediates=hierarchy.cross_certificates(pki.engine),
        revocation=OcspChecker(lambda req: status.ocsp_respond(pki, req)),
        anchor_policies={Purpose.AUTHENTICATION: ["1.3.6.1.4.1.32473.6.3.1"]},
    )
    with pytest.raises(UntrustedCertificate):
        rp.verify(citizen.auth, purpose=Purpose.AUTHENTICATION)


def test_the_failures_are_distinct() -> None:
    kinds = {c.kind for c in (CertificateExpired, CertificateRevoked, WrongPolicy, WrongKeyUsage, UntrustedCertificate)}
    assert len(kinds) == 5


def test_crl_checker(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen("401307")
    crls = [status.crl(pki, ca_id=c) for c in ("pref-40", "pref-13", "bridge")]
    rp = RelyingParty.for_prefecture(
        code="13",
        root=hierarchy.root(pki.engine, "13"),
        intermediates=hierarchy.cross_certificates(pki.engine),
        revocation=CrlChecker(crls),
    )
    rp.verify(citizen.sign, purpose=Purpose.SIGNATURE)
    status.on_register_event(pki.engine, owner=citizen.owner, kind="name_changed")
    rp_fresh = RelyingParty.for_prefecture(
        code="13",
        root=hierarchy.root(pki.engine, "13"),
        intermediates=hierarchy.cross_certificates(pki.engine),
        revocation=CrlChecker([status.crl(pki, ca_id=c) for c in ("pref-40", "pref-13", "bridge")]),
    )
    with pytest.raises(CertificateRevoked) as err:
        rp_fresh.verify(citizen.sign, purpose=Purpose.SIGNATURE)
    assert err.value.reason is x509.ReasonFlags.superseded
    rp_fresh.verify(citizen.auth, purpose=Purpose.AUTHENTICATION)  # a name change leaves authentication alone
    # without the bridge's CRL the cross-certificate's status is unknown: refuse rather than guess
    rp_partial = RelyingParty.for_prefecture(
        code="13",
        root=hierarchy.root(pki.engine, "13"),
        intermediates=hierarchy.cross_certificates(pki.engine),
        revocation=CrlChecker([status.crl(pki, ca_id="pref-40")]),
    )
    with pytest.raises(RevocationUnknown):
        rp_partial.verify(citizen.auth, purpose=Purpose.AUTHENTICATION)
