"""Clients between parties: an ``httpx.Client`` over mutual TLS, signing with a terminal's key (RFC 9421).

:func:`client` is the one factory every HTTP client of a protocol is built from: given the calling party's
credentials (its certificate and key, the organisation CA), the peer's party name and address and optionally a
terminal key, it pins the peer by name (SNI and certificate check before any byte of the request) and signs every
request with the terminal (:class:`sekisho.wire.signatures.TerminalAuth`).  :class:`Peers` reads who listens where
from ``<home>/run/network.json`` (written by `sekisho up`) and builds clients per peer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from sekisho.errors import Unavailable
from sekisho.node import limits
from sekisho.node.certificates import PartyCredentials, credentials
from sekisho.wire import tls
from sekisho.wire.signatures import TerminalAuth, TerminalKey


def client(
    creds: PartyCredentials,
    *,
    peer: str,
    base_url: str,
    terminal: TerminalKey | None = None,
    timeout: httpx.Timeout | None = None,
    **kwargs: Any,
) -> httpx.Client:
    """A client of ``creds.party`` to ``peer`` at ``base_url`` (mTLS; RFC 9421 signatures by ``terminal``)."""
    context = tls.client_context(certfile=creds.certfile, keyfile=creds.keyfile, trust=creds.trust())
    return tls.party_client(
        base_url,
        party=peer,
        context=context,
        auth=TerminalAuth(terminal) if terminal is not None else None,
        # seconds: connecting to a party, and waiting for its answer (SEKISHO_CONNECT_TIMEOUT, SEKISHO_READ_TIMEOUT)
        timeout=timeout or httpx.Timeout(limits.read_timeout(), connect=limits.connect_timeout()),
        trust_env=False,  # no proxy from the environment between parties
        **kwargs,
    )


def addresses(root: Path) -> dict[str, str]:
    """party -> base URL, from the run file of `sekisho up` under ``root``."""
    try:
        data = json.loads((root / "run" / "network.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise Unavailable("no network is running under this home (no run file)", field="network") from None
    return {str(p["party"]): str(p["url"]) for p in data.get("parties", [])}


class Peers:
    """The parties one party talks to, as ``httpx`` clients built on first use (thread-safe, one per peer and
    terminal).  Protocol clients take one of these clients in their constructor (see :mod:`sekisho.node.network`)."""

    def __init__(self, root: Path, party: str, *, creds: PartyCredentials | None = None) -> None:
        self.root = root
        self.party = party
        self._creds = creds
        self._urls: dict[str, str] | None = None
        self._clients: dict[tuple[str, str | None], httpx.Client] = {}
        self._lock = threading.Lock()

    @property
    def creds(self) -> PartyCredentials:
        if self._creds is None:
            self._creds = credentials(self.root, self.party)
        return self._creds

    def url(self, peer: str) -> str:
        if self._urls is None or peer not in self._urls:
            self._urls = addresses(self.root)  # read again: a party may have been restarted on another port
        try:
            return self._urls[peer]
        except KeyError:
            raise Unavailable("the network has no such party", field="party") from None

    def client(self, peer: str, *, signed: bool = False) -> httpx.Client:
        """A client to ``peer``; ``signed``: every request signed by this party's default terminal."""
        terminal = self.creds.terminal() if signed else None
        key = (peer, terminal.certificate.fingerprint(_SHA256).hex() if terminal else None)
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = client(self.creds, peer=peer, base_url=self.url(peer), terminal=terminal)
                self._clients[key] = found
            return found

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()


def _sha256() -> Any:
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


_SHA256 = _sha256()


def ocsp_transport(peers: Peers) -> Callable[[bytes], bytes]:
    """An OCSP transport (:class:`sekisho.pki.verify.OcspChecker`) to the network's PKI: RFC 6960 over HTTPS.
    Any failure to get an answer is :class:`Unavailable`: no status, no admission (the guard answers 503)."""

    def ask(request_der: bytes) -> bytes:
        try:
            response = peers.client("pki").post(
                "/pki/ocsp", content=request_der, headers={"Content-Type": "application/ocsp-request"}
            )
        except httpx.HTTPError:
            raise Unavailable("the PKI does not answer (revocation status)", field="revocation") from None
        if response.status_code != 200:
            raise Unavailable("the PKI gave no revocation status", field="revocation")
        return response.content

    return ask


def request(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request to a peer; a peer that does not answer (refused connection, reset, timeout) or answers 503 is
    :class:`Unavailable` (the CLI's exit 5), whatever the peer's problem document said."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TransportError:
        raise Unavailable("the party does not answer", field="party") from None
    if response.status_code == 503:
        raise Unavailable("the party is unavailable", field="party")
    return response
