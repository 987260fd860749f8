"""A verifier endpoint in the message shapes of OpenID4VP 1.0 (``response_mode=direct_post``, a DCQL query for one
``dc+sd-jwt`` credential): the relying party asks for exactly the claims it needs, with a fresh nonce and its own
audience (``client_id``); the wallet answers with a ``vp_token``; the answer is verified once and fails closed."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from sekisho.errors import InvalidInput, NotFound
from sekisho.vc.forms import form_body, read_form
from sekisho.verifier.verify import VCT, Requirement, Verifier

REQUEST_TTL = 300
QUERY_ID = "resident"


class RequestIn(BaseModel):
    require: list[str] = Field(min_length=1, max_length=20)


class Requests:
    """Open authorisation requests (state → nonce and requirements), each answerable once."""

    def __init__(self, verifier: Verifier, *, client_id: str, clock: Callable[[], float] = time.time) -> None:
        self.verifier = verifier
        self.client_id = client_id
        self.clock = clock
        self._open: dict[str, tuple[str, tuple[Requirement, ...], float]] = {}
        self._lock = threading.Lock()

    def new(self, require: Sequence[str], *, response_uri: str) -> dict[str, Any]:
        reqs = tuple(Requirement.parse(r) for r in require)
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
        with self._lock:
            now = self.clock()
            for k in [k for k, v in self._open.items() if v[2] <= now]:
                del self._open[k]
            self._open[state] = (nonce, reqs, now + REQUEST_TTL)
        claims = [{"path": [r.claim]} | ({"values": [r.value]} if r.value is not True else {}) for r in reqs]
        return {
            "client_id": self.client_id,
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "response_uri": response_uri,
            "nonce": nonce,
            "state": state,
            "dcql_query": {
                "credentials": [
                    {"id": QUERY_ID, "format": "dc+sd-jwt", "meta": {"vct_values": [VCT]}, "claims": claims}
                ]
            },
        }

    def answer(self, *, state: str, vp_token: str) -> dict[str, Any]:
        with self._lock:
            entry = self._open.pop(state, None)  # one answer per request, right or wrong
        if entry is None or entry[2] <= self.clock():
            raise NotFound("no open request with this state", field="state")
        nonce, reqs, _ = entry
        try:
            token = json.loads(vp_token)
            presentation = token[QUERY_ID][0] if isinstance(token[QUERY_ID], list) else token[QUERY_ID]
        except (ValueError, KeyError, TypeError, IndexError):
            raise InvalidInput(f"vp_token must be a JSON object with {QUERY_ID!r}", field="vp_token") from None
        if not isinstance(presentation, str):
            raise InvalidInput("the presentation must be a string", field="vp_token")
        out = self.verifier.verify(presentation, nonce=nonce, audience=self.client_id, require=reqs)
        return {"verified": True, "issuer": out.issuer, "claims": dict(out.claims)}


def router(requests: Requests, *, base_url: str) -> APIRouter:
    r = APIRouter(prefix="/verifier", tags=["verifier"])

    @r.post("/requests")
    def new_request(body: RequestIn) -> dict[str, Any]:
        return requests.new(body.require, response_uri=f"{base_url.rstrip('/')}/verifier/response")

    @r.post("/response", openapi_extra={"requestBody": form_body("state", "vp_token")})
    async def response(request: Request) -> dict[str, Any]:
        form = await read_form(request)
        return requests.answer(state=form.get("state", ""), vp_token=form.get("vp_token", ""))

    return r
