"""The PKI's HTTP face: OCSP (RFC 6960, GET and POST), CRLs, CA certificates, and the card login.

A thin router over :mod:`sekisho.pki.hierarchy`, :mod:`~sekisho.pki.status` and :mod:`~sekisho.pki.sessions`.
URLs carry only public things: a CA's identifier, or an OCSP request (a CertID: hashes of the issuer and a serial
number).  Handles and anything personal travel in bodies.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sekisho import problems
from sekisho.errors import NotFound
from sekisho.pki import hierarchy, sessions, status
from sekisho.pki import login as proto
from sekisho.pki.hierarchy import Pki
from sekisho.pki.prefectures import parse_prefecture
from sekisho.pki.tsa_api import router as tsa_router
from sekisho.pki.verify import RelyingParty

OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"
MAX_OCSP_REQUEST = 4096
DEFAULT_AUDIENCE = "sekisho-portal"
DEFAULT_TRUST = "13"


class ChallengeOut(BaseModel):
    nonce: str
    audience: str
    expires_at: str


class LoginIn(BaseModel):
    nonce: str = Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")  # base64url, as login challenges issue them
    audience: str = Field(max_length=proto.MAX_AUDIENCE)
    signature: str = Field(max_length=256)
    certificate: str = Field(max_length=8192)


class SessionOut(BaseModel):
    token: str
    subject_id: str
    expires_at: str


async def _read_capped(request: Request, limit: int) -> bytes:
    """The body, or b"" (not a request) once it exceeds ``limit``: the rest is never buffered."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return b""
    return bytes(body)


def _decode_get_path(encoded: str) -> bytes:
    """The DER of a GET request's path, or b"" (not a request) for anything that is not base64 of a size we read."""
    if len(encoded) > MAX_OCSP_REQUEST * 4 // 3 + 4:
        return b""
    # only leading slashes are separators (base64 of a DER SEQUENCE starts with "M"); a trailing "/" is data
    text = encoded.lstrip("/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None)
    except (binascii.Error, ValueError):
        return b""


def _ocsp(pki: Pki, der: bytes) -> Response:
    # no-store: a status must never be served from a cache after a revocation (RFC 5019 §6 allows caching;
    # Sekisho's rule is that a revocation shows on the very next request)
    return Response(status.ocsp_respond(pki, der), media_type=OCSP_RESPONSE, headers={"Cache-Control": "no-store"})


def router(pki: Pki, *, audience: str, trust: str, verifier: RelyingParty | None = None) -> APIRouter:
    """``audience``: the name login challenges are bound to; ``trust``: the prefecture whose root the login
    trusts (a citizen of any prefecture logs in through the bridge)."""
    proto.check_audience(audience)
    trust = parse_prefecture(trust, field="trust").code
    api = APIRouter(prefix="/pki", tags=["pki"])
    login_verifier = verifier or status.relying_party(pki, trust=trust)

    # RFC 6960 Appendix A / §2.3: an OCSP client reads only OCSP responses, so whatever arrives at the responder's
    # URL that is not a request, in any media type, oversized, or as a GET path that is not base64, is answered
    # with an unsigned malformedRequest, never a problem document.  The body is read raw, not through a schema.
    @api.post(
        "/ocsp",
        response_class=Response,
        responses=problems.binary(OCSP_RESPONSE),
        openapi_extra=problems.raw_body(OCSP_REQUEST),
    )
    async def ocsp_post(request: Request) -> Response:
        der = await _read_capped(request, MAX_OCSP_REQUEST)
        return await run_in_threadpool(_ocsp, pki, der)

    @api.get("/ocsp", response_class=Response, responses=problems.binary(OCSP_RESPONSE), include_in_schema=False)
    def ocsp_get_empty() -> Response:
        return _ocsp(pki, b"")

    @api.get("/ocsp/{encoded:path}", response_class=Response, responses=problems.binary(OCSP_RESPONSE))
    def ocsp_get(encoded: str) -> Response:
        # Appendix A.1: the path is the URL-encoded base64 of the DER request (the framework has already undone
        # the URL encoding); some clients send base64url instead
        return _ocsp(pki, _decode_get_path(encoded))

    @api.get("/crl/{name}", response_class=Response, responses=problems.binary("application/pkix-crl"))
    def crl(name: str) -> Response:
        if not name.endswith(".crl"):
            raise NotFound("CRLs are named <ca>.crl", field="crl")
        body = status.crl(pki, ca_id=name.removesuffix(".crl")).public_bytes(Encoding.DER)
        return Response(body, media_type="application/pkix-crl", headers={"Cache-Control": "no-store"})

    @api.get("/ca/{name}", response_class=Response, responses=problems.binary("application/pkix-cert"))
    def ca_cert(name: str) -> Response:
        if not name.endswith(".crt"):
            raise NotFound("CA certificates are named <ca>.crt", field="ca")
        cert = hierarchy.ca_certificate(pki.engine, name.removesuffix(".crt"))
        return Response(cert.public_bytes(Encoding.DER), media_type="application/pkix-cert")

    @api.get("/chain.pem", response_class=Response, responses=problems.text("application/pem-certificate-chain"))
    def chain(for_prefecture: Annotated[str | None, Query(alias="for")] = None) -> Response:
        if for_prefecture is not None:  # the same forms as the CLI's --for
            for_prefecture = parse_prefecture(for_prefecture, field="for").code
        certs = hierarchy.cross_certificates(pki.engine, for_prefecture=for_prefecture)
        return Response(
            b"".join(c.public_bytes(Encoding.PEM) for c in certs), media_type="application/pem-certificate-chain"
        )

    @api.post("/login/challenge")
    def login_challenge() -> ChallengeOut:
        challenge = sessions.login_challenge(pki.engine, audience=audience)
        return ChallengeOut(**challenge.to_json())

    @api.post("/login/response")
    def login_response(body: LoginIn) -> SessionOut:
        session = sessions.login_finish(
            pki,
            response=proto.LoginResponse(
                nonce=body.nonce, audience=body.audience, signature=body.signature, certificate=body.certificate
            ),
            audience=audience,
            verifier=login_verifier,
        )
        return SessionOut(token=session.token, subject_id=session.subject_id, expires_at=session.expires_at.isoformat())

    api.include_router(tsa_router(pki))  # POST /pki/tsa, the RFC 3161 time-stamp authority
    return api


def create_app(pki: Pki, *, audience: str, trust: str) -> FastAPI:
    """The PKI party's web service (``sekisho pki serve``)."""
    app = FastAPI(title="Sekisho PKI", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router(pki, audience=audience, trust=trust))

    problems.install(app)

    return app


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory sekisho.pki.api:app_from_env``: the home, database and passphrase come from the
    environment (SEKISHO_HOME, SEKISHO_DB, SEKISHO_PASSPHRASE), as in ``sekisho pki serve``."""
    import os

    from sekisho.config import Home

    pki = Pki.open(Home.from_env())
    pki.keyring.session_key()  # fail at start-up, not at the first login, if the PKI is not initialised
    return create_app(
        pki,
        audience=os.environ.get("SEKISHO_PKI_AUDIENCE", DEFAULT_AUDIENCE),
        trust=os.environ.get("SEKISHO_PKI_TRUST", DEFAULT_TRUST),
    )
