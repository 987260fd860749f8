"""``application/x-www-form-urlencoded`` bodies (OAuth token requests, OpenID4VP direct_post) read with the standard
library, capped in size: FastAPI's Form needs python-multipart, which this project does not depend on."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request

from sekisho.errors import InvalidInput, TooLarge

MAX_FORM = 128 * 1024


async def read_form(request: Request) -> dict[str, str]:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise InvalidInput("the body must be application/x-www-form-urlencoded", field="content-type")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise TooLarge("the form is too large", field="body")
    try:
        fields = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("not a URL-encoded form", field="body") from None
    return {k: v[0] for k, v in fields.items() if len(v) == 1}


def form_body(*names: str) -> dict[str, Any]:
    props = {n: {"type": "string"} for n in names}
    schema = {"type": "object", "required": list(names), "properties": props}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}
