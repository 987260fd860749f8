"""A small network for the authentication battery: an organisation CA (and a forger's CA under the same name),
party and terminal certificates from it, a CRL, and real uvicorn servers over TLS on 127.0.0.1 (T2 and the
locator), each a tiny FastAPI app behind the guard.  Certificates come from the PKI's own profiles; nothing here
opens a database."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import Depends, FastAPI, Request

from sekisho import problems
from sekisho.pki import profiles, revocation
from sekisho.pki.profiles import ORGANISATION, Endpoints
from sekisho.pki.verify import CrlChecker
from sekisho.wire import tls
from sekisho.wire.alerts import AlertLog
from sekisho.wire.guard import AccessPolicy, Caller, PartyGuard, rule, terminal_caller
from sekisho.wire.ratelimit import Limit, RateLimiter
from sekisho.wire.signatures import RequestVerifier, TerminalAuth, TerminalKey

NOW = datetime.now(UTC)
ENDPOINTS = Endpoints("https://pki.sekisho.internal")
BURST = 20


@dataclass
class Credentials:
    certfile: Path
    keyfile: Path
    cert: x509.Certificate
    key: Any


@dataclass
class Server:
    party: str
    base_url: str
    alerts: AlertLog
    server: uvicorn.Server
    thread: threading.Thread

    def wait_for_alert(self, reason: str, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [a for a in self.alerts.list() if a.reason == reason]
            if found:
                return found
            time.sleep(0.02)
        return []


@dataclass
class Net:
    directory: Path
    org: x509.Certificate
    org_key: Any
    foreign: x509.Certificate
    foreign_key: Any
    parties: dict[str, Credentials] = field(default_factory=dict)
    terminals: dict[str, TerminalKey] = field(default_factory=dict)
    servers: dict[str, Server] = field(default_factory=dict)
    crl: x509.CertificateRevocationList | None = None

    def write(self, name: str, cert: x509.Certificate, key: Any) -> Credentials:
        stem = self.directory / name.replace("/", "-")
        certfile, keyfile = stem.with_suffix(".crt"), stem.with_suffix(".key")
        certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        keyfile.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return Credentials(certfile, keyfile, cert, key)

    def client_context(self, party: str | None) -> ssl.SSLContext:
        if party is None:  # trusts the servers, presents no certificate
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cadata=self.org.public_bytes(serialization.Encoding.PEM).decode())
            return ctx
        creds = self.parties[party]
        return tls.client_context(certfile=creds.certfile, keyfile=creds.keyfile, trust=[self.org])

    def client(
        self, party: str | None, server: str, *, terminal: str | None = None, expect: str | None = None
    ) -> httpx.Client:
        """A client of ``party`` (``None``: no certificate) to ``server``, signing with ``terminal``'s key."""
        auth = TerminalAuth(self.terminals[terminal]) if terminal else None
        return tls.party_client(
            self.servers[server].base_url,
            party=expect or server,
            context=self.client_context(party),
            auth=auth,
            timeout=10.0,
        )


def _party(
    net: Net,
    name: str,
    *,
    issuer: x509.Certificate,
    issuer_key: Any,
    label: str | None = None,
    now: datetime = NOW,
    days: int = 30,
) -> None:
    key = profiles.new_key()
    cert = profiles.party_certificate(
        party=name, key=key.public_key(), issuer=issuer, issuer_key=issuer_key, endpoints=ENDPOINTS, now=now, days=days
    )
    net.parties[label or name] = net.write(label or name, cert, key)


def _terminal(net: Net, terminal: str, *, now: datetime = NOW, days: int = 30) -> TerminalKey:
    key = profiles.new_key()
    cert = profiles.terminal_certificate(
        terminal=terminal,
        key=key.public_key(),
        issuer=net.org,
        issuer_key=net.org_key,
        endpoints=ENDPOINTS,
        now=now,
        days=days,
    )
    net.terminals[terminal] = TerminalKey(key=key, certificate=cert)
    return net.terminals[terminal]


