"""The register's changes (as the PKI's notices deliver them) and lost cards drive revocation; CRLs and OCSP show
it at once.  End to end through the register: ``test_register.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient

from sekisho.config import Home
from sekisho.errors import Conflict, InvalidInput, NotFound, Refused, SekishoError
from sekisho.pki import api, hierarchy, issuance, status, store
from sekisho.pki import login as proto
from sekisho.pki.card import SoftwareCard
from sekisho.pki.oids import Purpose
from sekisho.pki.revocation import parse_reason
from sekisho.pki.verify import CertificateRevoked, OcspChecker, RevocationUnknown

from .conftest import AUTH_PIN, SIGN_PIN, NewCitizen, new_owner


def _now() -> datetime:
    return datetime.now(UTC)


def _status(pki: hierarchy.Pki, cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None = None):
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    der = status.ocsp_respond(pki, builder.build().public_bytes(Encoding.DER))
    return ocsp.load_der_ocsp_response(der)


@pytest.mark.parametrize(
    ("event", "auth_revoked", "sign_revoked", "reason", "offer"),
    [
        ("died", True, True, x509.ReasonFlags.cessation_of_operation, False),
        ("moved_out", False, True, x509.ReasonFlags.affiliation_changed, True),
        ("moved_in", False, True, x509.ReasonFlags.affiliation_changed, True),
        ("moved_within", False, True, x509.ReasonFlags.affiliation_changed, True),
        ("name_changed", False, True, x509.ReasonFlags.superseded, True),
    ],
)
def test_register_events(
    pki: hierarchy.Pki,
    new_citizen: NewCitizen,
    event: str,
    auth_revoked: bool,
    sign_revoked: bool,
    reason: x509.ReasonFlags,
    offer: bool,
) -> None:
    citizen = new_citizen("131016")
    bystander = new_citizen("131016")
    issuer = hierarchy.root(pki.engine, "13")
    outcome = status.on_register_event(pki.engine, owner=citizen.owner, kind=event)
    assert outcome.reason is reason
    assert outcome.offer_new_signature is offer
    assert len(outcome.revoked) == int(auth_revoked) + int(sign_revoked)
    for cert, revoked in ((citizen.auth, auth_revoked), (citizen.sign, sign_revoked)):
        single = _status(pki, cert, issuer)
        if revoked:
            assert single.certificate_status is ocsp.OCSPCertStatus.REVOKED
            assert single.revocation_reason is reason
        else:
            assert single.certificate_status is ocsp.OCSPCertStatus.GOOD
    for cert in (bystander.auth, bystander.sign):
        assert _status(pki, cert, issuer).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert (citizen.owner in {o["owner"] for o in status.offers(pki.engine)}) is offer
    # the same event again finds nothing left to revoke
    again = status.on_register_event(pki.engine, owner=citizen.owner, kind=event)
    assert again.revoked == ()
    assert not again.offer_new_signature


def test_a_change_recorded_before_the_certificates_data_arrived_leaves_it_alone(
    pki: hierarchy.Pki, new_citizen: NewCitizen
) -> None:
    """A notice delivered after the resident re-issued at the counter does not revoke the new certificate: its
    data (the enrolment) arrived after the register recorded the change.  Within the margin it is revoked."""
    as_of = _now() - timedelta(minutes=1)
    citizen = new_citizen("131016", data_as_of=as_of)
    early = status.on_register_event(
        pki.engine, owner=citizen.owner, kind="moved_within", recorded_at=as_of - status.CHANGE_MARGIN
    )
    assert early.revoked == ()
    close = status.on_register_event(
        pki.engine, owner=citizen.owner, kind="died", recorded_at=as_of - status.CHANGE_MARGIN / 2
    )
    assert len(close.revoked) == 2


def test_a_move_offers_a_new_signature_certificate_on_the_same_card(
    pki: hierarchy.Pki, new_citizen: NewCitizen
) -> None:
    citizen = new_citizen("131016")
    status.on_register_event(pki.engine, owner=citizen.owner, kind="moved_within")
    assert citizen.owner in {o["owner"] for o in status.offers(pki.engine)}
    old_key = citizen.card.public_key(Purpose.SIGNATURE)
    citizen.card.rekey(Purpose.SIGNATURE, pin=SIGN_PIN)
    assert citizen.card.public_key(Purpose.SIGNATURE) != old_key
    issued = issuance.issue(
        pki,
        owner=citizen.owner,
        municipality="131016",
        authentication_csr=None,
        signature_csr=citizen.card.csr(Purpose.SIGNATURE, pin=SIGN_PIN),
        items=citizen.items,
        subject_id=proto.subject_id(citizen.auth),
    )
    assert issued.authentication is None
    assert issued.signature is not None
    assert issued.subject_id == proto.subject_id(citizen.auth)  # the same card
    citizen.card.install(Purpose.SIGNATURE, issued.signature)
    status.relying_party(pki, trust="27").verify(citizen.card.certificate(Purpose.SIGNATURE), purpose=Purpose.SIGNATURE)
    status.relying_party(pki, trust="27").verify(citizen.auth, purpose=Purpose.AUTHENTICATION)
    assert citizen.owner not in {o["owner"] for o in status.offers(pki.engine)}  # taken


def test_a_card_gets_a_signature_certificate_only_for_its_own_holder(
    pki: hierarchy.Pki, new_citizen: NewCitizen
) -> None:
    alice, bob = new_citizen("131016"), new_citizen("131016")
    with pytest.raises(Refused):
        issuance.issue(
            pki,
            owner=bob.owner,
            municipality="131016",
            authentication_csr=None,
            signature_csr=alice.card.csr(Purpose.SIGNATURE, pin=SIGN_PIN),
            items=bob.items,
            subject_id=proto.subject_id(alice.auth),
        )
    with pytest.raises(Refused):
        issuance.card_of(pki, owner=bob.owner, certificate=alice.auth)
    assert issuance.card_of(pki, owner=alice.owner, certificate=alice.auth) == proto.subject_id(alice.auth)


def test_a_new_card_supersedes_the_old_one(pki: hierarchy.Pki, new_citizen: NewCitizen, tmp_path: Path) -> None:
    citizen = new_citizen("131016")
    card = SoftwareCard.create(tmp_path / "second.card", auth_pin=AUTH_PIN, sign_pin=SIGN_PIN)
    issuance.issue(
        pki,
        owner=citizen.owner,
        municipality="131016",
        authentication_csr=card.csr(Purpose.AUTHENTICATION, pin=AUTH_PIN),
        signature_csr=card.csr(Purpose.SIGNATURE, pin=SIGN_PIN),
        items=citizen.items,
    )
    issuer = hierarchy.root(pki.engine, "13")
    for cert in (citizen.auth, citizen.sign):
        single = _status(pki, cert, issuer)
        assert single.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert single.revocation_reason is x509.ReasonFlags.superseded
    with pki.engine.connect() as conn:
        rows = conn.execute(sa.select(store.cert).where(store.cert.c.owner == citizen.owner)).all()
    assert sorted((r.kind, r.revoked_at is None) for r in rows) == [
        ("authentication", False),
        ("authentication", True),
        ("signature", False),
        ("signature", True),
    ]


def test_unknown_event_and_foreign_owners_are_refused(pki: hierarchy.Pki) -> None:
    owner = new_owner()
    with pytest.raises(InvalidInput):
        status.on_register_event(pki.engine, owner=owner, kind="married")
    with pytest.raises(InvalidInput):
        status.on_register_event(pki.engine, owner=owner, kind="card_lost")  # not a register event: revoke_card
    with pytest.raises(InvalidInput):  # another domain's pseudonym is not an owner the PKI can have
        status.on_register_event(pki.engine, owner=owner.replace("sks1:pki:", "sks1:tax:"), kind="died")


def test_a_lost_card_is_revoked_whole_by_either_serial(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen("271004")
    bystander = new_citizen("271004")
    which = status.revoke_card(pki.engine, serial=format(citizen.sign.serial_number, "x"))
    assert len(which) == 2
    issuer = hierarchy.root(pki.engine, "27")
    for cert in (citizen.auth, citizen.sign):
        single = _status(pki, cert, issuer)
        assert single.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert single.revocation_reason is x509.ReasonFlags.key_compromise
    assert _status(pki, bystander.auth, issuer).certificate_status is ocsp.OCSPCertStatus.GOOD
    with pytest.raises(Conflict):
        status.revoke_card(pki.engine, serial=format(citizen.auth.serial_number, "x"))
    cross = hierarchy.cross_certificates(pki.engine)[0]
    with pytest.raises(InvalidInput):
        status.revoke_card(pki.engine, serial=format(cross.serial_number, "x"))


def test_revoke_by_serial_and_crl(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen("271004")
    before = status.crl(pki, ca_id="pref-27")
    serial = format(citizen.sign.serial_number, "x")
    which = status.revoke(pki.engine, serial=serial, reason=parse_reason("keyCompromise"))
    assert which == f"pref-27:{serial}"
    with pytest.raises(Conflict):
        status.revoke(pki.engine, serial=serial, reason=x509.ReasonFlags.key_compromise)
    with pytest.raises(NotFound):
        status.revoke(pki.engine, serial="abcdef0123", reason=x509.ReasonFlags.key_compromise)
    with pytest.raises(InvalidInput):
        status.revoke(pki.engine, serial="not-hex", reason=x509.ReasonFlags.key_compromise)
    after = status.crl(pki, ca_id="pref-27")
    root = hierarchy.root(pki.engine, "27")
    assert after.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    number = lambda c: c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number  # noqa: E731
    assert number(after) > number(before)
    assert after.issuer == root.subject
    entry = after.get_revoked_certificate_by_serial_number(citizen.sign.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
    assert after.get_revoked_certificate_by_serial_number(citizen.auth.serial_number) is None
    assert before.get_revoked_certificate_by_serial_number(citizen.sign.serial_number) is None


def test_parse_reason_spellings() -> None:
    for spelling in ("keyCompromise", "key_compromise", "key-compromise"):
        assert parse_reason(spelling) is x509.ReasonFlags.key_compromise
    with pytest.raises(InvalidInput):
        parse_reason("because")


def test_ocsp_responder_statuses_and_nonce(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen("472018")
    issuer = hierarchy.root(pki.engine, "47")
    response = _status(pki, citizen.auth, issuer, nonce=b"0123456789abcdef")
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"
    # signed by the delegated responder, which the CA issued for OCSP signing
    (responder,) = response.certificates
    responder.verify_directly_issued_by(issuer)
    assert (
        x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING
        in responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    key = responder.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    # a serial this CA never issued: unknown
    fake = (
        x509.CertificateBuilder()
        .subject_name(citizen.auth.subject)
        .issuer_name(issuer.subject)
        .public_key(citizen.auth.public_key())
        .serial_number(12345)
        .not_valid_before(_now())
        .not_valid_after(_now() + timedelta(days=1))
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    assert _status(pki, fake, issuer).certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    # an issuer this responder does not serve, and garbage
    stranger = ec.generate_private_key(ec.SECP256R1())
    stranger_cert = (
        x509.CertificateBuilder()
        .subject_name(issuer.subject)
        .issuer_name(issuer.subject)
        .public_key(stranger.public_key())
        .serial_number(1)
        .not_valid_before(_now())
        .not_valid_after(_now() + timedelta(days=1))
        .sign(stranger, hashes.SHA256())
    )
    assert _statusless(pki, citizen.auth, stranger_cert) is ocsp.OCSPResponseStatus.UNAUTHORIZED
    bad = ocsp.load_der_ocsp_response(status.ocsp_respond(pki, b"\x30\x03\x02\x01\x00"))
    assert bad.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def _statusless(pki: hierarchy.Pki, cert: x509.Certificate, issuer: x509.Certificate) -> ocsp.OCSPResponseStatus:
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build()
    return ocsp.load_der_ocsp_response(status.ocsp_respond(pki, req.public_bytes(Encoding.DER))).response_status


def _der(tag: int, body: bytes) -> bytes:
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8 or 1, "big")
    return bytes([tag]) + (size if len(body) < 0x80 else bytes([0x80 | len(size)]) + size) + body


def _ocsp_request(
    issuer: x509.Certificate, *, serial: int, hash_oid: bytes, cert_ids: int = 1, extensions: tuple[bytes, ...] = ()
) -> bytes:
    """An RFC 6960 §4.1.1 OCSPRequest built by hand, for the shapes cryptography's builder refuses to make."""
    name_hash = hashes.Hash(hashes.SHA256())
    name_hash.update(issuer.subject.public_bytes())
    key_hash = hashes.Hash(hashes.SHA256())
    key_hash.update(issuer.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))
    cert_id = _der(
        0x30,
        _der(0x30, _der(0x06, hash_oid))
        + _der(0x04, name_hash.finalize())
        + _der(0x04, key_hash.finalize())
        + _der(0x02, serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)),
    )
    tbs = _der(0x30, _der(0x30, cert_id) * cert_ids)
    if extensions:
        tbs += _der(0xA2, _der(0x30, b"".join(extensions)))
    return _der(0x30, _der(0x30, tbs))


