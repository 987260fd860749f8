"""How parties authenticate each other on the wire: mutual TLS, RFC 9421 request signatures, rate limits.

Shared by every party's service and client, so it imports no party package (registry, policy, pki, auditlog, agency,
locator, pseudonyms): the composition root hands it what it needs — the organisation CA's certificate, a revocation
checker, an alert sink.

* :mod:`sekisho.wire.identity` — who a certificate names: a party (``OU=<role>, CN=<party>``) or a terminal;
* :mod:`sekisho.wire.tls` — server and client ``ssl.SSLContext`` pinned to the organisation CA, the uvicorn
  configuration that hands the client certificate to the application (ASGI TLS extension);
* :mod:`sekisho.wire.signatures` — a terminal signs a request (RFC 9421, ``created``, ``nonce``, RFC 9530
  Content-Digest); a party verifies it, refuses replays and stale signatures, and keeps what it verified;
* :mod:`sekisho.wire.ratelimit` — a token bucket per terminal;
* :mod:`sekisho.wire.guard` — the ASGI middleware that puts them together with a role table per endpoint, refuses
  with RFC 9457 problem documents (401/403/429) and leaves an alert for the watchdog (:mod:`sekisho.wire.alerts`).

docs/transport.md describes the whole.
"""
