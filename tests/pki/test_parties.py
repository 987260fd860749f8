"""Certificates for the network's own parties and terminals, from the organisation CA: what they say, that the
wire layer reads them, and that a terminal is revoked on its own (CRL and OCSP)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sekisho.errors import InvalidInput
from sekisho.pki import hierarchy, issuance, profiles, status
from sekisho.pki.verify import CertificateRevoked, CrlChecker, OcspChecker
from sekisho.wire.identity import Party, Terminal, party_of, terminal_of
from sekisho.wire.refusals import NotAuthenticated
from sekisho.wire.signatures import ReceivedRequest, RequestVerifier, TerminalKey, sign_request


def _csr() -> tuple[profiles.CaKey, x509.CertificateSigningRequest]:
    key = profiles.new_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")]))
        .sign(key, hashes.SHA256())
    )
    return key, csr


def _org(pki: hierarchy.Pki) -> x509.Certificate:
    return hierarchy.ca_certificate(pki.engine, "org")


def test_a_party_certificate_names_its_role_and_answers_on_loopback(pki: hierarchy.Pki) -> None:
    _, csr = _csr()
    cert = issuance.issue_party_certificate(
        pki, party="municipality/212016", csr=csr, hosts=["node1.example.jp", "10.0.0.5"]
    )
    cert.verify_directly_issued_by(_org(pki))
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "municipality"
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "municipality/212016"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [
        "municipality-212016.sekisho.internal",
        "localhost",
        "node1.example.jp",
    ]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.0.0.5"),
    ]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert party_of(cert) == Party("municipality/212016")
    assert party_of(cert).hostname == "municipality-212016.sekisho.internal"


@pytest.mark.parametrize(("party", "hosts"), [("nobody", []), ("municipality/21201", []), ("t2", ["bad host"])])
def test_party_certificate_input_is_checked(pki: hierarchy.Pki, party: str, hosts: list[str]) -> None:
    _, csr = _csr()
    with pytest.raises(InvalidInput):
        issuance.issue_party_certificate(pki, party=party, csr=csr, hosts=hosts)


def test_a_terminal_certificate(pki: hierarchy.Pki) -> None:
    _, csr = _csr()
    now = datetime.now(UTC)
    cert = issuance.issue_terminal_certificate(pki, terminal="agency/pension/desk-1", csr=csr, days=30, now=now)
    cert.verify_directly_issued_by(_org(pki))
    assert terminal_of(cert) == Terminal("agency/pension/desk-1")
    assert terminal_of(cert).party == Party("agency/pension")
    assert cert.not_valid_after_utc == (now + timedelta(days=30)).replace(microsecond=0)
    with pytest.raises(x509.ExtensionNotFound):  # a terminal is no server
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


@pytest.mark.parametrize(
    ("terminal", "days"),
    [
        ("agency/pension", 30),
        ("agency/pension/Desk 1", 30),
        ("nobody/desk-1", 30),
        ("agency/pension/desk-1", 0),
        ("agency/pension/desk-1", 366),
        ("municipality/212016/" + "x" * 25, 30),
    ],
)
def test_terminal_certificate_input_is_checked(pki: hierarchy.Pki, terminal: str, days: int) -> None:
    _, csr = _csr()
    with pytest.raises(InvalidInput):
        issuance.issue_terminal_certificate(pki, terminal=terminal, csr=csr, days=days)


def test_a_terminal_is_revoked_on_its_own(pki: hierarchy.Pki) -> None:
    org = _org(pki)
    key, csr = _csr()
    lost = issuance.issue_terminal_certificate(pki, terminal="municipality/212016/counter-7", csr=csr)
    _, csr2 = _csr()
    kept = issuance.issue_terminal_certificate(pki, terminal="municipality/212016/counter-8", csr=csr2)
    status.revoke(
        pki.engine, serial=format(lost.serial_number, "x"), reason=x509.ReasonFlags.key_compromise, ca_id="org"
    )
    now = datetime.now(UTC)
    ocsp = OcspChecker(lambda request: status.ocsp_respond(pki, request))
    crl = CrlChecker([status.crl(pki, ca_id="org")])
    for checker in (ocsp, crl):
        with pytest.raises(CertificateRevoked):
            checker.check(lost, org, at=now, depth=0)
        checker.check(kept, org, at=now, depth=0)

    # the wire layer, handed the PKI's OCSP checker by the composition root, refuses the lost terminal's requests
    verifier = RequestVerifier(trust=[org], revocation=ocsp)
    request = httpx.Request("POST", "https://127.0.0.1:8471/lookup", content=b"{}")
    sign_request(request, TerminalKey(key=key, certificate=lost))
    received = ReceivedRequest.of(method="POST", url=str(request.url), headers=list(request.headers.items()))
    with pytest.raises(NotAuthenticated) as refused:
        verifier.verify(received, body=b"{}", caller=Party("municipality/212016"))
    assert refused.value.reason == "certificate-revoked"
    assert refused.value.terminal == "municipality/212016/counter-7"