def test_ocsp_malformed_requests_are_answered_malformed_not_a_server_error(pki: hierarchy.Pki) -> None:
    """Found by schemathesis: requests that load but fail when a field is read (an unknown hash OID, a repeated
    extension), several CertIDs, or a negative serial made the responder fail with HTTP 500."""
    issuer = hierarchy.root(pki.engine, "13")
    sha256 = bytes.fromhex("608648016503040201")
    nonce = _der(0x30, _der(0x06, bytes.fromhex("2b0601050507300102")) + _der(0x04, _der(0x04, b"0123456789")))
    well_formed = status.ocsp_respond(pki, _ocsp_request(issuer, serial=5, hash_oid=sha256, extensions=(nonce,)))
    assert ocsp.load_der_ocsp_response(well_formed).response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    malformed = {
        "unknown hash": _ocsp_request(issuer, serial=5, hash_oid=bytes.fromhex("2a0304")),
        "two CertIDs": _ocsp_request(issuer, serial=5, hash_oid=sha256, cert_ids=2),
        "repeated nonce": _ocsp_request(issuer, serial=5, hash_oid=sha256, extensions=(nonce, nonce)),
        "negative serial": _ocsp_request(issuer, serial=-5, hash_oid=sha256),
    }
    app = api.create_app(pki, audience="test-portal", trust="13")
    with TestClient(app) as client:
        for what, der in malformed.items():
            r = client.post("/pki/ocsp", content=der, headers={"Content-Type": "application/ocsp-request"})
            assert r.status_code == 200, what
            answer = ocsp.load_der_ocsp_response(r.content).response_status
            assert answer is ocsp.OCSPResponseStatus.MALFORMED_REQUEST, what


