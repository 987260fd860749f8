"""HTTP: a transcryptor (T1 or T2) as the other parties reach it.

    POST /convert     a conversion request (frame: JSON header + key + ciphertexts) -> the hop's result (frame)
    POST /key-share   {"domain", "requester"} -> the domain's key share from this transcryptor (32 bytes)
    POST /relay       a conversion request whose header also says where the result goes next (``then``): this
                      transcryptor converts, then hands its result on (T1 to T2's ``/relay``; T2 to the caller or
                      to the locator) and answers with what came back

The frames are :mod:`sekisho.protocols.frames` (layout in docs/transport.md).  Refusals, bad input and a
transcryptor that is not set up come back as RFC 9457 problem documents; none names a pseudonym.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from sekisho import problems
from sekisho.errors import Forbidden, InvalidInput
from sekisho.pep.group import Scalar
from sekisho.protocols import frames
from sekisho.protocols.conversion import ConversionRequest, HopResult

#: the largest conversion body: 100,000 ciphertexts and the header (a bigger batch is split by the sender)
MAX_BODY = 100_000 * frames.CIPHERTEXT + frames.POINT + frames.MAX_HEADER + 4

#: the caller a request's authenticated channel names (sekisho.wire's guard), or None without one
CallerOf = Callable[[Request], str | None]

#: where a relayed result goes next: (the request as converted here, this hop's result, the header's ``then``)
#: -> the answer's body and media type.  Supplied by the composition root; opaque to the transcryptor.
Onward = Callable[[ConversionRequest, HopResult, Mapping[str, Any]], tuple[bytes, str]]


class KeyShareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domain: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    requester: str = Field(pattern=r"^[A-Za-z0-9_./:-]{1,128}$")


def guard_caller(request: Request) -> str | None:
    """The party the mTLS guard admitted (``sekisho.wire``), or None when the app runs without the guard."""
    found = request.scope.get("state", {}).get("sekisho_caller")
    party = getattr(found, "party", None)
    name = getattr(party, "name", None)
    return name if isinstance(name, str) else None


_CONVERT_OUT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The hop's result: a frame (docs/transport.md) — header {party, request_id, n}, the 32-byte "
        "key the batch is now under, n ciphertexts of 64 bytes",
        "content": {frames.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}


_RELAY_OUT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "What the result's destination answered: the last hop's result (a frame, as /convert) or "
        "the locator's answer (JSON)",
        "content": {
            frames.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


def router(
    convert: Callable[[ConversionRequest], HopResult],
    key_share: Callable[[str, str], Scalar],
    *,
    caller_of: CallerOf = guard_caller,
    onward: Onward | None = None,
) -> APIRouter:
    """``convert`` is the transcryptor's own (hooks and all); ``key_share(domain, requester)`` checks that the
    requester operates the domain.  Behind the guard, the requester named must be the authenticated party.
    ``onward``: where ``/relay`` hands a result (no ``/relay`` without it)."""
    api = APIRouter(tags=["transcryptor"])

    if onward is not None:

        @api.post(
            "/relay",
            response_class=Response,
            responses=_RELAY_OUT,
            openapi_extra=problems.raw_body(frames.MEDIA_TYPE),
            summary="Convert a batch and hand the result on (to the next transcryptor, the locator or the caller)",
        )
        async def relay(request: Request) -> Response:
            body = await problems.read_body(request, MAX_BODY)
            header, _ = frames.unpack(body)
            then = header.get("then")
            if not isinstance(then, dict):
                raise InvalidInput("must say where the result goes", field="then")
            conversion = frames.read_request(body)
            result = await run_in_threadpool(convert, conversion)
            content, media_type = await run_in_threadpool(onward, conversion, result, then)
            return Response(content, media_type=media_type)

    @api.post(
        "/convert",
        response_class=Response,
        responses=_CONVERT_OUT,
        openapi_extra=problems.raw_body(frames.MEDIA_TYPE),
        summary="Convert a batch (this transcryptor's half of a conversion)",
    )
    async def convert_batch(request: Request) -> Response:
        body = await problems.read_body(request, MAX_BODY)
        conversion = frames.read_request(body)
        # the conversion is CPU work and writes the access record: off the event loop
        result = await run_in_threadpool(convert, conversion)
        return Response(frames.result_frame(result), media_type=frames.MEDIA_TYPE)

    @api.post(
        "/key-share",
        response_class=Response,
        responses=problems.binary(frames.MEDIA_TYPE),
        summary="The domain's key share from this transcryptor, to the domain's operator only",
    )
    def share(request: Request, body: KeyShareRequest) -> Response:
        authenticated = caller_of(request)
        # without the guard (tests, an authenticating proxy) the body's name is taken; with it, it must be the
        # channel's: a key share is a secret of the domain's operator alone
        if authenticated is not None and authenticated != body.requester:
            raise Forbidden("the request names another party than the authenticated one", field="requester")
        return Response(key_share(body.domain, body.requester).to_bytes(), media_type=frames.MEDIA_TYPE)

    return api
