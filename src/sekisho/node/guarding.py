"""Every party's service behind :class:`sekisho.wire.guard.PartyGuard`: the endpoint tables, the revocation
checker, the alert sink, and the TLS server context — the composition root's part of docs/transport.md.

Public paths (no client certificate needed, not guarded): ``GET /health`` of every party, so that the supervisor,
`sekisho status` and a load balancer can ask without a party's key (its body names the role, the party and whether
the database answers — nothing of a resident); the PKI's OCSP, CRLs, CA certificates, chain and citizens' login (a
relying party or a citizen holds no party certificate); the access log's checkpoint, tiles and proofs (a public,
verifiable log); the watchdog's publications (legal bases, PIAs, revocation list); the web portal of a municipality
and of the watchdog (``/portal``, authenticated by its own login: sekisho.portal).  Everything else is refused
unless a rule below names the caller's role (``PartyGuard``'s default: no rule, no entry).

Protocol routers added to a party's app must add their rules to :data:`RULES` (one line each).
"""

from __future__ import annotations

import logging
import os
import queue
import ssl
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sekisho.config import Home
from sekisho.node import limits
from sekisho.node.certificates import PartyCredentials, credentials
from sekisho.node.limits import BodyLimit
from sekisho.node.roles import Role
from sekisho.wire import tls
from sekisho.wire.alerts import AlertSink, AuthAlert
from sekisho.wire.guard import CALLERS, AccessPolicy, PartyGuard, Rule, rule
from sekisho.wire.ratelimit import Limit, RateLimiter
from sekisho.wire.signatures import RequestVerifier, RevocationCheck

log = logging.getLogger("sekisho.node")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

#: ``SEKISHO_RATE_LIMIT=<requests per second>:<burst>``, per terminal (per party for unsigned requests)
RATE_ENV = "SEKISHO_RATE_LIMIT"
DEFAULT_LIMIT = Limit(rate=200.0, burst=400)


@dataclass(frozen=True, slots=True)
class Public:
    path: str
    methods: frozenset[str] = frozenset({"GET", "HEAD"})

    def matches(self, method: str, path: str) -> bool:
        """By whole segments: the path itself or below it; a ``*`` segment stands for any one segment (the
        municipality code of ``/credentials/*/token``), never for a path separator."""
        if method not in self.methods:
            return False
        want = self.path.rstrip("/").split("/")
        got = path.split("/")
        if len(got) < len(want):
            return False
        return all(w == g or (w == "*" and g != "") for w, g in zip(want, got, strict=False))


_HEALTH = Public("/health")
#: the web portal: browsers hold no party certificate; its pages have their own login, sessions and CSRF tokens
_PORTAL = Public("/portal", frozenset({"GET", "HEAD", "POST"}))
PUBLIC: dict[str, tuple[Public, ...]] = {
    "pki": (
        Public("/pki/ocsp", frozenset({"GET", "POST"})),
        Public("/pki/crl"),
        Public("/pki/ca"),
        Public("/pki/chain.pem"),
        Public("/pki/login", frozenset({"POST"})),
        Public("/pki/tsa", frozenset({"POST"})),  # RFC 3161: a request carries only a hash
        Public("/login/issuers"),  # the prefectures' card-login data, for relying parties (sekisho.node.login)
    ),
    "log": (Public("/checkpoint"), Public("/tile"), Public("/proof")),
    # OpenID4VCI: wallets hold no party certificate; an offer (``/credentials/<code>/offers``) is not public but
    # made by a clerk's terminal (RULES below), so that only a person at the counter starts an issuance
    "municipality": (
        Public("/credentials/*/.well-known"),
        Public("/credentials/*/status"),
        Public("/credentials/*/token", frozenset({"POST"})),
        Public("/credentials/*/nonce", frozenset({"POST"})),
        Public("/credentials/*/credential", frozenset({"POST"})),
        Public("/certificates/*/key"),  # the certificate signer's published key (JWK with x5c)
        _PORTAL,
    ),
    "watchdog": (
        _PORTAL,
        Public("/policy/legal-bases"),
        Public("/policy/pias"),
        Public("/policy/pia-statements"),
        Public("/policy/revocations"),
    ),
}


def _all(role: str) -> tuple[str, ...]:
    return tuple(sorted(CALLERS[role] - {"portal"}))


