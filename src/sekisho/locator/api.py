"""HTTP: the locator as municipalities and agencies reach it.

    POST /index            a municipality's PPs converted R → R (frame) -> each s_R·P and whether it is held here
    POST /hand-over        the holder moves one entry to the destination (frame: header {requester, to}, one rp)
    POST /confirm          an agency's batch converted A → R (frame, header ``query``) -> {"answers": [...]}
    POST /cross-reference  a cross-reference's record leg (frame, header ``query``) -> {"statuses": [...]}

Frames are :mod:`sekisho.protocols.frames` (docs/transport.md).  The locator calls the municipalities through
the responders it is handed (HTTP clients in a deployment); nothing it routes is stored or logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from sekisho import problems
from sekisho.failpoints import failpoint
from sekisho.locator.service import LocatorService
from sekisho.protocols import agency_messages as messages
from sekisho.protocols import frames
from sekisho.protocols.agency import CrossReferenceResponder, IdentityResponder

MAX_BODY = 100_000 * frames.CIPHERTEXT + frames.POINT + frames.MAX_HEADER + 4


class Responder(IdentityResponder, CrossReferenceResponder, Protocol):
    """A municipality as the locator reaches it."""


def _json(schema: dict[str, Any], what: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": what, "content": {"application/json": {"schema": schema}}}}


_FRAME_OUT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A frame (docs/transport.md): header {n, here: [bool]}, then n registry pseudonyms (32 bytes)",
        "content": {frames.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}


def router(service: LocatorService, municipalities: Callable[[str], Responder]) -> APIRouter:
    api = APIRouter(tags=["locator"])
    body_doc = problems.raw_body(frames.MEDIA_TYPE)

    @api.post("/index", response_class=Response, responses=_FRAME_OUT, openapi_extra=body_doc)
    async def index(request: Request) -> Response:
        header, records = frames.unpack(await problems.read_body(request, MAX_BODY))
        result = frames.read_result(header, records)
        entries = await run_in_threadpool(service.index, result, requester=frames.text(header, "requester"))
        body = frames.points_frame({"here": [e.here for e in entries]}, [e.rp for e in entries])
        return Response(body, media_type=frames.MEDIA_TYPE)

    @api.post("/hand-over", status_code=204, response_class=Response, openapi_extra=body_doc)
    async def hand_over(request: Request) -> Response:
        header, records = frames.unpack(await problems.read_body(request, frames.MAX_HEADER + 64))
        [rp] = frames.split(records, frames.POINT, count=1, field="rp")
        requester, to = frames.text(header, "requester"), frames.text(header, "to")
        await run_in_threadpool(service.hand_over, rp, requester=requester, to=to)
        failpoint("locator.handed-over")
        return Response(status_code=204)

    @api.post(
        "/confirm",
        response_class=JSONResponse,
        responses=_json(messages.ANSWERS_SCHEMA, "The answers, in the batch's order"),
        openapi_extra=body_doc,
    )
    async def confirm(request: Request) -> JSONResponse:
        header, records = frames.unpack(await problems.read_body(request, MAX_BODY))
        result = frames.read_result(header, records)
        query = messages.identity_query(header.get("query"))
        got = await run_in_threadpool(service.confirm, result, query, municipalities=municipalities)
        return JSONResponse(messages.answers_json(got))

    @api.post(
        "/cross-reference",
        response_class=JSONResponse,
        responses=_json(messages.STATUSES_SCHEMA, "Per person, whether the municipality recorded it"),
        openapi_extra=body_doc,
    )
    async def cross_reference(request: Request) -> JSONResponse:
        header, records = frames.unpack(await problems.read_body(request, MAX_BODY))
        result = frames.read_result(header, records)
        query = messages.crossref_query(header.get("query"))
        got = await run_in_threadpool(service.cross_reference, result, query, municipalities=municipalities)
        return JSONResponse(messages.statuses_json(got))

    return api