def _app(name: str) -> FastAPI:
    app = FastAPI(title=name)
    problems.install(app)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    async def answer(request: Request, who: Caller) -> dict[str, Any]:
        assert who.signature is not None
        body = await request.body()
        return {
            "party": who.party.name,
            "terminal": who.terminal,
            "received": len(body),
            "signature_input": who.signature.signature_input,
            "signature": who.signature.signature,
            "signature_base": who.signature.signature_base,
            "key_id": who.signature.key_id,
            "nonce": who.signature.nonce,
        }

    @app.post("/convert")
    async def convert(request: Request, who: Annotated[Caller, Depends(terminal_caller)]) -> dict[str, Any]:
        return await answer(request, who)

    @app.post("/lookup")
    async def lookup(request: Request, who: Annotated[Caller, Depends(terminal_caller)]) -> dict[str, Any]:
        return await answer(request, who)

    return app


# each server's endpoint table: T2 converts for T1 only; the locator answers T2 and municipalities, never agencies
POLICIES = {
    "t2": [rule("/convert", "t1", methods=["POST"]), rule("/health", "t1", methods=["GET"], signed=False)],
    "locator": [
        rule("/lookup", "t2", "municipality", methods=["POST"], requester="party"),
        rule("/health", "t2", "municipality", methods=["GET"], signed=False),
    ],
}


def _serve(net: Net, party: str) -> Server:
    alerts = AlertLog()
    assert net.crl is not None
    checker = CrlChecker([net.crl])
    app = PartyGuard(
        _app(party),
        policy=AccessPolicy(POLICIES[party], serves=party),
        trust=[net.org],
        verifier=RequestVerifier(trust=[net.org], revocation=checker),
        limiter=RateLimiter(Limit(rate=0.01, burst=BURST)),
        revocation=checker,
        alerts=alerts,
    )
    creds = net.parties[party]
    context = tls.server_context(
        certfile=creds.certfile,
        keyfile=creds.keyfile,
        trust=[net.org],
        on_handshake_failure=tls.handshake_alerts(alerts),
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = tls.uvicorn_config(app, host="127.0.0.1", port=port, context=context, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the {party} test server did not start")
        time.sleep(0.02)
    return Server(party, f"https://127.0.0.1:{port}", alerts, server, thread)


@pytest.fixture(scope="session")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    org_key = profiles.new_key()
    org = profiles.root_certificate(ca_id=ORGANISATION, key=org_key, now=NOW)
    # a forger's CA with the very same name: only the pinned key tells them apart
    foreign_key = profiles.new_key()
    foreign = profiles.root_certificate(ca_id=ORGANISATION, key=foreign_key, now=NOW)
    n = Net(tmp_path_factory.mktemp("wire"), org, org_key, foreign, foreign_key)
    for name in ("t1", "t2", "locator", "municipality/212016", "municipality/131016", "agency/pension"):
        _party(n, name, issuer=org, issuer_key=org_key)
    _party(n, "t1", issuer=foreign, issuer_key=foreign_key, label="forged-t1")
    _party(n, "t1", issuer=org, issuer_key=org_key, label="expired-t1", now=NOW - timedelta(days=3), days=1)
    for terminal in (
        "t1/batch-1",
        "municipality/212016/counter-1",
        "municipality/212016/counter-7",
        "municipality/212016/flood-1",
        "municipality/131016/counter-1",
        "agency/pension/desk-1",
    ):
        _terminal(n, terminal)
    revoked = _terminal(n, "municipality/212016/counter-2")
    desk = n.terminals["agency/pension/desk-1"]
    n.parties["terminal-as-party"] = n.write("terminal-as-party", desk.certificate, desk.key)
    _terminal(n, "municipality/212016/counter-3", now=NOW - timedelta(days=3), days=1)  # expired two days ago
    n.crl = revocation.build_crl(
        issuer=org.subject,
        issuer_key=org_key,
        entries=[
            revocation.RevokedEntry(revoked.certificate.serial_number, NOW, x509.ReasonFlags.key_compromise),
            # a whole party shut out: its certificate still passes the handshake (OpenSSL has no CRL), not the guard
            revocation.RevokedEntry(
                n.parties["municipality/131016"].cert.serial_number, NOW, x509.ReasonFlags.key_compromise
            ),
        ],
        number=1,
        now=NOW,
    )
    for party in ("t2", "locator"):
        n.servers[party] = _serve(n, party)
    yield n
    for s in n.servers.values():
        s.server.should_exit = True
    for s in n.servers.values():
        s.thread.join(timeout=10)
