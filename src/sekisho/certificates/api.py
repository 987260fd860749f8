"""The home municipality's certificate desk over HTTP (``/certificates/<code>``).

``POST /certificates/<code>/issue`` is called by the counter's node (another municipality's, for 広域交付): the
caller's party certificate must name the counter the body states, and the request is signed by the clerk's terminal
(``sekisho.node.guarding``).  The resident is named by a handle in the body, never in the URL.  The answer is the
signed PDF or the signed JSON form.  ``GET /certificates/<code>/key`` publishes the signer's key (JWK with ``x5c``)
for anyone verifying a JSON form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sekisho.certificates.model import OPTIONAL_ITEMS, parse_items
from sekisho.certificates.model import Request as CertificateRequest
from sekisho.certificates.service import MEDIA, Desk
from sekisho.errors import Forbidden

PREFIX = "/certificates"


class IssueIn(BaseModel):
    handle: str = Field(max_length=32)
    counter: str = Field(max_length=6, pattern=r"^[0-9]{6}$")
    kind: Literal["self", "household", "proxy", "third-party"]
    items: list[str] = Field(default_factory=list, max_length=len(OPTIONAL_ITEMS) + 4)
    requester: str | None = Field(default=None, max_length=128)
    reason: str | None = Field(default=None, max_length=200)
    copies: int = Field(default=1, ge=1, le=10)
    self_service: bool = False
    #: ``household``: every member of the resident's household (世帯全員の写し)
    scope: Literal["person", "household"] = "person"
    #: the copy of the resident's closed record (除票の写し)
    closed: bool = False
    form: Literal["pdf", "json"] = "pdf"


def _caller(request: Request) -> str | None:
    found = request.scope.get("state", {}).get("sekisho_caller")
    name = getattr(getattr(found, "party", None), "name", None)
    return name if isinstance(name, str) else None


def router(code: str, desk_of: Callable[[], Desk]) -> APIRouter:
    """``desk_of`` opens the desk on first use (a node starts before `sekisho certificate init`; until then a
    request is answered with the problem saying what is missing)."""
    api = APIRouter(prefix=f"{PREFIX}/{code}", tags=["certificates"])

    @api.get("/key")
    def key() -> dict[str, Any]:
        return {"keys": [desk_of().signer.public_jwk()]}

    @api.post(
        "/issue",
        response_class=Response,
        responses={200: {"content": {m: {"schema": {"type": "string", "format": "binary"}} for m in MEDIA.values()}}},
    )
    async def issue(request: Request, body: IssueIn) -> Response:
        authenticated = _caller(request)
        # behind the guard the counter must be the party that called; without it (tests) the body is taken
        if authenticated is not None and authenticated != f"municipality/{body.counter}":
            raise Forbidden("the request names another counter than the authenticated party", field="counter")
        asked = CertificateRequest(
            handle=body.handle,
            home=code,
            counter=body.counter,
            kind=body.kind,
            items=parse_items(body.items),
            requester=body.requester,
            reason=body.reason,
            copies=body.copies,
            self_service=body.self_service,
            scope=body.scope,
            closed=body.closed,
        )
        desk = await run_in_threadpool(desk_of)
        issued = await desk.async_issue(asked, form=body.form)
        return Response(
            issued.body,
            media_type=issued.media_type,
            headers={"Cache-Control": "no-store", "X-Certificate-Serial": issued.serial},
        )

    return api
