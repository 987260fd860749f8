"""The network as one party sees it over HTTP: a client per peer, read from ``<home>/run/network.json``.

:class:`HttpNetwork` is the HTTP counterpart of the in-process wiring (``sekisho.node.local.LocalNetwork``):
a party is handed the clients of the parties it talks to, built here from its own certificate, its terminal's key
and the peer's address (:mod:`sekisho.node.transport`), never looked up by the party itself.  Every protocol
client takes an already configured ``httpx.Client`` (mutual TLS pinned to the peer; RFC 9421 signatures by the
terminal for the endpoints that cause an access), so plugging a protocol's HTTP client in is one line in its
method below (what a party's guard lets each role call: ``sekisho.node.guarding.RULES``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sekisho.config import Home
from sekisho.errors import SekishoError, Unavailable
from sekisho.node.http.agency import HttpAgency
from sekisho.node.http.locator import HttpLocator
from sekisho.node.http.municipality import HttpResponder
from sekisho.node.http.relay import HttpRelay
from sekisho.node.http.transcryptor import HttpTranscryptor
from sekisho.node.http.transfer import HttpTransferSource
from sekisho.node.http.watchdog import HttpDecisionPoint, HttpGrantDesk, HttpWatchdog
from sekisho.node.transport import Peers, request
from sekisho.pep.keys import NetworkParams, load_network


class HttpNetwork:
    """The peers of ``party`` under the network at ``root`` (its run file and its parties' certificates)."""

    def __init__(self, root: Path, party: str) -> None:
        self.root = root
        self.party = party
        self.peers = Peers(root, party)
        self._params: NetworkParams | None = None

    def close(self) -> None:
        self.peers.close()

    def __enter__(self) -> HttpNetwork:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- what every party has ------------------------------------------------------------------------------

    def health(self, peer: str) -> dict[str, Any]:
        """A peer's ``GET /health`` (a public path): its body; :class:`Unavailable` when it does not answer or
        is not ready (503)."""
        response = request(self.peers.client(peer), "GET", "/health")
        body: dict[str, Any] = response.json()
        if response.status_code != 200:
            raise Unavailable("the party is not ready", field="party")
        return body

    # --- the protocols' clients (one line each) ---------------------------------------------------------------

    def access_log(self) -> Any:
        """The access log (``sekisho.auditlog.client.HttpAccessLog``): appends are signed by this party's terminal;
        its keys are read from the network's home (one host: a deployment hands them in)."""
        from sekisho.auditlog.client import HttpAccessLog
        from sekisho.auditlog.keys import LogConfig

        config = LogConfig.load(Home(root=self.root))
        return HttpAccessLog(
            self.peers.url("log"),
            log_vkey=config.vkey,
            witness_vkeys=config.witnesses,
            client=self.peers.client("log", signed=True),
        )

    # --- the protocols: each the HTTP client of an interface the in-process wiring implements too ---------------

    def transcryptor(self, hop: str) -> HttpTranscryptor:
        """T1 (a conversion starts there: signed by this party's terminal, it causes an access) or T2."""
        return HttpTranscryptor(self.peers.client(hop, signed=hop == "t1"), party=hop)

    def locator(self) -> HttpLocator:
        return HttpLocator(self.peers.client("locator"))

    def responder(self, code: str) -> HttpResponder:
        return HttpResponder(self.peers.client(f"municipality/{code}"))

    def transfer_source(self, code: str) -> HttpTransferSource:
        """Another municipality's side of a move hand-over (a release of a person's record: signed)."""
        return HttpTransferSource(self.peers.client(f"municipality/{code}", signed=True))

    def notice_feed(self, code: str) -> Any:
        """Municipality ``code``'s change notices, as this agency pulls them (signed: a release)."""
        from sekisho.node.feed import HttpNoticeFeed

        return HttpNoticeFeed(self.peers.client(f"municipality/{code}", signed=True))

    def agency(self, name: str) -> HttpAgency:
        return HttpAgency(self.peers.client(f"agency/{name}"))

    def agency_at(self, party: str) -> HttpAgency:
        """The agency run by ``party`` (``agency/<name>``, or the PKI, an agency of its own)."""
        return HttpAgency(self.peers.client(party))

    def decision_point(self) -> HttpDecisionPoint:
        return HttpDecisionPoint(self.peers.client("watchdog"))

    def watchdog(self) -> HttpWatchdog:
        return HttpWatchdog(self.peers.client("watchdog"))

    def grant_desk(self) -> HttpGrantDesk:
        return HttpGrantDesk(self.peers.client("watchdog"))

    # --- an agency's side of the flows (sekisho.agency.service.AgencyNetwork, agency.crossref) -------------------

    @property
    def params(self) -> NetworkParams:
        """The network's public parameters (``network.json``, public: its key Y and the domains' keys)."""
        if self._params is None:
            self._params = load_network(self.root)
        return self._params

    def relay(self) -> HttpRelay:
        """T1's ``/relay``, signed by this party's terminal (a conversion is an access): T1 hands on to T2, T2 to
        the locator or back."""
        return HttpRelay(self.peers.client("t1", signed=True))

    def hops(self) -> HttpRelay:
        return self.relay()

    def locator_route(self) -> HttpRelay:
        return self.relay()

    def conversion_grant(self, **request: Any) -> str:
        from sekisho.node.municipality import http_conversion_grant

        return http_conversion_grant(self, **request)

    def warrant_keys(self) -> dict[str, Ed25519PublicKey]:
        return self.watchdog().warrant_keys()

    def warrant_token(self, warrant: str) -> str:
        return self.watchdog().warrant_token(warrant)

    def cross_reference_receiver(self, name: str) -> HttpAgency:
        """Agency B, to which A hands its result once the municipalities' records are in place."""
        return self.agency(name)

    def client(self, peer: str, *, signed: bool = False) -> httpx.Client:
        """The raw client to a peer (for a protocol not wrapped yet)."""
        return self.peers.client(peer, signed=signed)


def healthy(root: Path, party: str, peers: list[str]) -> dict[str, str]:
    """Each peer's health as one word (``ok``, or the error's kind), as ``party`` sees it over the network."""
    out: dict[str, str] = {}
    with HttpNetwork(root, party) as net:
        for peer in peers:
            try:
                net.health(peer)
                out[peer] = "ok"
            except SekishoError as exc:
                out[peer] = exc.kind
    return out
