"""The issuer's HTTP face, in the message shapes of OpenID4VCI 1.0 (pre-authorised code flow) and the Token Status
List: a thin router over :class:`sekisho.credentials.oid4vci.Flow`.  Nothing personal is in a URL: the handle of an
offer travels in the body, the municipality code in the path is the issuer's public identity."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sekisho.credentials.oid4vci import Flow
from sekisho.errors import Forbidden, Unauthenticated
from sekisho.vc.forms import form_body, read_form
from sekisho.wire.guard import Caller, terminal_caller

STATUS_MEDIA = "application/statuslist+jwt"


class OfferIn(BaseModel):
    handle: str = Field(max_length=32)


class Proofs(BaseModel):
    jwt: list[str] = Field(min_length=1, max_length=50)


class CredentialIn(BaseModel):
    credential_configuration_id: str = Field(max_length=64)
    proofs: Proofs


def router(flow: Flow) -> APIRouter:
    code = flow.issuer.municipality
    r = APIRouter(prefix=f"/credentials/{code}", tags=["credentials"])

    @r.get("/.well-known/openid-credential-issuer")
    def metadata() -> dict[str, Any]:
        return flow.metadata()

    @r.post("/offers")
    def offer(body: OfferIn, clerk: Annotated[Caller, Depends(terminal_caller)]) -> dict[str, Any]:
        # made at the counter: the guard admitted a signed request by one of this municipality's clerk terminals
        # (node.guarding's rule); without the guard the dependency fails closed.  Another municipality's clerk
        # may call this node (hand-overs) but may not start an issuance of its residents.
        if clerk.party.name != f"municipality/{code}":
            raise Forbidden("only this municipality's clerks make credential offers", field="terminal")
        return {"credential_offer": flow.offer(body.handle)}

    @r.post("/token", openapi_extra={"requestBody": form_body("grant_type", "pre-authorized_code")})
    async def token(request: Request) -> dict[str, Any]:
        form = await read_form(request)
        return flow.token(grant_type=form.get("grant_type", ""), code=form.get("pre-authorized_code", ""))

    @r.post("/nonce")
    def nonce() -> dict[str, Any]:
        return flow.nonce()

    @r.post("/credential")
    async def credential(
        body: CredentialIn, authorization: Annotated[str | None, Header(max_length=200)] = None
    ) -> dict[str, Any]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "Bearer" or not token:
            raise Unauthenticated("a Bearer access token is required", field="authorization")
        # the register's read (access record first) and 20 signatures: off the event loop
        return await run_in_threadpool(
            flow.credential, token=token, configuration=body.credential_configuration_id, proofs=body.proofs.jwt
        )

    @r.get("/status", response_class=Response)
    def status() -> Response:
        return Response(flow.issuer.status_list_token(), media_type=STATUS_MEDIA)

    return r
