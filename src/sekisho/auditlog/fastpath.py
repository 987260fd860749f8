"""``POST /append`` without the framework around it: the log's hot request as a plain ASGI middleware.

A durable append costs the sequencer a future, a SHA-256 and a row; through FastAPI the same request also builds a
``Request``, resolves the route and its dependencies, validates the (absent) query and serialises through the
response class — several times the append's own Python, on the one event loop that also runs the writer
(profiled with py-spy on ``sekisho log serve``: docs/benchmarks.md, *Audit log*).  This middleware answers the
plain append itself and hands everything else to the app unchanged:

- only ``POST /append`` and ``POST /append/batch`` (many entries in one frame: :mod:`sekisho.auditlog.batch`)
  with no query string: a retry (``?not_before=``) and every other route go to the app;
- the answer is what the route answers: ``{"index", "leaf_hash"}`` (a batch: ``{"indices", "leaf_hashes"}``) as
  JSON after the entries are durable, or the
  same RFC 9457 problem document for a refused entry (:func:`sekisho.problems.problem_response`);
- it sits inside whatever wraps the app (the party guard, TLS): the checks before a request reaches the log are
  the same for both paths.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sekisho import problems
from sekisho.auditlog.batch import decode_entries, receipts_body
from sekisho.auditlog.service import LogService
from sekisho.errors import SekishoError

_HEADERS = [(b"content-type", b"application/json")]


class AppendFastPath:
    """Serve ``POST /append`` straight from the ASGI scope; pass every other request to ``app``."""

    def __init__(self, app: ASGIApp, service: LogService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path != "/append" and path != "/append/batch":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        try:
            if path == "/append":
                receipt = await self.service.append_async(body)
                data: object = {"index": receipt.index, "leaf_hash": receipt.leaf_hash.hex()}
            else:
                data = receipts_body(await self.service.append_many_async(decode_entries(body)))
        except SekishoError as exc:
            # the very document the route's exception handler gives (problems.install)
            await problems.problem_response(exc)(scope, receive, send)
            return
        payload = orjson.dumps(data)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_HEADERS, (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive) -> bytes:
    message: Message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body  # an entry fits in one message from the server: no joining
    chunks = [body]
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
    return b"".join(chunks)
