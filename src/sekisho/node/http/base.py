"""What every HTTP client of a protocol does with one request."""

from __future__ import annotations

import httpx

from sekisho.errors import Unavailable
from sekisho.problems import raise_for_problem


def send(
    client: httpx.Client, method: str, path: str, *, json: object = None, params: dict[str, str] | None = None
) -> httpx.Response:
    """One request; a transport failure is :class:`~sekisho.errors.Unavailable` (the peer is not reachable), an
    error answer the exception its problem document names.  The URL is not in the message (it names the peer)."""
    try:
        response = client.request(method, path, json=json, params=params)
    except httpx.TransportError as exc:
        raise Unavailable(f"the party cannot be reached ({type(exc).__name__})", field="network") from None
    raise_for_problem(response)
    return response
