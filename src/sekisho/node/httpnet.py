"""The network as one party sees it over HTTP: a client per peer, read from ``<home>/run/network.json``.

:class:`HttpNetwork` is the HTTP counterpart of the in-process wiring (``sekisho.network.local.LocalNetwork``):
a party is handed the clients of the parties it talks to, built here from its own certificate, its terminal's key
and the peer's address (:mod:`sekisho.node.transport`), never looked up by the party itself.  Every protocol
client takes an already configured ``httpx.Client`` (mutual TLS pinned to the peer; RFC 9421 signatures by the
terminal for the endpoints that cause an access), so plugging a protocol's HTTP client in is one line in its
method below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from sekisho.config import Home
from sekisho.errors import SekishoError, Unavailable
from sekisho.node.transport import Peers, request


class HttpNetwork:
    """The peers of ``party`` under the network at ``root`` (its run file and its parties' certificates)."""

    def __init__(self, root: Path, party: str) -> None:
        self.root = root
        self.party = party
        self.peers = Peers(root, party)

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

    # TODO(merge): the protocol clients written beside this (src/sekisho/node/http/*.py) go here, one line each:
    #   def locator(self) -> LocatorClient: return HttpLocator(self.peers.client("locator", signed=True))
    #   def t1(self) -> Transcryptor:       return HttpTranscryptor(self.peers.client("t1", signed=True))
    #   def t2(self) -> Transcryptor:       return HttpTranscryptor(self.peers.client("t2"))
    #   def municipality(self, code: str):  return HttpMunicipality(self.peers.client(f"municipality/{code}"))
    #   def agency(self, name: str):        return HttpAgency(self.peers.client(f"agency/{name}"))
    #   def watchdog(self):                 return HttpWatchdog(self.peers.client("watchdog"))
    #   def pki(self):                      return HttpPki(self.peers.client("pki", signed=True))

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
