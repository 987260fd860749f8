"""A :class:`LocalNetwork` whose T1, T2, locator and municipalities are reached through the HTTP clients
(``sekisho.node.http``) and the parties' real routers, over an in-memory ASGI transport."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from sekisho import problems
from sekisho.locator import api as locator_api
from sekisho.node.http.locator import HttpLocator, HttpRegistryIndex
from sekisho.node.http.municipality import HttpResponder
from sekisho.node.http.relay import HttpRelay, t1_onward, t2_onward
from sekisho.node.http.transcryptor import HttpTranscryptor
from sekisho.node.local import LocalNetwork, _TranscryptorClient
from sekisho.pep.flows import conversion_request, prepare_batch
from sekisho.protocols.agency import CrossReferenceLocator, Locator, LocatorRoute
from sekisho.protocols.conversion import REGISTRY_DOMAIN, ConversionRequest, Hop
from sekisho.protocols.registry import RegistryIndex
from sekisho.pseudonyms import api as transcryptor_api
from sekisho.pseudonyms.transcryptor import Transcryptor
from sekisho.registry import responder_api


def party_app(router: Any) -> FastAPI:
    app = FastAPI()
    problems.install(app)
    app.include_router(router)
    return app


def client(app: FastAPI, party: str) -> TestClient:
    # raise_server_exceptions=False: an unexpected error reaches the client as the 500 problem document a real
    # server sends, not as the server's exception
    return TestClient(app, base_url=f"http://{party.replace('/', '-')}.test", raise_server_exceptions=False)


def transcryptor_app(t: Transcryptor, onward: transcryptor_api.Onward | None = None) -> FastAPI:
    local = _TranscryptorClient(t)
    return party_app(transcryptor_api.router(t.convert, lambda d, r: local.key_share(d, requester=r), onward=onward))


class HttpNetwork(LocalNetwork):
    """T1, T2, the locator and the municipalities' responders over HTTP; everything else as in-process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[str, TestClient] = {}

    def _client(self, party: str, make: Any) -> TestClient:
        found = self._clients.get(party)
        if found is None:
            found = self._clients[party] = client(make(), party)
        return found

    def _transcryptor_client(self, party: str) -> TestClient:
        [t] = [t for t in self._open_transcryptors() if t.party == party]

        def make() -> FastAPI:
            # /relay as the node wires it: T1 hands on to T2, T2 to the locator (or back to the caller)
            if party == "t1":
                return transcryptor_app(t, t1_onward(lambda: HttpRelay(self._transcryptor_client("t2"))))
            return transcryptor_app(t, t2_onward(lambda: self._client("locator", self._locator_app)))

        return self._client(party, make)

    def http_transcryptor(self, party: str) -> HttpTranscryptor:
        return HttpTranscryptor(self._transcryptor_client(party), party=party)

    def http_relay(self) -> HttpRelay:
        return HttpRelay(self._transcryptor_client("t1"))

    def locator_route(self) -> LocatorRoute:
        # one request to T1's relay: T1 → T2 → the locator → the municipalities, the answers back the same way
        return self.http_relay()

    def hops(self) -> list[Hop]:
        return [self.http_transcryptor(t.party) for t in self._open_transcryptors()]

    def http_responder(self, code: str) -> HttpResponder:
        def make() -> FastAPI:
            local = super(HttpNetwork, self).responder(code)
            return party_app(responder_api.router(local, local))

        return HttpResponder(self._client(f"municipality/{code}", make))

    def _locator_app(self) -> FastAPI:
        return party_app(locator_api.router(self.locator_service(), self.http_responder))

    def http_locator(self) -> HttpLocator:
        return HttpLocator(self._client("locator", self._locator_app))

    def locator(self) -> Locator:
        return self.http_locator()

    def cross_reference_locator(self) -> CrossReferenceLocator:
        return self.http_locator()

    def registry_index(self, code: str) -> RegistryIndex:
        from sekisho.policy.grants import INDEX_PURPOSE

        def prepare(pps: Sequence[bytes]) -> ConversionRequest:
            return conversion_request(
                prepare_batch(pps, self.params.public_key),
                network=self.params,
                from_domain=REGISTRY_DOMAIN,
                to_domain=REGISTRY_DOMAIN,
                purpose=INDEX_PURPOSE,
                grant=self.grants().index_grant(municipality=code, count=len(pps)),
                requester=f"municipality/{code}",
            )

        return HttpRegistryIndex(self.http_locator(), code=code, hops=self.hops(), prepare=prepare)

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()
        super().close()
