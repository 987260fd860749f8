"""Mutual TLS between parties, pinned to the organisation CA.

Server side (:func:`server_context`): TLS 1.3, the party's own certificate, and the organisation CA as the *only*
trust anchor for client certificates (no system store).  A client certificate from any other CA — or an expired
one — fails the handshake (OpenSSL sends the alert, no HTTP is spoken); the failure is reported to the alert sink.
A client that sends *no* certificate completes the handshake (``CERT_OPTIONAL``) so that the guard can answer it
with a 401 problem document saying what is missing; it never reaches a handler.

Client side (:func:`client_context`, :func:`party_client`): the same anchor for the server's certificate, the
party's certificate as client certificate, and the server named by its party's internal DNS name (sent as SNI and
checked against the certificate), so that a client that means T2 talks to T2 and to no other party of the network,
although every party of ``sekisho up`` listens on 127.0.0.1.

uvicorn does not put the client certificate into the ASGI scope; :func:`uvicorn_config` runs it with a protocol
that does, as the ASGI TLS extension (``scope["extensions"]["tls"]["client_cert_chain"]``) specifies.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from sekisho.wire.alerts import AlertSink, AuthAlert, emit
from sekisho.wire.identity import party_hostname

PathLike = str | Path
HandshakeObserver = Callable[[str], None]

# the TLS versions the ASGI TLS extension reports (its values are the protocol's code points)
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def _pem(certs: Sequence[x509.Certificate]) -> str:
    return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certs)


def _observed(report: HandshakeObserver) -> type[ssl.SSLObject]:
    """An SSLObject that reports a peer certificate failing verification (asyncio creates one per connection)."""

    class Observed(ssl.SSLObject):
        def do_handshake(self) -> None:
            try:
                super().do_handshake()
            except ssl.SSLCertVerificationError as exc:
                report(exc.verify_message or "certificate verification failed")
                raise

    return Observed


def handshake_alerts(sink: AlertSink | None, *, clock: Callable[[], datetime] | None = None) -> HandshakeObserver:
    """Turn a refused handshake into an alert (reason ``untrusted-certificate``; no party is known)."""
    now = clock or (lambda: datetime.now(UTC))

    def report(message: str) -> None:
        emit(sink, AuthAlert(at=now(), reason="untrusted-certificate", status=0, detail=message))

    return report


def server_context(
    *,
    certfile: PathLike,
    keyfile: PathLike,
    trust: Sequence[x509.Certificate],
    password: bytes | None = None,
    on_handshake_failure: HandshakeObserver | None = None,
) -> ssl.SSLContext:
    """A party's server context: its certificate, client certificates verified against ``trust`` only."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(certfile, keyfile, password=password)
    ctx.load_verify_locations(cadata=_pem(trust))
    # optional, not required: a missing certificate gets a problem document from the guard instead of a bare alert
    ctx.verify_mode = ssl.CERT_OPTIONAL
    if on_handshake_failure is not None:
        ctx.sslobject_class = _observed(on_handshake_failure)
    return ctx


def client_context(
    *, certfile: PathLike, keyfile: PathLike, trust: Sequence[x509.Certificate], password: bytes | None = None
) -> ssl.SSLContext:
    """A party's client context: its certificate as client certificate, servers verified against ``trust`` only."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cadata=_pem(trust))
    ctx.load_cert_chain(certfile, keyfile, password=password)
    return ctx


def party_client(
    base_url: str, *, party: str, context: ssl.SSLContext, auth: httpx.Auth | None = None, **kwargs: Any
) -> httpx.Client:
    """An httpx client for one party at ``base_url``: its certificate must name ``party`` (checked in the handshake,
    before any byte of a request is sent)."""
    hostname = party_hostname(party)

    def name_the_server(request: httpx.Request) -> None:
        request.extensions["sni_hostname"] = hostname

    hooks = kwargs.pop("event_hooks", {})
    hooks = {**hooks, "request": [name_the_server, *hooks.get("request", [])]}
    return httpx.Client(base_url=base_url, verify=context, auth=auth, event_hooks=hooks, **kwargs)


def tls_extension(ssl_object: ssl.SSLObject | None) -> dict[str, Any] | None:
    """The ASGI TLS extension's dictionary for one connection (``None`` for plain HTTP)."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    name = x509.load_der_x509_certificate(der).subject.rfc4514_string() if der else None
    version = ssl_object.version()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(version or ""),
        "cipher_suite": None,
    }


class PeerCertificateProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol, putting the connection's client certificate into every request's scope."""

    app: Any  # uvicorn's ASGI application, replaced per connection by one that adds the TLS extension

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        extension = tls_extension(transport.get_extra_info("ssl_object"))
        inner: Any = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if extension is not None:
                extensions = scope.get("extensions") or {}
                scope["extensions"] = {**extensions, "tls": extension}
            await inner(scope, receive, send)

        self.app = app


def uvicorn_config(app: Any, *, host: str, port: int, context: ssl.SSLContext, **kwargs: Any) -> uvicorn.Config:
    """uvicorn serving ``app`` over ``context`` (from :func:`server_context`), client certificates in the scope.

    Proxy headers are off: parties speak to each other directly, and an X-Forwarded-* header must not change the
    scheme or the client a party sees."""
    kwargs.setdefault("proxy_headers", False)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_context_factory=lambda _config, _default: context,
        http=PeerCertificateProtocol,
        **kwargs,
    )
