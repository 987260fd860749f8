"""The new routes are documented: bodies, answers, and problem documents for every error."""

from __future__ import annotations

from fastapi import FastAPI

from sekisho import problems
from sekisho.agency.api import router as agency_router
from sekisho.policy.grants_api import router as grants_router
from sekisho.registry.transfer_api import router as transfer_router


def _schema(*routers: object) -> dict[str, object]:
    app = FastAPI()
    problems.install(app)
    for r in routers:
        app.include_router(r)  # type: ignore[arg-type]
    return app.openapi()


def test_every_route_takes_a_documented_body_and_answers_problems() -> None:
    schema = _schema(agency_router(None), transfer_router(None), grants_router(None))  # type: ignore[arg-type]
    paths = schema["paths"]
    assert isinstance(paths, dict)
    expected = {
        ("/agency/purposes/{purpose}/items", "get"),
        ("/agency/enrolments", "post"),
        ("/agency/notices", "post"),
        ("/agency/cross-references", "post"),
        ("/transfers/fetch", "post"),
        ("/transfers/complete", "post"),
        ("/policy/grants", "post"),
    }
    assert {(p, m) for p, item in paths.items() for m in item} == expected
    for path, method in expected:
        operation = paths[path][method]
        if method == "post":
            assert "application/json" in operation["requestBody"]["content"]
        assert list(operation["responses"]["422"]["content"]) == [problems.MEDIA_TYPE]
        assert problems.MEDIA_TYPE in operation["responses"]["default"]["content"]
    # the transfer token is a body field, never a parameter
    for method in ("fetch", "complete"):
        assert "parameters" not in paths[f"/transfers/{method}"]["post"]
