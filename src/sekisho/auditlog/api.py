"""HTTP: the C2SP tlog-tiles read API of the log, its append endpoint, and the witness's add-checkpoint.

    GET  /checkpoint                      the latest *witnessed* checkpoint (text/plain; charset=utf-8)
    GET  /tile/<L>/<N>[.p/<W>]            Merkle tree tiles (application/octet-stream, immutable)
    GET  /tile/entries/<N>[.p/<W>]        entry bundles (gzip when the client accepts it)
    POST /append[?not_before=N]           one canonical entry (application/octet-stream) -> {"index", "leaf_hash"};
                                          with not_before, a retry: the entry's index if it is already there
    POST /append/batch[?not_before=N]     many entries in one frame (application/x-sekisho-log-entries, see
                                          sekisho.auditlog.batch) -> {"indices": [...], "leaf_hashes": [...]}
    GET  /proof/inclusion?index=&size=    convenience: the same proofs a client can compute from tiles
    GET  /proof/consistency?old=&new=
    POST /add-checkpoint                  the witness (c2sp.org/tlog-witness)

Nothing personal travels in a URL: paths carry tile coordinates and sizes only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import PlainTextResponse, Response

from sekisho import problems
from sekisho.auditlog import batch
from sekisho.auditlog.fastpath import AppendFastPath
from sekisho.auditlog.service import LogService
from sekisho.auditlog.witness import StaleOldSize, Witness
from sekisho.errors import NotFound
from sekisho.transparency.log import b64_proof
from sekisho.transparency.tiles import parse_tile_path

_IMMUTABLE = {"cache-control": "public, max-age=31536000, immutable"}
_MUTABLE = {"cache-control": "public, max-age=2"}  # tlog-tiles: no caching beyond a few seconds
_TEXT = "text/plain; charset=utf-8"
MAX_TREE_SIZE = 1 << 63  # a checkpoint's size is below it (checkpoint.py), and so is every index a database holds
_APPEND_OUT: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["index", "leaf_hash"],
                    "properties": {"index": {"type": "integer"}, "leaf_hash": {"type": "string"}},
                }
            }
        }
    }
}

_BATCH_OUT: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["indices", "leaf_hashes"],
                    "properties": {
                        "indices": {"type": "array", "items": {"type": "integer"}},
                        "leaf_hashes": {"type": "array", "items": {"type": "string"}},
                    },
                }
            }
        }
    }
}


def _json(data: object, *, status: int = 200, media_type: str = "application/json") -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=media_type)


def log_router(service: LogService) -> APIRouter:
    router = APIRouter()

    @router.get("/checkpoint", response_class=Response, responses=problems.text(_TEXT))
    def checkpoint() -> Response:
        note = service.latest_checkpoint(witnessed=True)
        if note is None:
            raise NotFound("the log has no witnessed checkpoint yet", field="checkpoint")
        return PlainTextResponse(note, media_type=_TEXT, headers=_MUTABLE)

    @router.get("/tile/{path:path}", response_class=Response, responses=problems.binary("application/octet-stream"))
    def tile(path: str) -> Response:
        data = service.published_tile(parse_tile_path("tile/" + path))
        return Response(data, media_type="application/octet-stream", headers=_IMMUTABLE)

    @router.post("/append", responses=_APPEND_OUT, openapi_extra=problems.raw_body("application/octet-stream"))
    async def append(
        request: Request, not_before: Annotated[int | None, Query(ge=0, lt=MAX_TREE_SIZE)] = None
    ) -> Response:
        # not_before: a retry of an append whose answer was lost; an entry already at or after it is not
        # appended again (LogService.resend_many)
        body = await request.body()
        if not_before is None:
            receipt = await service.append_async(body)
        else:
            receipt = await service.resend_async(body, not_before=not_before)
        return _json({"index": receipt.index, "leaf_hash": receipt.leaf_hash.hex()})

    @router.post("/append/batch", responses=_BATCH_OUT, openapi_extra=problems.raw_body(batch.MEDIA_TYPE))
    async def append_batch(
        request: Request, not_before: Annotated[int | None, Query(ge=0, lt=MAX_TREE_SIZE)] = None
    ) -> Response:
        # many entries in one frame (sekisho.auditlog.batch): consecutive indices, one transaction
        entries = batch.decode_entries(await request.body())
        if not_before is None:
            receipts = await service.append_many_async(entries)
        else:
            receipts = await service.resend_many_async(entries, not_before=not_before)
        return _json(batch.receipts_body(receipts))

    @router.get("/proof/inclusion")
    def inclusion(index: Annotated[int, Query(ge=0)], size: Annotated[int, Query(ge=1)]) -> Response:
        proof = service.inclusion_proof(index=index, size=size)
        return _json({"index": index, "size": size, "proof": b64_proof(proof)})

    @router.get("/proof/consistency")
    def consistency(old: Annotated[int, Query(ge=0)], new: Annotated[int, Query(ge=0)]) -> Response:
        proof = service.consistency_proof(old=old, new=new)
        return _json({"old": old, "new": new, "proof": b64_proof(proof)})

    return router


def mount_log(app: FastAPI, service: LogService) -> None:
    """The log's routes on ``app``, with ``POST /append`` answered by :class:`AppendFastPath` before the router
    (every process that serves the log: ``sekisho log serve`` and the log party of ``sekisho up``)."""
    app.include_router(log_router(service))
    app.add_middleware(AppendFastPath, service=service)


def witness_router(witness: Witness) -> APIRouter:
    router = APIRouter()

    @router.post(
        "/add-checkpoint",
        response_class=Response,
        responses={**problems.text(_TEXT), 409: {"content": {"text/x.tlog.size": {"schema": {"type": "string"}}}}},
        openapi_extra=problems.raw_body(_TEXT, binary=False),
    )
    async def add_checkpoint(request: Request) -> Response:
        body = (await request.body()).decode("utf-8", errors="replace")
        try:
            lines = witness.add_checkpoint_request(body)
        except StaleOldSize as exc:
            return PlainTextResponse(f"{exc.size}\n", status_code=409, media_type="text/x.tlog.size")
        return PlainTextResponse(lines, media_type=_TEXT)

    return router


def create_app(service: LogService | None = None, witness: Witness | None = None) -> FastAPI:
    """The log's (and/or the witness's) HTTP app; the log's writer runs on the server's event loop."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if service is not None:
            await service.start()
        yield
        if service is not None:
            await service.stop()

    app = FastAPI(title="Sekisho access log", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    problems.install(app)  # RFC 9457 for domain, schema and routing errors alike; nothing of the request echoed
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    if service is not None:
        mount_log(app, service)
    if witness is not None:
        app.include_router(witness_router(witness))
    return app