def test_ocsp_checker_rejects_a_response_signed_by_someone_else(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen("131016")
    issuer = hierarchy.root(pki.engine, "13")
    other_ca = hierarchy.root(pki.engine, "27")
    checker = OcspChecker(lambda req: status.ocsp_respond(pki, req))
    checker.check(citizen.auth, issuer, at=_now(), depth=0)

    def replay_other(req: bytes) -> bytes:  # answers every question with 27's responder signing "good"
        request = ocsp.load_der_ocsp_request(req)
        resp = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash,
                issuer_key_hash=request.issuer_key_hash,
                serial_number=request.serial_number,
                algorithm=request.hash_algorithm,
                cert_status=ocsp.OCSPCertStatus.GOOD,
                this_update=_now(),
                next_update=_now() + timedelta(minutes=5),
                revocation_time=None,
                revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, other_ca)
            .add_extension(request.extensions.get_extension_for_class(x509.OCSPNonce).value, critical=False)
            .sign(pki.keyring.ca_key("pref-27"), hashes.SHA256())
        )
        return resp.public_bytes(Encoding.DER)

    with pytest.raises(RevocationUnknown):
        OcspChecker(replay_other).check(citizen.auth, issuer, at=_now(), depth=0)
    status.on_register_event(pki.engine, owner=citizen.owner, kind="died")
    with pytest.raises(CertificateRevoked):
        checker.check(citizen.auth, issuer, at=_now(), depth=0)


