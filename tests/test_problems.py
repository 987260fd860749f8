"""The one mapping from domain errors to RFC 9457 problem documents."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from sekisho import problems
from sekisho.errors import (
    Conflict,
    Forbidden,
    IntegrityError,
    InvalidInput,
    NotFound,
    Refused,
    SekishoError,
    TooLarge,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)


class Body(BaseModel):
    birth_date: int


def _app(exc: Exception) -> TestClient:
    app = FastAPI()
    problems.install(app)

    @app.get("/raise")
    def raise_it() -> None:
        raise exc

    @app.post("/schema")
    def schema(body: Body) -> dict[str, int]:
        return {"ok": body.birth_date}

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (InvalidInput("is in the future", field="birth_date"), 422, "invalid-input"),
        (NotFound("no resident with this handle", field="handle"), 404, "not-found"),
        (Conflict("already active", field="transfer"), 409, "conflict"),
        (Refused("no legal basis", field="purpose"), 403, "refused"),
        (IntegrityError("the log diverges at index 7"), 500, "integrity"),
        (Unavailable("the locator cannot be reached", field="locator"), 503, "unavailable"),
        (Unauthenticated("a client certificate is required", field="client-certificate"), 401, "unauthenticated"),
        (Forbidden("the caller's role may not call this endpoint", field="role"), 403, "forbidden"),
        (TooManyRequests("too many requests from this caller", field="rate"), 429, "too-many-requests"),
        (TooLarge("the body may be at most 1048576 bytes", field="body"), 413, "too-large"),
    ],
)
def test_domain_errors(exc: SekishoError, status: int, kind: str) -> None:
    r = _app(exc).get("/raise")
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == f"urn:sekisho:problem:{kind}"
    assert body["status"] == status
    assert body["title"] == problems.TITLES[kind]
    assert body["detail"] == str(exc)
    assert body.get("field") == exc.field


def test_too_many_requests_says_when_to_come_back() -> None:
    r = _app(TooManyRequests("too many requests from this caller", retry_after=7)).get("/raise")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"


def test_exit_codes_of_the_new_kinds() -> None:
    # refused by the other party: 3, like a policy refusal; over a rate limit: 5, unavailable for now
    assert Unauthenticated("x").exit_code == 3
    assert Forbidden("x").exit_code == 3 and isinstance(Forbidden("x"), Refused)
    assert TooManyRequests("x").exit_code == 5
    assert TooLarge("x").exit_code == 2


def test_schema_errors_name_the_place_not_the_value() -> None:
    r = _app(RuntimeError()).post("/schema", json={"birth_date": "昭和50年4月1日"})
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "body.birth_date"
    assert "昭和50年4月1日" not in r.text


def test_unexpected_errors_say_nothing_about_the_request() -> None:
    r = _app(RuntimeError("髙橋 健一 1975-04-01")).get("/raise")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "髙橋" not in r.text
    assert "1975" not in r.text


def test_routing_errors_are_problem_documents() -> None:
    """Found by schemathesis: an unknown path or an unsupported method got the framework's plain JSON."""
    client = _app(RuntimeError())
    missing = client.get("/no/such/path/山田")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"] == "urn:sekisho:problem:not-found"
    assert "山田" not in missing.text
    method = client.request("TRACE", "/schema")
    assert method.status_code == 405
    assert method.headers["content-type"] == "application/problem+json"
    assert method.headers["allow"] == "POST"
    assert method.json() == {"type": "about:blank", "title": "Method Not Allowed", "status": 405}


def test_openapi_documents_errors_as_problem_documents() -> None:
    """Found by schemathesis: the OpenAPI promised FastAPI's HTTPValidationError JSON for every 422."""
    schema = _app(RuntimeError()).app.openapi()  # type: ignore[attr-defined]
    responses = schema["paths"]["/schema"]["post"]["responses"]
    assert list(responses["422"]["content"]) == ["application/problem+json"]
    assert list(responses["default"]["content"]) == ["application/problem+json"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]
