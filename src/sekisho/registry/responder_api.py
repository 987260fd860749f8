"""HTTP: a municipality node as the locator reaches it (identity confirmations, cross-references' record legs).

    POST /identity          frame: header {query, n}, n registry pseudonyms (32 bytes) -> {"answers": [...]}
    POST /cross-reference   frame: header {query, n}, n registry pseudonyms -> {"statuses": [...]}

The municipality writes its access records before the answer leaves (its release service does, as in-process).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from sekisho import problems
from sekisho.protocols import agency_messages as messages
from sekisho.protocols import frames
from sekisho.protocols.agency import CrossReferenceResponder, IdentityResponder

MAX_BODY = 100_000 * frames.POINT + frames.MAX_HEADER + 4


def _json(schema: dict[str, Any], what: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": what, "content": {"application/json": {"schema": schema}}}}


def router(identity: IdentityResponder, crossref: CrossReferenceResponder) -> APIRouter:
    api = APIRouter(tags=["municipality"])
    body_doc = problems.raw_body(frames.MEDIA_TYPE)

    @api.post(
        "/identity",
        response_class=JSONResponse,
        responses=_json(messages.ANSWERS_SCHEMA, "The answers, in the order of the pseudonyms"),
        openapi_extra=body_doc,
    )
    async def answer_identity(request: Request) -> JSONResponse:
        header, records = frames.unpack(await problems.read_body(request, MAX_BODY))
        rps = frames.read_points(header, records)
        query = messages.identity_query(header.get("query"))
        got = await run_in_threadpool(identity.answer_identity, rps, query)
        return JSONResponse(messages.answers_json(got))

    @api.post(
        "/cross-reference",
        response_class=JSONResponse,
        responses=_json(messages.STATUSES_SCHEMA, "Per person, whether this municipality recorded it"),
        openapi_extra=body_doc,
    )
    async def record_cross_reference(request: Request) -> JSONResponse:
        header, records = frames.unpack(await problems.read_body(request, MAX_BODY))
        rps = frames.read_points(header, records)
        query = messages.crossref_query(header.get("query"))
        got = await run_in_threadpool(crossref.record_cross_reference, rps, query)
        return JSONResponse(messages.statuses_json(got))

    return api