#: role -> its endpoint table (path prefix, roles, methods, signed).  The OpenAPI document is readable by every
#: party that may call the service at all.
RULES: dict[str, list[Rule]] = {
    "log": [
        # an append records an access: signed by the terminal that caused it (a clerk's, an agency desk's, or
        # the party's own service terminal for the accesses it makes itself)
        rule("/append", *_all("log"), methods=["POST"]),
    ],
    "watchdog": [
        # an agency files its own PIA; approving, rejecting and revoking one are the watchdog's acts (its CLI and
        # dashboard), never reachable by another party
        rule("/policy/pias", "agency", methods=["POST"], signed=False, exact=True),
        rule("/policy/decide", "t1", "t2", "municipality", methods=["POST"], signed=False),
        rule("/policy/warrants", "t1", "t2", "agency", methods=["GET"], signed=False),
        # refusals reported by the other parties' guards (sekisho.wire.alerts); only the watchdog lists them
        rule("/policy/alerts", *_all("watchdog"), methods=["POST"], signed=False),
        rule("/add-checkpoint", "log", methods=["POST"], signed=False),
        rule("/policy/check-subject", "t1", "t2", "municipality", methods=["POST"], signed=False),
        rule("/policy/watchdog.json", *_all("watchdog"), methods=["GET"], signed=False),
        rule("/policy/grants", "agency", "municipality", "t1", "t2", methods=["POST"], signed=False),
    ],
    # the PKI is an agency too: municipalities push it notices (a death revokes the card)
    "pki": [rule("/agency", "municipality", signed=False)],
    # a conversion that starts at T1 is an access by the terminal that asked; the hops after it are the parties'
    # (the body's requester must be the caller: a party cannot convert, or ask for a share, in another's name)
    "t1": [
        rule("/convert", "agency", "municipality", "pki", methods=["POST"], requester="party"),
        rule("/relay", "agency", "municipality", "pki", methods=["POST"], requester="party"),
        rule("/key-share", "agency", "municipality", "pki", methods=["POST"], signed=False, requester="party"),
    ],
    "t2": [
        rule("/convert", "t1", methods=["POST"], signed=False),
        rule("/relay", "t1", methods=["POST"], signed=False),
        rule("/key-share", "t1", methods=["POST"], signed=False),
    ],
    "locator": [
        rule("/index", "municipality", methods=["POST"], signed=False, requester="name"),
        rule("/hand-over", "municipality", methods=["POST"], signed=False, requester="name"),
        rule("/confirm", "t2", methods=["POST"], signed=False),
        rule("/cross-reference", "t2", methods=["POST"], signed=False),
    ],
    "municipality": [
        rule("/identity", "locator", methods=["POST"], signed=False),
        rule("/cross-reference", "locator", methods=["POST"], signed=False),
        # a hand-over releases a person's record to the destination: signed by the destination's clerk terminal
        rule("/transfers", "municipality", methods=["POST"]),
        # a move-in is filed at the counter: signed by the clerk's terminal (the route admits its own party only)
        rule("/moves", "municipality", methods=["POST"]),
        # an agency pulls its change notices (a release of personal data: signed by the agency's terminal)
        rule("/notices/feed", "agency", methods=["POST"]),
        # a credential offer hands a resident's issuance to a wallet: signed by the clerk's terminal at the counter
        rule("/credentials", "municipality", methods=["POST"]),
        # a certificate of residence releases a person's record to the counter: signed by the clerk's terminal
        rule("/certificates", "municipality", methods=["POST"]),
    ],
    "agency": [
        rule("/agency", "municipality", "t2", signed=False),
        # A's result for B, once the municipalities' records are in place (ciphertexts under B's key only)
        rule("/agency/cross-references", "agency", "municipality", "t2", methods=["POST"], signed=False),
    ],
}


def policy_of(role: str) -> AccessPolicy:
    rules = [*RULES[role], rule("/openapi.json", *_all(role), methods=["GET"], signed=False)]
    return AccessPolicy(rules, serves=role)


def limit_from_env() -> Limit:
    text = os.environ.get(RATE_ENV)
    if not text:
        return DEFAULT_LIMIT
    rate, _, burst = text.partition(":")
    return Limit(rate=float(rate), burst=int(burst or max(1, int(float(rate)))))


class PublicPaths:
    """ASGI: the public paths of a party go straight to its app; everything else through the guard."""

    def __init__(self, app: ASGIApp, guarded: ASGIApp, public: tuple[Public, ...]) -> None:
        self.app = app
        self.guarded = guarded
        self.public = (_HEALTH, *public)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and any(p.matches(scope["method"], scope["path"]) for p in self.public):
            await self.app(scope, receive, send)
        else:
            await self.guarded(scope, receive, send)


class QueuedSink:
    """An alert sink that never blocks the event loop: alerts go to a thread that hands them on (to the watchdog
    over HTTP, or to its own store); a failing delivery is logged by type and the alert dropped."""

    def __init__(self, deliver: Callable[[AuthAlert], None], *, max_queued: int = 10_000) -> None:
        self._deliver = deliver
        self._queue: queue.Queue[AuthAlert] = queue.Queue(max_queued)
        threading.Thread(target=self._run, name="sekisho-alerts", daemon=True).start()

    def __call__(self, alert: AuthAlert) -> None:
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            log.error("alert queue full: an alert was dropped")

    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            try:
                self._deliver(alert)
            except Exception as exc:  # the type only
                log.error("an alert could not be delivered: %s", type(exc).__name__)


