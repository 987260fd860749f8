"""The home's desk over HTTP (``/certificates/<code>``): the published key verifies what the desk signs, a request
naming another counter than the authenticated party is forbidden, and bad bodies are problem documents."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.jwk import ECKey

from sekisho import problems
from sekisho.certificates.api import router
from sekisho.certificates.model import canonical
from sekisho.certificates.service import Desk
from sekisho.certificates.signing import registry

from .conftest import CHIYODA, GIFU, Residents

Scope = MutableMapping[str, Any]


@dataclass
class _Party:
    name: str


@dataclass
class _Caller:
    party: _Party


def _app(desk: Desk, caller: str | None) -> FastAPI:
    app = FastAPI()
    problems.install(app)
    app.include_router(router(GIFU, lambda: desk))
    if caller is None:
        return app
    inner = app

    async def guarded(
        scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        # what sekisho.wire's guard leaves for the app: the authenticated party
        if scope["type"] == "http":
            scope.setdefault("state", {})["sekisho_caller"] = _Caller(_Party(caller))
        await inner(scope, receive, send)

    return guarded  # type: ignore[return-value]


def test_the_published_key_verifies_a_json_form_issued_over_http(desk: Desk, residents: Residents) -> None:
    client = TestClient(_app(desk, f"municipality/{CHIYODA}"))
    keys = client.get(f"/certificates/{GIFU}/key").json()["keys"]
    key = ECKey.import_key({k: keys[0][k] for k in ("kty", "crv", "x", "y")})
    answer = client.post(
        f"/certificates/{GIFU}/issue",
        json={"handle": residents.head, "counter": CHIYODA, "kind": "self", "items": ["kana"], "form": "json"},
    )
    assert answer.status_code == 200, answer.text
    data = json.loads(answer.content)
    assert answer.headers["x-certificate-serial"] == data["certificate"]["serial"]
    jws.deserialize_compact(data["jws"], key, payload=canonical(data["certificate"]), registry=registry())


def test_another_counter_than_the_caller_is_forbidden(desk: Desk, residents: Residents) -> None:
    client = TestClient(_app(desk, "municipality/271004"))
    answer = client.post(
        f"/certificates/{GIFU}/issue", json={"handle": residents.head, "counter": CHIYODA, "kind": "self"}
    )
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith(problems.MEDIA_TYPE)


@pytest.mark.parametrize(
    "body",
    [
        {"handle": "QQQQ", "counter": CHIYODA, "kind": "self"},
        {"handle": "QQQQ-QQQQ-QQQ", "counter": "13101", "kind": "self"},
        {"handle": "QQQQ-QQQQ-QQQ", "counter": CHIYODA, "kind": "boss"},
        {"handle": "QQQQ-QQQQ-QQQ", "counter": CHIYODA, "kind": "self", "items": ["everything"]},
    ],
)
def test_bad_bodies_are_problem_documents(desk: Desk, body: dict[str, object]) -> None:
    answer = TestClient(_app(desk, None)).post(f"/certificates/{GIFU}/issue", json=body)
    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"].startswith(problems.MEDIA_TYPE)
    assert "QQQQ" not in answer.text  # the handle is not echoed
