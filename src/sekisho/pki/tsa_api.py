"""``POST /pki/tsa``: the PKI's RFC 3161 time-stamp authority over HTTP (RFC 3161 §3.4: the body is a DER
TimeStampReq sent as ``application/timestamp-query``, the answer a TimeStampResp as ``application/timestamp-reply``).

Public, like OCSP and CRLs: a request carries only a hash, and anyone who verifies a signed certificate of
residence may want a timestamp of their own."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sekisho import problems
from sekisho.errors import InvalidInput
from sekisho.pki.hierarchy import Pki
from sekisho.pki.tsa import MAX_REQUEST, TimeStampAuthority, open_tsa

QUERY = "application/timestamp-query"
REPLY = "application/timestamp-reply"


def router(pki: Pki) -> APIRouter:
    """Included by :func:`sekisho.pki.api.router` under its ``/pki`` prefix."""
    api = APIRouter(tags=["pki"])
    lock = threading.Lock()
    opened: list[TimeStampAuthority] = []

    def authority() -> TimeStampAuthority:
        # made (or opened) on the first request: `sekisho serve pki` starts before anyone needs a timestamp
        with lock:
            if not opened:
                opened.append(open_tsa(pki))
            return opened[0]

    @api.post(
        "/tsa",
        response_class=Response,
        responses=problems.binary(REPLY),
        openapi_extra=problems.raw_body(QUERY),
    )
    async def tsa(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REQUEST:
                raise InvalidInput("is not an RFC 3161 TimeStampReq", field="body")
        reply = await (await run_in_threadpool(authority)).async_respond(bytes(body))
        return Response(reply, media_type=REPLY, headers={"Cache-Control": "no-store"})

    return api
