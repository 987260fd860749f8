"""The card keeps its keys; the login proves a valid card and reveals only a random identifier."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from fastapi.testclient import TestClient

from sekisho.errors import Refused
from sekisho.pki import api, hierarchy, sessions, status
from sekisho.pki import login as proto
from sekisho.pki.card import Card, SoftwareCard
from sekisho.pki.oids import Purpose
from sekisho.pki.verify import CertificateRevoked

from .conftest import AUTH_PIN, ITEMS, SIGN_PIN, NewCitizen

AUDIENCE = "https://portal.sekisho.test"


def test_the_private_key_never_leaves_the_card(new_citizen: NewCitizen) -> None:
    citizen = new_citizen()
    card = citizen.card
    # no public method hands out a key: every one returns a public key, a CSR, a certificate, a signature or nothing
    for name, member in inspect.getmembers(SoftwareCard, inspect.isfunction):
        if name.startswith("_"):
            continue
        returns = inspect.signature(member).return_annotation
        assert "Private" not in str(returns), name
        assert returns in ("None", "bytes", "SoftwareCard") or "Public" in str(returns) or "x509" in str(returns), name
    for name in dir(Card):
        assert "private" not in name.lower()
        assert "export" not in name.lower()
    # the file holds each key only as an encrypted PKCS#12: unreadable without its PIN, and no plain key anywhere
    doc = json.loads(Path(card._path).read_text())
    assert "PRIVATE KEY" not in json.dumps(doc)
    import base64

    for slot, pin in ((Purpose.AUTHENTICATION, AUTH_PIN), (Purpose.SIGNATURE, SIGN_PIN)):
        blob = base64.b64decode(doc["slots"][slot.value]["pkcs12"])
        with pytest.raises(ValueError):
            pkcs12.load_key_and_certificates(blob, None)
        with pytest.raises(ValueError):
            pkcs12.load_key_and_certificates(blob, b"0000")
        with pytest.raises(ValueError):
            serialization.load_der_private_key(blob, None)
        key, _, _ = pkcs12.load_key_and_certificates(blob, pin.encode())  # the holder, with the PIN, can
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.public_key() == card.certificate(slot).public_key()
    assert oct(Path(card._path).stat().st_mode & 0o777) == "0o600"
    with pytest.raises(Refused):
        card.sign(Purpose.AUTHENTICATION, b"x", pin="9999")
    # and the two slots have separate PINs
    with pytest.raises(Refused):
        card.sign(Purpose.SIGNATURE, b"x", pin=AUTH_PIN)


def test_a_card_survives_reopening(new_citizen: NewCitizen) -> None:
    citizen = new_citizen()
    again = SoftwareCard.open(Path(citizen.card._path))
    assert again.certificate(Purpose.AUTHENTICATION) == citizen.auth
    sig = again.sign(Purpose.SIGNATURE, b"document", pin=SIGN_PIN)
    pub = citizen.sign.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(sig, b"document", ec.ECDSA(hashes.SHA256()))


def _login(
    pki: hierarchy.Pki, card: SoftwareCard, *, audience: str = AUDIENCE, now: datetime | None = None
) -> sessions.Session:
    challenge = sessions.login_challenge(pki.engine, audience=audience, now=now)
    return sessions.login_finish(
        pki,
        response=proto.answer(challenge, card, pin=AUTH_PIN),
        audience=AUDIENCE,
        verifier=status.relying_party(pki, trust="13"),
    )


def test_login_with_a_good_card(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen("472018")  # a citizen of Okinawa logs in to a service that trusts Tokyo's root
    session = _login(pki, citizen.card)
    assert sessions.check_session(pki, session.token, audience=AUDIENCE) == session.subject_id
    assert session.subject_id == proto.subject_id(citizen.auth)
    # the token names the random identifier only
    import base64

    payload = json.loads(base64.urlsafe_b64decode(session.token.split(".")[1] + "=="))
    assert set(payload) == {"sub", "aud", "iat", "exp"}
    for value in (ITEMS.name, ITEMS.address, citizen.owner, citizen.owner.split(":")[2], citizen.municipality):
        assert value not in session.token
        assert value not in json.dumps(payload, ensure_ascii=False)
    with pytest.raises(Refused):
        sessions.check_session(pki, session.token, audience="another-service")
    with pytest.raises(Refused):
        sessions.check_session(pki, session.token + "x", audience=AUDIENCE)


def test_login_fails_with_a_revoked_card(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen("131016")
    status.revoke_card(pki.engine, serial=format(citizen.sign.serial_number, "x"), at=datetime.now(UTC))
    with pytest.raises(CertificateRevoked):
        _login(pki, citizen.card)


def test_login_fails_with_a_replayed_nonce(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen()
    challenge = sessions.login_challenge(pki.engine, audience=AUDIENCE)
    response = proto.answer(challenge, citizen.card, pin=AUTH_PIN)
    rp = status.relying_party(pki, trust="13")
    sessions.login_finish(pki, response=response, audience=AUDIENCE, verifier=rp)
    with pytest.raises(Refused) as err:
        sessions.login_finish(pki, response=response, audience=AUDIENCE, verifier=rp)
    assert "already used" in str(err.value)


def test_login_fails_with_an_expired_challenge(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen()
    with pytest.raises(Refused) as err:
        _login(pki, citizen.card, now=datetime.now(UTC) - proto.CHALLENGE_TTL - timedelta(seconds=1))
    assert "expired" in str(err.value)


def test_login_fails_for_a_wrong_audience(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen()
    # a challenge another service obtained (e.g. a phishing site relaying) is no good here
    with pytest.raises(Refused) as err:
        _login(pki, citizen.card, audience="https://evil.example")
    assert err.value.field == "audience"
    # nor is a response whose signed audience was altered in transit
    challenge = sessions.login_challenge(pki.engine, audience=AUDIENCE)
    response = proto.answer(challenge, citizen.card, pin=AUTH_PIN)
    forged = proto.LoginResponse(
        nonce=response.nonce,
        audience="https://evil.example",
        signature=response.signature,
        certificate=response.certificate,
    )
    with pytest.raises(Refused):
        sessions.login_finish(pki, response=forged, audience=AUDIENCE, verifier=status.relying_party(pki, trust="13"))


def test_login_fails_with_a_signature_by_another_key(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen, other = new_citizen(), new_citizen()
    challenge = sessions.login_challenge(pki.engine, audience=AUDIENCE)
    mine = proto.answer(challenge, citizen.card, pin=AUTH_PIN)
    theirs = proto.answer(challenge, other.card, pin=AUTH_PIN)
    spliced = proto.LoginResponse(
        nonce=mine.nonce, audience=mine.audience, signature=theirs.signature, certificate=mine.certificate
    )
    with pytest.raises(Refused) as err:
        sessions.login_finish(pki, response=spliced, audience=AUDIENCE, verifier=status.relying_party(pki, trust="13"))
    assert err.value.field == "signature"


def test_login_over_http(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen("271004")
    with TestClient(api.create_app(pki, audience=AUDIENCE, trust="01")) as client:
        ch = client.post("/pki/login/challenge").json()
        assert ch["audience"] == AUDIENCE
        challenge = proto.Challenge(ch["nonce"], ch["audience"], datetime.fromisoformat(ch["expires_at"]))
        answer = proto.answer(challenge, citizen.card, pin=AUTH_PIN).to_json()
        ok = client.post("/pki/login/response", json=answer)
        assert ok.status_code == 200, ok.text
        assert ok.json()["subject_id"] == proto.subject_id(citizen.auth)
        replay = client.post("/pki/login/response", json=answer)
        assert replay.status_code == 403
        assert replay.headers["content-type"] == "application/problem+json"
        assert replay.json()["type"] == "urn:sekisho:problem:refused"
        bad = client.post("/pki/login/response", json={"nonce": "x"})
        assert bad.status_code == 422
        assert bad.json()["type"] == "urn:sekisho:problem:invalid-input"


def test_login_with_a_certificate_that_fails_validation_is_refused_not_a_server_error(
    pki: hierarchy.Pki, new_citizen: NewCitizen
) -> None:
    """Found fuzzing /pki/login/response: a certificate without a path to a trusted root, or a revoked card, made
    the response HTTP 500 (path validation errors were integrity errors); the login is refused instead."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed")])
    self_signed = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    revoked = new_citizen("131016")
    status.revoke_card(pki.engine, serial=format(revoked.sign.serial_number, "x"), at=now)
    with TestClient(api.create_app(pki, audience=AUDIENCE, trust="13")) as client:

        def challenge() -> proto.Challenge:
            ch = client.post("/pki/login/challenge").json()
            return proto.Challenge(ch["nonce"], ch["audience"], datetime.fromisoformat(ch["expires_at"]))

        forged = challenge()
        signature = key.sign(proto.signing_input(forged), ec.ECDSA(hashes.SHA256()))
        untrusted = proto.LoginResponse(
            nonce=forged.nonce,
            audience=forged.audience,
            signature=proto.b64u(signature),
            certificate=proto.b64u(self_signed.public_bytes(serialization.Encoding.DER)),
        )
        for answer, kind in (
            (untrusted, "untrusted"),
            (proto.answer(challenge(), revoked.card, pin=AUTH_PIN), "certificate-revoked"),
        ):
            r = client.post("/pki/login/response", json=answer.to_json())
            assert r.status_code == 403, kind
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["type"] == f"urn:sekisho:problem:{kind}"
            assert r.json()["title"] == "Verification failed"


def test_login_nonce_with_a_nul_is_a_schema_error(pki: hierarchy.Pki) -> None:
    """Found fuzzing on PostgreSQL: a nonce with a NUL reached the challenge lookup, which PostgreSQL refuses with
    an error (HTTP 500); a nonce is base64url, as challenges issue it."""
    with TestClient(api.create_app(pki, audience=AUDIENCE, trust="13")) as client:
        answer = {"nonce": "abc\x00def", "audience": AUDIENCE, "signature": "AA", "certificate": "AA"}
        r = client.post("/pki/login/response", json=answer)
        assert r.status_code == 422
        assert r.json()["field"] == "body.nonce"
