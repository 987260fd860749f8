"""Role -> ASGI app: every party's web service, built from its home the way ``sekisho serve`` runs it.

Every app is a :func:`base_app`: ``GET /health`` (role, name, version, whether the party's database answers),
``GET /openapi.json``, and RFC 9457 problem documents for every error, unknown paths included.  A party that has
an HTTP API (the access log, the PKI, the watchdog) has its routers mounted on it; the others serve only that much
until their protocols get HTTP endpoints — which are added here, in the role's factory.

A party whose keys are not set up yet (`sekisho log init`, `sekisho pki init`, …) still starts: its health check
answers 503 and says what is missing, so that `sekisho up` on a fresh home shows every party and which ones wait.

Each factory imports its party's modules itself, so that a process loads only the party it runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from sekisho import __version__, problems
from sekisho.config import Home
from sekisho.errors import SekishoError, Unavailable
from sekisho.node.health import DatabaseProbe
from sekisho.node.roles import TITLES, Role

Hook = Callable[[], Awaitable[None]]

_HEALTH_OK: dict[str, Any] = {
    "title": "Health",
    "type": "object",
    "required": ["role", "party", "version", "status", "database"],
    "properties": {
        "role": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "party": {"type": "string"},
        "version": {"type": "string"},
        "status": {"type": "string", "enum": ["ok"]},
        "database": {"type": "string", "enum": ["ok"]},
    },
}
_HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The party is up and its database answers",
        "content": {"application/json": {"schema": _HEALTH_OK}},
    },
    503: {
        "description": "The party is not ready (RFC 9457 problem document, with role, party and version)",
        "content": {problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    },
}


def _not_set_up(exc: SekishoError) -> Unavailable:
    # the services' own messages already say which command sets the party up
    return exc if isinstance(exc, Unavailable) else Unavailable(exc.message, field=exc.field or "setup")


def base_app(
    role: Role,
    home: Home,
    *,
    not_ready: SekishoError | None = None,
    on_start: Hook | None = None,
    on_stop: Hook | None = None,
) -> FastAPI:
    """A party's app with its health check and problem documents; ``not_ready`` keeps health at 503."""
    probe = DatabaseProbe(home, role)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if on_start is not None:
            await on_start()
        try:
            yield
        finally:
            # the party's own shutdown first (e.g. the log finishes its queued appends), then the probe's engine
            if on_stop is not None:
                await on_stop()
            probe.close()

    title = f"Sekisho {TITLES[role.role]}" + (f" {role.name}" if role.name else "")
    app = FastAPI(
        title=title, version=__version__, openapi_url="/openapi.json", docs_url=None, redoc_url=None, lifespan=lifespan
    )
    problems.install(app)
    facts = {"role": role.role, "name": role.name, "party": role.party, "version": __version__}

    @app.get("/health", tags=["health"], response_class=JSONResponse, responses=_HEALTH_RESPONSES)
    def health() -> JSONResponse:
        # a plain def: FastAPI runs it on a worker thread, so a slow database does not stall the event loop
        try:
            if not_ready is not None:
                raise not_ready
            probe.check()
        except SekishoError as exc:
            body = {**problems.problem_body(_not_set_up(exc)), **facts}
            return JSONResponse(body, status_code=503, media_type=problems.MEDIA_TYPE)
        return JSONResponse({**facts, "status": "ok", "database": "ok"})

    return app


# --- the parties ---------------------------------------------------------------------------------------------


def log_app(role: Role, home: Home) -> FastAPI:
    from sekisho.auditlog.api import log_router
    from sekisho.auditlog.service import LogService

    try:
        service = LogService.open(home)
    except SekishoError as exc:
        return base_app(role, home, not_ready=_not_set_up(exc))

    async def start() -> None:
        await service.start()

    async def stop() -> None:
        await service.aclose()  # finishes the queued appends, then releases the database

    app = base_app(role, home, on_start=start, on_stop=stop)
    app.include_router(log_router(service))
    return app


def watchdog_app(role: Role, home: Home) -> FastAPI:
    from sekisho.auditlog.api import witness_router
    from sekisho.auditlog.witness import Witness
    from sekisho.policy.api import router
    from sekisho.policy.service import Watchdog
    from sekisho.pseudonyms.keyfile import passphrase_from_env

    secret = passphrase_from_env()
    try:
        watchdog = Watchdog.open(home, passphrase=secret)
    except SekishoError as exc:
        return base_app(role, home, not_ready=_not_set_up(exc))
    witness = None
    if secret is not None:
        # the watchdog also cosigns the log's checkpoints, once `sekisho log init` has given it a witness key
        with contextlib.suppress(SekishoError):
            witness = Witness.open(home, secret=secret)

    async def stop() -> None:
        watchdog.engine.dispose()
        if witness is not None:
            witness.engine.dispose()

    app = base_app(role, home, on_stop=stop)
    app.include_router(router(watchdog))
    if witness is not None:
        app.include_router(witness_router(witness))
    return app


def pki_app(role: Role, home: Home) -> FastAPI:
    from sekisho.pki.api import DEFAULT_AUDIENCE, DEFAULT_TRUST, router
    from sekisho.pki.service import Pki

    try:
        pki = Pki.open(home)
        pki.keyring.session_key()  # the PKI is initialised and its keys open with the passphrase
    except SekishoError as exc:
        return base_app(role, home, not_ready=_not_set_up(exc))

    async def stop() -> None:
        pki.engine.dispose()

    app = base_app(role, home, on_stop=stop)
    audience = os.environ.get("SEKISHO_PKI_AUDIENCE", DEFAULT_AUDIENCE)
    trust = os.environ.get("SEKISHO_PKI_TRUST", DEFAULT_TRUST)
    app.include_router(router(pki, audience=audience, trust=trust))
    return app


def municipality_app(role: Role, home: Home) -> FastAPI:
    from sekisho.jp.catalogue import get_municipality

    get_municipality(role.name or "", field="name")  # a real municipality's code, with its check digit
    return base_app(role, home)


def plain_app(role: Role, home: Home) -> FastAPI:
    """The locator, T1, T2 and an agency: health and OpenAPI until their protocols are served over HTTP."""
    return base_app(role, home)


FACTORIES: dict[str, Callable[[Role, Home], FastAPI]] = {
    "municipality": municipality_app,
    "locator": plain_app,
    "t1": plain_app,
    "t2": plain_app,
    "watchdog": watchdog_app,
    "log": log_app,
    "pki": pki_app,
    "agency": plain_app,
}


def create_app(role: Role, home: Home) -> FastAPI:
    return FACTORIES[role.role](role, home)


def app_from_env() -> FastAPI:
    """``uvicorn --factory sekisho.node.apps:app_from_env``: the role from ``SEKISHO_ROLE`` (and
    ``SEKISHO_NAME``), the home and database from ``SEKISHO_HOME`` / ``SEKISHO_DB``."""
    role = Role(os.environ.get("SEKISHO_ROLE", ""), os.environ.get("SEKISHO_NAME") or None)
    return create_app(role, Home.from_env())
