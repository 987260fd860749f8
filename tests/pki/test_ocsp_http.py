"""The OCSP endpoint speaks OCSP to whatever it is sent: RFC 6960 Appendix A (over HTTP) and §2.3 — a body or a
GET path that is not an OCSP request gets an unsigned ``malformedRequest`` response, never a problem document an
OCSP client cannot read."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient

from sekisho.pki import api, hierarchy

from .conftest import NewCitizen

OCSP_REQUEST = "application/ocsp-request"

# (what a client sent, content type or None for no header): none of them is an OCSP request
NOT_REQUESTS = {
    "empty, ocsp type": (b"", OCSP_REQUEST),
    "empty, no type": (b"", None),
    "empty, json type": (b"", "application/json"),
    "json object": (b"{}", "application/json"),
    "json null": (b"null", "application/json"),
    "json array": (b'["MEIwQDA"]', "application/json"),
    "not utf-8, json type": (b"\xff\xfe\x00", "application/json"),
    "form": (b"request=MEIwQDA%2B", "application/x-www-form-urlencoded"),
    "multipart": (
        b'--b\r\nContent-Disposition: form-data; name="r"\r\n\r\nx\r\n--b--\r\n',
        "multipart/form-data; boundary=b",
    ),
    "text": (b"hello", "text/plain"),
    "garbage, ocsp type": (b"\x30\x03\x02\x01\x00", OCSP_REQUEST),
    "garbage, no type": (b"\x00" * 64, None),
    "too large": (b"\x30" * (api.MAX_OCSP_REQUEST + 1), OCSP_REQUEST),
}

# GET paths under /pki/ocsp that are not the base64 of an OCSP request
NOT_REQUEST_PATHS = {
    "no path": "",
    "empty path": "/",
    "not base64": "/!!!not-base64!!!",
    "base64 of garbage": "/" + quote(base64.b64encode(b"\x30\x03\x02\x01\x00").decode(), safe=""),
    "too long": "/" + "A" * (api.MAX_OCSP_REQUEST * 2),
    "bad percent-encoding": "/%ZZ%",
}


@pytest.fixture(scope="module")
def client(pki: hierarchy.Pki) -> Iterator[TestClient]:
    with TestClient(api.create_app(pki, audience="sekisho-portal", trust="13")) as c:
        yield c


def _malformed(response: httpx.Response) -> None:
    # RFC 5019 §5: an error status still travels as HTTP 200 with the OCSP media type
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/ocsp-response"
    parsed = ocsp.load_der_ocsp_response(response.content)
    assert parsed.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.mark.parametrize(("body", "content_type"), NOT_REQUESTS.values(), ids=NOT_REQUESTS.keys())
def test_a_post_that_is_not_a_request_gets_malformed_request(
    client: TestClient, body: bytes, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    _malformed(client.post("/pki/ocsp", content=body, headers=headers))


@pytest.mark.parametrize("path", NOT_REQUEST_PATHS.values(), ids=NOT_REQUEST_PATHS.keys())
def test_a_get_that_is_not_a_request_gets_malformed_request(client: TestClient, path: str) -> None:
    _malformed(client.get("/pki/ocsp" + path))


def test_a_real_request_is_answered_whatever_its_content_type(
    client: TestClient, pki: hierarchy.Pki, new_citizen: NewCitizen
) -> None:
    citizen = new_citizen("131016")
    request = ocsp.OCSPRequestBuilder().add_certificate(citizen.auth, hierarchy.root(pki.engine, "13"), hashes.SHA1())
    der = request.build().public_bytes(Encoding.DER)
    for headers in ({"Content-Type": OCSP_REQUEST}, {"Content-Type": "application/json"}, {}):
        answer = client.post("/pki/ocsp", content=der, headers=headers)
        assert answer.headers["content-type"] == "application/ocsp-response"
        assert ocsp.load_der_ocsp_response(answer.content).certificate_status is ocsp.OCSPCertStatus.GOOD


def test_chain_takes_the_same_prefecture_forms_as_the_cli(client: TestClient) -> None:
    chain = client.get("/pki/chain.pem", params={"for": "01"})
    assert chain.status_code == 200
    for form in ("1", "北海道", "０１"):
        assert client.get("/pki/chain.pem", params={"for": form}).content == chain.content, form
    bad = client.get("/pki/chain.pem", params={"for": "48"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "for"