def alert_payload(alert: AuthAlert, *, refused_by: str) -> dict[str, Any]:
    """The JSON the watchdog's ``POST /policy/alerts`` takes: the alert's fields and the party that refused."""
    fields = alert.alert_fields()
    return {
        **fields,
        "window_start": fields["window_start"].isoformat(),
        "window_end": fields["window_end"].isoformat(),
        "details": [*fields["details"], f"refused-by={refused_by}"],
    }


def _watchdog_sink(root: Path, party: str) -> AlertSink:
    from sekisho.node.transport import Peers

    peers = Peers(root, party)

    def deliver(alert: AuthAlert) -> None:
        response = peers.client("watchdog").post("/policy/alerts", json=alert_payload(alert, refused_by=party))
        if response.status_code >= 300:
            log.error("the watchdog refused an alert: %d", response.status_code)

    return QueuedSink(deliver)


def _revocation(role: Role, home: Home) -> RevocationCheck:
    """OCSP at the network's PKI, asked as RFC 5019 asks (no nonce: the PKI answers with its pre-produced
    response), and a good status kept for ``SEKISHO_REVOCATION_CACHE`` seconds at most: without it every guarded
    request cost an OCSP round trip (and, with a nonce, a signature at the PKI) per certificate it carries."""
    from datetime import timedelta

    from sekisho.pki.verify import CachedOcspChecker, OcspChecker

    max_age = timedelta(seconds=limits.revocation_cache())
    if role.role == "pki":
        from sekisho.pki import hierarchy, status

        pki = hierarchy.Pki.open(home)
        return CachedOcspChecker(OcspChecker(lambda r: status.ocsp_respond(pki, r), nonce=False), max_age=max_age)
    from sekisho.node.transport import Peers, ocsp_transport

    return CachedOcspChecker(OcspChecker(ocsp_transport(Peers(home.root, role.party)), nonce=False), max_age=max_age)


def secure(
    app: ASGIApp,
    role: Role,
    home: Home,
    *,
    alerts: AlertSink | None = None,
    revocation: RevocationCheck | None = None,
    port: int | None = None,
) -> tuple[ASGIApp, AlertSink]:
    """``app`` behind its public paths and the guard; returns the wrapped app and the alert sink it uses.  With
    ``port``, a signed request must have been addressed to this party (its names on that port): a signature made
    for another party cannot be replayed here with its ``Host``."""
    creds = credentials(home.root, role.party)
    trust = creds.trust()
    checker = revocation if revocation is not None else _revocation(role, home)
    sink = alerts if alerts is not None else _watchdog_sink(home.root, role.party)
    guard = PartyGuard(
        app,
        policy=policy_of(role.role),
        trust=trust,
        verifier=RequestVerifier(trust=trust, revocation=checker),
        limiter=RateLimiter(limit_from_env()),
        revocation=checker,
        alerts=sink,
        authorities=_authorities(role, port) if port is not None else None,
        max_body=limits.max_body(),
    )
    # the body limit first, for the public paths too (SEKISHO_MAX_BODY)
    return BodyLimit(PublicPaths(app, guard, PUBLIC.get(role.role, ()))), sink


def _authorities(role: Role, port: int) -> set[str]:
    from sekisho.wire.identity import party_hostname

    return {f"{host}:{port}" for host in ("127.0.0.1", "localhost", party_hostname(role.party))}


def server_context(creds: PartyCredentials, alerts: AlertSink | None) -> ssl.SSLContext:
    return tls.server_context(
        certfile=creds.certfile,
        keyfile=creds.keyfile,
        trust=creds.trust(),
        on_handshake_failure=tls.handshake_alerts(alerts),
    )


def _own_store(home: Home) -> AlertSink:
    """The watchdog's sink: its own alert table (it may not call itself over the network)."""
    from sekisho.keyfile import passphrase_from_env
    from sekisho.policy import anomaly
    from sekisho.policy.service import Watchdog

    opened: list[Any] = []

    def deliver(alert: AuthAlert) -> None:
        if not opened:
            opened.append(Watchdog.open(home, passphrase=passphrase_from_env()))
        fields = alert.alert_fields()
        fields["details"] = (*fields["details"], "refused-by=watchdog")
        opened[0].record_alert(anomaly.Alert(**fields))

    return QueuedSink(deliver)


def secured_app(role: Role, home: Home, *, port: int | None = None) -> tuple[ASGIApp, ssl.SSLContext]:
    """The party's app as it runs in its process on ``port``: guarded, and the TLS context to serve it with."""
    from sekisho.node.apps import create_app

    app: Any = create_app(role, home)
    sink = _own_store(home) if role.role == "watchdog" else None
    wrapped, sink = secure(app, role, home, alerts=sink, port=port)
    return wrapped, server_context(credentials(home.root, role.party), sink)
