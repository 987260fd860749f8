"""RFC 9457 problem documents: the one mapping from :class:`~sekisho.errors.SekishoError` to HTTP.

Every party's web service installs :func:`install`.  A problem document carries the error's kind (as the
``type`` URI), a fixed ``title`` per kind (RFC 9457 §3.1.3: the title does not change from occurrence to
occurrence), the occurrence's ``detail`` — which names a field and a rule, never a value — and the ``field``.
Schema errors report only *where* the request was wrong, because pydantic's own messages echo the input.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sekisho.errors import (
    Conflict,
    ErrorList,
    InvalidInput,
    NotFound,
    Refused,
    SekishoError,
    TooLarge,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:sekisho:problem:"

TITLES = {
    "error": "Error",
    "invalid-input": "Invalid input",
    "not-found": "Not found",
    "conflict": "Conflict with the current state",
    "refused": "Refused by policy",
    "unauthenticated": "Authentication required",
    "forbidden": "Not allowed for the caller's role",
    "too-many-requests": "Too many requests",
    "too-large": "Request too large",
    "integrity": "Verification failed",
    "unavailable": "A party is unavailable",
}

log = logging.getLogger("sekisho.problems")

# what install() documents for every error response, so that tools reading a party's OpenAPI expect what it sends
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
    },
}


def _problem_content() -> dict[str, Any]:
    return {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def binary(media_type: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose 200 is bytes of ``media_type`` (FastAPI would document JSON)."""
    return {200: {"content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}}


def text(media_type: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose 200 is text of ``media_type``."""
    return {200: {"content": {media_type: {"schema": {"type": "string"}}}}}


def raw_body(media_type: str, *, binary: bool = True) -> dict[str, Any]:
    """``openapi_extra=`` for a route that reads its body itself (``await request.body()``), which FastAPI cannot
    see and would otherwise document as taking no body at all."""
    schema = {"type": "string", "format": "binary"} if binary else {"type": "string"}
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


def _document_problems(app: FastAPI) -> None:
    """Error responses in the app's OpenAPI are problem documents, not FastAPI's HTTPValidationError JSON."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue  # a path item's own parameters or servers
                responses = operation["responses"]
                for code, response in responses.items():
                    content = response.get("content", {})
                    if str(code)[:1] in ("4", "5") and "application/json" in content:  # also "4XX"
                        response["content"] = {
                            **_problem_content(),
                            **{k: v for k, v in content.items() if k != "application/json"},
                        }
                        if code == "422":
                            response["description"] = "Invalid input (RFC 9457 problem document)"
                responses.setdefault(
                    "default", {"description": "An error (RFC 9457 problem document)", "content": _problem_content()}
                )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        components["Problem"] = PROBLEM_SCHEMA
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _title(exc: SekishoError) -> str:
    # a kind of its own (certificate-revoked, log-diverges) takes the title of the nearest kind that has one
    for cls in type(exc).__mro__:
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str) and kind in TITLES:
            return TITLES[kind]
    return TITLES["error"]


def problem_body(exc: SekishoError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + exc.kind,
        "title": _title(exc),
        "status": exc.status,
        "detail": str(exc),
    }
    if exc.field:
        body["field"] = exc.field
    return body


def problem_headers(exc: SekishoError) -> dict[str, str]:
    """Headers the status requires beside the body: Retry-After for 429 (RFC 6585 §4)."""
    if isinstance(exc, TooManyRequests):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def problem_response(exc: SekishoError) -> JSONResponse:
    return JSONResponse(problem_body(exc), status_code=exc.status, media_type=MEDIA_TYPE, headers=problem_headers(exc))


def install(app: FastAPI) -> None:
    """Map domain errors, schema errors and anything unexpected to problem documents, and say so in the OpenAPI."""
    _document_problems(app)

    @app.exception_handler(SekishoError)
    async def _domain(_request: Request, exc: SekishoError) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _schema(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0].get("loc", ())) if errors else ""
        return problem_response(InvalidInput("the request does not match the schema", field=where or "body"))

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        # the router's own errors (no such route, a method the route does not take): RFC 9457 §4.2.1 "about:blank",
        # titled with the status phrase; the framework's detail is not copied, so nothing of the request comes back
        if exc.status_code == 404:
            return problem_response(NotFound("no such resource"))
        try:
            title = HTTPStatus(exc.status_code).phrase
        except ValueError:
            title = TITLES["error"]
        body = {"type": "about:blank", "title": title, "status": exc.status_code}
        return JSONResponse(body, status_code=exc.status_code, media_type=MEDIA_TYPE, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # the type only: an exception's text may carry data the request held
        log.error("unexpected error in a request handler: %s", type(exc).__name__)
        return problem_response(SekishoError("the service failed; nothing was changed by this request"))


# --- the client side: a problem document back to the error it stands for ------------------------------------


@functools.cache
def _kinds() -> dict[str, type[SekishoError]]:
    """Problem kind -> the :mod:`sekisho.errors` class that carries it (the most general class of a kind; only
    that module's classes, whose constructors take a message and a field: refinements elsewhere, such as the
    wire's, need more)."""
    import sekisho.errors as errors

    kinds: dict[str, type[SekishoError]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, SekishoError):
            kind = value.__dict__.get("kind", value.kind)
            known = kinds.get(kind)
            if known is None or issubclass(known, value):  # ErrorList shares invalid-input: keep InvalidInput
                kinds[kind] = value
    return kinds


_BY_STATUS: dict[int, type[SekishoError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: Refused,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: InvalidInput,
    429: TooManyRequests,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


def error_from_problem(status: int, body: object, headers: Mapping[str, str] | None = None) -> SekishoError:
    """The :class:`SekishoError` a problem document (or any error answer) stands for: its kind from ``type``,
    else from the status; its field and message from ``field`` and ``detail``."""
    doc = body if isinstance(body, dict) else {}
    kind = str(doc.get("type", ""))
    kind = kind[len(TYPE_PREFIX) :] if kind.startswith(TYPE_PREFIX) else ""
    cls = _kinds().get(kind) or _BY_STATUS.get(status) or (Unavailable if status >= 502 else SekishoError)
    field = doc.get("field") if isinstance(doc.get("field"), str) else None
    detail = doc.get("detail") if isinstance(doc.get("detail"), str) else None
    title = doc.get("title") if isinstance(doc.get("title"), str) else None
    message = detail or title or TITLES["error"]
    if field and message.startswith(field + ": "):
        message = message[len(field) + 2 :]
    if cls is ErrorList:  # shares invalid-input; its list of problems does not travel
        cls = InvalidInput
    if issubclass(cls, TooManyRequests):
        retry = (headers or {}).get("retry-after", "1")
        return TooManyRequests(message, field=field, retry_after=int(retry) if retry.isdigit() else 1)
    try:
        return cls(message, field=field)
    except TypeError:  # a kind whose constructor takes more than a message (its base stands in for it)
        base = _BY_STATUS.get(status, SekishoError)
        return base(message, field=field)


def raise_for_problem(response: httpx.Response) -> httpx.Response:
    """Return a 2xx response; raise the error an error answer stands for."""
    if response.is_success:
        return response
    try:
        body = response.json()
    except ValueError:
        body = None
    raise error_from_problem(response.status_code, body, response.headers)


def send(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request to another party: a party that cannot be reached is :class:`Unavailable` (exit 5), an error
    answer the error it stands for."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        # the type only: the text may hold the address, never personal data, but keep it short and fixed
        raise Unavailable(f"the party could not be reached ({type(exc).__name__})", field="party") from None
    return raise_for_problem(response)


async def read_body(request: Request, limit: int) -> bytes:
    """A raw body of at most ``limit`` bytes (413 beyond), read without holding more than that in memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the body is larger than {limit} bytes", field="body")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"the body is larger than {limit} bytes", field="body")
    return bytes(body)
