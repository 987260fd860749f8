"""Limits every party's service and client keeps, from the environment: the largest request body a party reads
(``SEKISHO_MAX_BODY``, bytes), how long a client waits for a peer (``SEKISHO_CONNECT_TIMEOUT``,
``SEKISHO_READ_TIMEOUT``, seconds) and how long a guard keeps a certificate's good revocation status
(``SEKISHO_REVOCATION_CACHE``, seconds, 0 for never).

:class:`BodyLimit` is the ASGI middleware in front of a party's app (outside its guard): a body declared larger
than the limit is refused before a byte of it is read, one that grows beyond it while it streams is cut off;
either way the answer is a 413 problem document that echoes nothing of the request.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

from sekisho.errors import InvalidInput, TooLarge
from sekisho.problems import MEDIA_TYPE, problem_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_ENV = "SEKISHO_MAX_BODY"
CONNECT_TIMEOUT_ENV = "SEKISHO_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "SEKISHO_READ_TIMEOUT"
REVOCATION_CACHE_ENV = "SEKISHO_REVOCATION_CACHE"
#: the largest legitimate body is a batch of 100,000 ciphertexts (6.4 MB and its header); a bigger batch is split
MAX_BODY = 8 * 1024 * 1024
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
#: seconds a guard keeps a peer's or terminal's good OCSP status (the longest a revocation goes unseen by it)
REVOCATION_CACHE = 30.0


def _number(name: str, default: float, *, integer: bool = False) -> float:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise InvalidInput("must be a positive number", field=name)
    return value


def max_body() -> int:
    return int(_number(MAX_BODY_ENV, MAX_BODY, integer=True))


def connect_timeout() -> float:
    return _number(CONNECT_TIMEOUT_ENV, CONNECT_TIMEOUT)


def read_timeout() -> float:
    return _number(READ_TIMEOUT_ENV, READ_TIMEOUT)


class BodyLimit:
    """ASGI: refuse request bodies larger than ``limit`` bytes with a 413 problem document."""

    def __init__(self, app: ASGIApp, *, limit: int | None = None) -> None:
        self.app = app
        self.limit = limit if limit is not None else max_body()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        size = 0
        started = False

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.limit:
                    # a TooLarge: the app's own problem handler answers 413 when it reads the body itself
                    raise _Overflow(f"the body may be at most {self.limit} bytes", field="body")
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _Overflow:
            if started:  # an answer is under way: nothing better than closing the connection
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = TooLarge(f"the body may be at most {self.limit} bytes", field="body")
        await JSONResponse(problem_body(exc), status_code=exc.status, media_type=MEDIA_TYPE)(scope, receive, send)


class _Overflow(TooLarge):
    """The body grew beyond the limit while it streamed (raised out of ``receive``)."""


def revocation_cache() -> float:
    """``SEKISHO_REVOCATION_CACHE``: seconds a good revocation status is kept (0: ask the PKI on every request)."""
    text = os.environ.get(REVOCATION_CACHE_ENV)
    if text is not None and text.strip() in ("0", "0.0"):
        return 0.0
    return _number(REVOCATION_CACHE_ENV, REVOCATION_CACHE)
