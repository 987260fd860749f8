"""The municipality of origin as the destination's register reaches it over HTTP (``sekisho.registry.transfer_api``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date

import httpx

from sekisho.errors import NotFound
from sekisho.node.http.base import send
from sekisho.protocols.registry import TransferPackage, TransferSource
from sekisho.registry.transfer_api import PREFIX, PackageBody


class HttpTransferSource:
    """:class:`~sekisho.protocols.registry.TransferSource` over ``client`` (base URL: the origin's node).  The
    token is in the request body, never in the URL."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def fetch_transfer(self, token: str, *, requester: str) -> TransferPackage:
        # a plain dict: the origin validates it (a bad requester comes back as a problem document, not pydantic's)
        body = {"token": token, "requester": requester}
        answer = send(self._client, "POST", f"{PREFIX}/fetch", json=body)
        return PackageBody.model_validate(answer.json()).to_domain()

    def complete_transfer(self, token: str, *, requester: str, moved_on: date, destination_line: str) -> None:
        body = {
            "token": token,
            "requester": requester,
            "moved_on": moved_on.isoformat(),
            "destination_line": destination_line,
        }
        send(self._client, "POST", f"{PREFIX}/complete", json=body)

    def __repr__(self) -> str:
        return "HttpTransferSource()"


class HttpDirectory:
    """:class:`~sekisho.protocols.registry.Directory` over HTTP: municipality code -> a client for its node
    (a mapping, or a function that returns None for a code the network does not know)."""

    def __init__(self, clients: Mapping[str, httpx.Client] | Callable[[str], httpx.Client | None]) -> None:
        self._clients = clients

    def municipality(self, code: str) -> TransferSource:
        client = self._clients.get(code) if isinstance(self._clients, Mapping) else self._clients(code)
        if client is None:
            raise NotFound("no such municipality in the network", field="municipality")
        return HttpTransferSource(client)
