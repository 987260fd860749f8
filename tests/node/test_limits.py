"""The limits every party keeps (sekisho.node.limits): the body size before anything reads it (413 problem, nothing
of the request echoed) and the clients' timeouts, from the environment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI, Request

from sekisho import problems
from sekisho.errors import InvalidInput
from sekisho.node import limits
from sekisho.node.limits import BodyLimit

LIMIT = 64


def _app() -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    return app


def _post(content: bytes | Iterator[bytes]) -> httpx.Response:
    transport = httpx.ASGITransport(app=BodyLimit(_app(), limit=LIMIT))

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://party.test") as client:
            return await client.post("/echo", content=content)

    return asyncio.run(go())


def _too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == problems.MEDIA_TYPE
    assert response.json()["field"] == "body"
    assert "SECRET" not in response.text


def test_a_body_within_the_limit_reaches_the_app() -> None:
    response = _post(b"x" * LIMIT)
    assert response.status_code == 200 and response.json() == {"received": LIMIT}


def test_a_body_declared_larger_is_refused_before_it_is_read() -> None:
    _too_large(_post(b"SECRET" * LIMIT))


def test_a_streamed_body_that_grows_beyond_the_limit_is_refused() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"SECRET-" * 8

    transport = httpx.ASGITransport(app=BodyLimit(_app(), limit=LIMIT))

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://party.test") as client:
            return await client.post("/echo", content=chunks())

    response = asyncio.run(go())
    assert "content-length" not in {k.lower() for k in response.request.headers}
    _too_large(response)


def test_the_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (limits.max_body(), limits.connect_timeout(), limits.read_timeout()) == (
        limits.MAX_BODY,
        limits.CONNECT_TIMEOUT,
        limits.READ_TIMEOUT,
    )
    monkeypatch.setenv("SEKISHO_MAX_BODY", "1024")
    monkeypatch.setenv("SEKISHO_CONNECT_TIMEOUT", "0.5")
    monkeypatch.setenv("SEKISHO_READ_TIMEOUT", "2")
    assert (limits.max_body(), limits.connect_timeout(), limits.read_timeout()) == (1024, 0.5, 2.0)
    assert BodyLimit(_app()).limit == 1024
    monkeypatch.setenv("SEKISHO_READ_TIMEOUT", "soon")
    with pytest.raises(InvalidInput) as bad:
        limits.read_timeout()
    assert bad.value.field == "SEKISHO_READ_TIMEOUT"