def test_ocsp_get_whose_base64_ends_in_a_slash(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    """RFC 6960 A.1 GET: "/" is a base64 character, also the last one (it once was stripped as a separator)."""
    import base64
    from urllib.parse import quote

    citizen = new_citizen("131016")
    issuer = hierarchy.root(pki.engine, "13")
    for i in range(10_000):
        builder = ocsp.OCSPRequestBuilder().add_certificate(citizen.auth, issuer, hashes.SHA1())
        nonce = i.to_bytes(16 + i % 3, "big")  # every length modulo 3: one of them needs no padding
        der = builder.add_extension(x509.OCSPNonce(nonce), critical=False).build()
        encoded = base64.b64encode(der.public_bytes(Encoding.DER)).decode()
        if encoded.endswith("/"):
            break
    else:
        pytest.fail("no request found whose base64 ends in a slash")
    app = api.create_app(pki, audience="test-portal", trust="13")
    with TestClient(app) as client:
        r = client.get(f"/pki/ocsp/{quote(encoded, safe='')}")
    assert ocsp.load_der_ocsp_response(r.content).certificate_status is ocsp.OCSPCertStatus.GOOD


def test_http_api_crl_ca_chain_and_problems(pki: hierarchy.Pki) -> None:
    app = api.create_app(pki, audience="test-portal", trust="13")
    with TestClient(app) as client:
        r = client.get("/pki/crl/pref-13.crl")
        assert r.headers["content-type"] == "application/pkix-crl"
        x509.load_der_x509_crl(r.content)
        r = client.get("/pki/crl/bridge.crl")
        assert x509.load_der_x509_crl(r.content).issuer.rfc4514_string() == "CN=Sekisho Bridge CA,O=Sekisho,C=JP"
        assert x509.load_der_x509_certificate(client.get("/pki/ca/pref-01.crt").content)
        r = client.get("/pki/crl/pref-99.crl")
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"] == "urn:sekisho:problem:not-found"
        chain = x509.load_pem_x509_certificates(client.get("/pki/chain.pem", params={"for": "13"}).content)
        assert len(chain) == 48
        r = client.post("/pki/ocsp", content=b"junk", headers={"Content-Type": "application/ocsp-request"})
        assert ocsp.load_der_ocsp_response(r.content).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_openapi_documents_the_media_types_sent(pki: hierarchy.Pki) -> None:
    """Found by schemathesis: OCSP responses, CRLs, certificates and the PEM chain were documented as JSON."""
    paths = api.create_app(pki, audience="test-portal", trust="13").openapi()["paths"]
    for path, method, media_type in [
        ("/pki/ocsp", "post", "application/ocsp-response"),
        ("/pki/ocsp/{encoded}", "get", "application/ocsp-response"),
        ("/pki/crl/{name}", "get", "application/pkix-crl"),
        ("/pki/ca/{name}", "get", "application/pkix-cert"),
        ("/pki/chain.pem", "get", "application/pem-certificate-chain"),
    ]:
        assert list(paths[path][method]["responses"]["200"]["content"]) == [media_type]


def test_ca_names_outside_the_closed_set_are_not_looked_up(pki: hierarchy.Pki) -> None:
    """Found fuzzing on PostgreSQL: a NUL in /pki/crl/<ca>.crl or /pki/ca/<ca>.crt reached the CA lookup, which
    PostgreSQL refuses with an error (HTTP 500); only pref-01..pref-47, bridge and org are looked up."""
    with TestClient(api.create_app(pki, audience="test-portal", trust="13")) as client:
        for url in ("/pki/crl/pref%0013.crl", "/pki/ca/pref-13%00.crt", "/pki/ca/pref-48.crt"):
            r = client.get(url)
            assert r.status_code == 404, url
            assert r.json()["field"] == "ca"
        assert client.get("/pki/ca/org.crt").status_code == 200
    with pytest.raises(NotFound):
        hierarchy.ca_certificate(pki.engine, "bridge\x00")


def test_init_is_idempotent_and_keys_are_encrypted(home: Home) -> None:
    first = hierarchy.init(home, base_url="http://127.0.0.1:9999")
    roots = hierarchy.roots(first.engine)
    second = hierarchy.init(home)
    assert hierarchy.roots(second.engine) == roots
    keys = sorted(first.keyring.directory.glob("*.pem"))
    assert len(keys) == 2 * 49  # 47 prefectures + bridge + organisation, each with its OCSP responder
    for path in keys:
        text = path.read_text()
        assert "ENCRYPTED PRIVATE KEY" in text
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    wrong = hierarchy.Pki.open(home, secret=lambda: b"wrong passphrase")
    with pytest.raises(SekishoError) as err:
        wrong.keyring.ca_key("pref-13")
    assert err.value.field == "passphrase"
    cross = hierarchy.cross_certificates(first.engine)
    dp = cross[0].extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert dp[0].full_name[0].value.startswith("http://127.0.0.1:9999/pki/crl/")


def test_issue_refuses_bad_requests(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen()
    owner = new_owner()
    with pytest.raises(InvalidInput):
        issuance.issue(pki, owner=owner, municipality="131016", authentication_csr=None, signature_csr=None, items=None)
    with pytest.raises(InvalidInput) as err:
        issuance.issue(
            pki,
            owner=owner,
            municipality="131016",
            authentication_csr=None,
            signature_csr=citizen.card.csr(Purpose.SIGNATURE, pin=SIGN_PIN),
            items=None,
        )
    assert err.value.field == "items"
    with pytest.raises(InvalidInput):
        issuance.issue(
            pki,
            owner=owner,
            municipality="1310",
            authentication_csr=citizen.card.csr(Purpose.AUTHENTICATION, pin=AUTH_PIN),
            signature_csr=None,
            items=None,
        )
    with pytest.raises(InvalidInput):  # the owner is a pseudonym of the PKI's domain, nothing else
        issuance.issue(
            pki,
            owner="7KQ2-X9MB-T3Y",
            municipality="131016",
            authentication_csr=citizen.card.csr(Purpose.AUTHENTICATION, pin=AUTH_PIN),
            signature_csr=None,
            items=None,
        )
