"""The PKI's RFC 3161 time-stamp authority, checked by OpenSSL (``openssl ts``) against a real server process and
by pyHanko's timestamp validation: a token verifies against the organisation CA, an altered digest does not,
and requests the TSA must refuse get a ``rejection`` status, never a token."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from asn1crypto import core, tsp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from sekisho.config import Home
from sekisho.errors import InvalidInput
from sekisho.pki import hierarchy
from sekisho.pki.oids import TSA_POLICY
from sekisho.pki.profiles import ORGANISATION
from sekisho.pki.tsa import open_tsa

from .conftest import needs_openssl, openssl, pem, serve_pki


def _request(digest: bytes, *, algorithm: str = "sha256", nonce: int | None = 7, cert_req: bool = True) -> bytes:
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
        "cert_req": cert_req,
    }
    if nonce is not None:
        fields["nonce"] = nonce
    return bytes(tsp.TimeStampReq(fields).dump())


def test_tsa_is_made_once_with_a_critical_timestamping_usage(pki: hierarchy.Pki) -> None:
    first, second = open_tsa(pki), open_tsa(pki)
    assert first.certificate == second.certificate
    usage = first.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert usage.critical
    assert list(usage.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert first.certificate.issuer == hierarchy.ca_certificate(pki.engine, ORGANISATION).subject


def test_a_token_names_the_imprint_the_nonce_and_the_policy(pki: hierarchy.Pki) -> None:
    digest = hashlib.sha256(b"a certificate of residence").digest()
    reply = tsp.TimeStampResp.load(open_tsa(pki).respond(_request(digest, nonce=424242)))
    assert reply["status"]["status"].native == "granted"
    info = reply["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["nonce"].native == 424242
    assert info["policy"].native == TSA_POLICY.dotted_string
    assert len(reply["time_stamp_token"]["content"]["certificates"]) >= 1


def test_without_cert_req_the_token_carries_no_certificates(pki: hierarchy.Pki) -> None:
    reply = tsp.TimeStampResp.load(open_tsa(pki).respond(_request(bytes(32), cert_req=False)))
    assert reply["status"]["status"].native == "granted"
    assert not reply["time_stamp_token"]["content"]["certificates"]


@pytest.mark.parametrize(
    ("request_der", "failure"),
    [
        (_request(bytes(20), algorithm="sha1"), "bad_alg"),
        (_request(bytes(31)), "bad_data_format"),
        (_request(bytes(64), algorithm="sha256"), "bad_data_format"),
    ],
    ids=["sha1", "short-imprint", "long-imprint"],
)
def test_bad_requests_are_rejected_without_a_token(pki: hierarchy.Pki, request_der: bytes, failure: str) -> None:
    der = open_tsa(pki).respond(request_der)
    assert len(core.Sequence.load(der)) == 1  # the status alone: no token
    status = tsp.PKIStatusInfo.load(core.Sequence.load(der)[0].dump())
    assert status["status"].native == "rejection"
    assert failure in status["fail_info"].native


@pytest.mark.parametrize(
    "body", [b"", b"not DER", b"\x30\x03\x02\x01\x01", bytes(5000)], ids=["empty", "text", "short", "huge"]
)
def test_bytes_that_are_no_request_are_bad_input(pki: hierarchy.Pki, body: bytes) -> None:
    with pytest.raises(InvalidInput):
        open_tsa(pki).respond(body)


@needs_openssl
def test_openssl_verifies_tokens_of_the_served_tsa(pki: hierarchy.Pki, pki_home: Home, tmp_path: Path) -> None:
    data = tmp_path / "document.pdf"
    data.write_bytes(b"%PDF-1.7 a certificate of residence")
    query = tmp_path / "query.tsq"
    made = openssl("ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
    assert made.returncode == 0, made.stderr
    org = pem(tmp_path / "org.pem", [hierarchy.ca_certificate(pki.engine, ORGANISATION)])
    with serve_pki(pki_home, tmp_path / "pki.log") as url:
        answer = httpx.post(
            f"{url}/pki/tsa", content=query.read_bytes(), headers={"Content-Type": "application/timestamp-query"}
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/timestamp-reply"
        bad = httpx.post(f"{url}/pki/tsa", content=b"hello", headers={"Content-Type": "application/timestamp-query"})
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
    reply = tmp_path / "reply.tsr"
    reply.write_bytes(answer.content)
    verified = openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", org)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Verification: OK" in verified.stdout
    # the same token does not vouch for other data
    data.write_bytes(b"%PDF-1.7 a certificate of residence, altered")
    refused = openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", org)
    assert refused.returncode != 0
    assert "Verification: OK" not in refused.stdout
    text = openssl("ts", "-reply", "-in", reply, "-text")
    assert f"Policy OID: {TSA_POLICY.dotted_string}" in text.stdout
