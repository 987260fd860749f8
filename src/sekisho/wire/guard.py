"""The ASGI middleware in front of every party's service: who may call what, proven how, how often.

For each HTTP request, in this order (the cheap refusals first):

1. the mTLS peer: the client certificate the TLS layer verified against the organisation CA must be a *party's*
   (``OU=<role>``); none at all is 401;
2. the endpoint's rule (:class:`AccessPolicy`, longest path prefix first, no rule = refused): the peer's role must
   be one the rule names, else 403 — e.g. T2's ``/convert`` names ``t1`` only, and no locator rule names ``agency``;
   :data:`CALLERS` bounds every party's rules (a rule that would let an agency reach the locator fails at start-up);
3. revocation of the peer's certificate (the checker the composition root supplies), then, if the rule says the
   request causes an access, its RFC 9421 signature by a terminal of that same party
   (:class:`~sekisho.wire.signatures.RequestVerifier`): 401 when missing, stale, replayed, over a changed body, or
   by a revoked or expired terminal;
4. the rate limit per terminal (per party when there is no terminal): 429 with Retry-After.

A refusal is an RFC 9457 problem document naming the rule that failed, never a value of the request, and leaves an
alert for the watchdog (one per episode for rate limits).  An accepted request reaches the application with a
:class:`Caller` — the party, and the verified signature to keep with the access record — in ``scope["state"]``,
read by the FastAPI dependencies :func:`caller` and :func:`terminal_caller`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from cryptography import x509
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from sekisho.errors import SekishoError, TooLarge, Unavailable
from sekisho.problems import MEDIA_TYPE, problem_body, problem_headers
from sekisho.wire.alerts import AlertSink, AuthAlert, emit
from sekisho.wire.identity import ROLES, NotThisKind, Party, party_of
from sekisho.wire.ratelimit import RateLimiter
from sekisho.wire.refusals import NotAllowed, NotAuthenticated, RateLimited, WireRefusal
from sekisho.wire.signatures import ReceivedRequest, RequestVerifier, RevocationCheck, VerifiedSignature

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("sekisho.wire")

STATE_KEY = "sekisho_caller"
MAX_BODY = 1 << 20

_ALL = ROLES - {"portal"}
#: who may call each party at all, from the issue's flows (agency → T1 → T2 → locator → municipality → log; the
#: watchdog and the log hear from every party; a hand-over goes municipality → municipality; the PKI answers OCSP
#: for everyone).  Endpoint rules refine this, never widen it.
CALLERS: Mapping[str, frozenset[str]] = {
    "t1": frozenset({"municipality", "agency", "pki"}),
    "t2": frozenset({"t1"}),
    "locator": frozenset({"t2", "municipality"}),
    "municipality": frozenset({"t2", "locator", "municipality", "agency"}),  # agencies pull their notice feed
    # municipalities push enrolments and change notices; agency A hands B a cross-reference's result (under B's key)
    "agency": frozenset({"t2", "municipality", "agency"}),
    "watchdog": _ALL - {"watchdog"},
    "log": _ALL - {"log"},
    "pki": _ALL - {"pki"},
    "portal": frozenset(),
}


@dataclass(frozen=True, slots=True)
class Rule:
    #: a path prefix, matched by whole segments ("/convert" matches "/convert" and "/convert/batch", not "/converts")
    path: str
    roles: frozenset[str]
    #: None: any method
    methods: frozenset[str] | None = None
    #: the request causes an access: it must carry a terminal's RFC 9421 signature
    signed: bool = True
    #: the body names its requester (a JSON body's ``requester``, a frame header's), which must be the caller:
    #: ``party`` — the caller's party name (``agency/pension``); ``name`` — its name within the role (``212016``)
    requester: Literal["party", "name"] | None = None
    #: the path itself only, not the paths below it (``POST /policy/pias`` files a PIA; the revocation below it is
    #: the watchdog's own act and must not be reachable through the same rule)
    exact: bool = False

    def matches(self, method: str, path: str) -> bool:
        prefix = self.path.rstrip("/")
        below = not self.exact and path.startswith(prefix + "/")
        in_path = path == self.path or path == prefix or below
        return in_path and (self.methods is None or method in self.methods)


def rule(
    path: str,
    *roles: str,
    methods: Iterable[str] | None = None,
    signed: bool = True,
    requester: Literal["party", "name"] | None = None,
    exact: bool = False,
) -> Rule:
    return Rule(path, frozenset(roles), frozenset(methods) if methods is not None else None, signed, requester, exact)


class AccessPolicy:
    """One party's table of endpoints and the roles allowed at each; a request no rule matches is refused."""

    def __init__(self, rules: Iterable[Rule], *, serves: str | None = None) -> None:
        self.rules = sorted(rules, key=lambda r: len(r.path.rstrip("/")), reverse=True)
        if serves is not None:
            allowed = CALLERS[serves]
            for r in self.rules:
                if not r.roles <= allowed:
                    raise ValueError(f"a rule of {serves} admits a role that may never call it: {r.path}")

    def match(self, method: str, path: str) -> Rule | None:
        return next((r for r in self.rules if r.matches(method, path)), None)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made the request: the party (mTLS) and, for a request that causes an access, the verified signature."""

    party: Party
    signature: VerifiedSignature | None = None

    @property
    def terminal(self) -> str | None:
        return self.signature.terminal.id if self.signature is not None else None


def caller(request: Request) -> Caller:
    """FastAPI dependency: the authenticated caller (fails closed if the guard is not installed)."""
    found = request.scope.get("state", {}).get(STATE_KEY)
    if not isinstance(found, Caller):
        raise NotAuthenticated("the request was not authenticated", reason="no-guard", field="client-certificate")
    return found


def terminal_caller(request: Request) -> Caller:
    """FastAPI dependency: the caller, which must have signed with a terminal's key."""
    found = caller(request)
    if found.signature is None:
        raise NotAuthenticated(
            "the request needs an RFC 9421 signature by a terminal", reason="unsigned", field="signature"
        )
    return found


@lru_cache(maxsize=1024)
def _peer_certificate(pem: str) -> tuple[x509.Certificate, Party | None]:
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    try:
        return cert, party_of(cert)
    except NotThisKind:
        return cert, None


def _problem(exc: SekishoError) -> JSONResponse:
    return JSONResponse(problem_body(exc), status_code=exc.status, media_type=MEDIA_TYPE, headers=problem_headers(exc))


class PartyGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: AccessPolicy,
        trust: Collection[x509.Certificate],
        verifier: RequestVerifier | None = None,
        limiter: RateLimiter | None = None,
        revocation: RevocationCheck | None = None,
        alerts: AlertSink | None = None,
        authorities: Collection[str] | None = None,
        max_body: int = MAX_BODY,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if verifier is None and any(r.signed for r in policy.rules):
            raise ValueError("signed rules need a request verifier")
        self.app = app
        self.policy = policy
        self._issuers = list(trust)
        self.verifier = verifier
        self.limiter = limiter
        self.revocation = revocation
        self.alerts = alerts
        self.authorities = frozenset(authorities) if authorities is not None else None
        self.max_body = max_body
        self._clock = clock or (lambda: datetime.now(UTC))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        party: Party | None = None
        try:
            cert, party = self._peer(scope)
            found = self.policy.match(method, path)
            if found is None or party.role not in found.roles:
                raise NotAllowed(
                    "the caller's role may not call this endpoint", reason="role-not-allowed", field="role"
                )
            signature: VerifiedSignature | None = None
            body: bytes | None = None
            if found.signed or found.requester is not None:
                body = await self._body(scope, receive)
                receive = _replay(body, receive)
            if found.signed:
                assert self.verifier is not None
                assert body is not None
                request = ReceivedRequest.of(method=method, url=self._url(scope), headers=_headers(scope))
                signature = await run_in_threadpool(self._admit, cert, party, request, body)
            elif self.revocation is not None:
                await run_in_threadpool(self._check_peer, cert)
            if found.requester is not None and body is not None:
                _bind_requester(found.requester, body, _headers(scope), party)
            if self.limiter is not None:
                try:
                    self.limiter.take(signature.terminal.id if signature is not None else party.name)
                except RateLimited as exc:
                    exc.terminal = signature.terminal.id if signature is not None else None
                    raise
        except WireRefusal as exc:
            if not isinstance(exc, RateLimited) or exc.first:
                self._alert(exc.reason, exc, party, exc.terminal, method, path)
            await _problem(exc)(scope, receive, send)
            return
        except Unavailable as exc:  # a revocation status or the replay cache: refused, and the caller may retry
            self._alert("unavailable", exc, party, None, method, path)
            await _problem(exc)(scope, receive, send)
            return
        except TooLarge as exc:
            await _problem(exc)(scope, receive, send)
            return
        except Exception as exc:  # the type only: its text may hold what the request held; fail closed
            log.error("the guard failed on a request: %s", type(exc).__name__)
            await _problem(SekishoError("the service failed; nothing was changed by this request"))(
                scope, receive, send
            )
            return
        scope.setdefault("state", {})[STATE_KEY] = Caller(party=party, signature=signature)
        await self.app(scope, receive, send)

    def _peer(self, scope: Scope) -> tuple[x509.Certificate, Party]:
        tls = (scope.get("extensions") or {}).get("tls") or {}
        chain = tls.get("client_cert_chain") or []
        if not chain:
            raise NotAuthenticated(
                "a client certificate from the organisation CA is required",
                reason="no-client-certificate",
                field="client-certificate",
            )
        cert, party = _peer_certificate(chain[0])
        if party is None:
            raise NotAuthenticated(
                "the client certificate is not a party's", reason="not-a-party", field="client-certificate"
            )
        return cert, party

    def _check_peer(self, cert: x509.Certificate) -> None:
        # the TLS layer checked the chain and the dates; revocation is ours (OpenSSL was given no CRL)
        if self.revocation is None:
            return
        issuer = next((i for i in self._issuers if i.subject == cert.issuer), None)
        if issuer is None:
            raise NotAuthenticated(
                "the client certificate is not from the organisation CA",
                reason="untrusted-certificate",
                field="client-certificate",
            )
        try:
            self.revocation.check(cert, issuer, at=self._clock(), depth=0)
        except Unavailable:
            raise
        except SekishoError as exc:
            raise NotAuthenticated(
                "the client certificate is revoked or its status is unknown",
                reason=exc.kind,
                field="client-certificate",
            ) from None
        except Exception:  # the checker's transport (OCSP over HTTP) failed: no status, no admission
            raise Unavailable("the revocation status could not be had", field="revocation") from None

    def _admit(self, cert: x509.Certificate, party: Party, request: ReceivedRequest, body: bytes) -> VerifiedSignature:
        self._check_peer(cert)
        assert self.verifier is not None
        return self.verifier.verify(request, body=body, caller=party)

    def _url(self, scope: Scope) -> str:
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        if host is None or (self.authorities is not None and host not in self.authorities):
            raise NotAuthenticated("the request is addressed to another server", reason="wrong-authority", field="host")
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        query = scope.get("query_string") or b""
        target = raw.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        return f"{scope.get('scheme', 'https')}://{host}{target}"

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise TooLarge(f"the body may be at most {self.max_body} bytes", field="body")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise TooLarge(f"the body may be at most {self.max_body} bytes", field="body")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _alert(
        self,
        reason: str,
        exc: SekishoError,
        party: Party | None,
        terminal: str | None,
        method: str,
        path: str,
    ) -> None:
        emit(
            self.alerts,
            AuthAlert(
                at=self._clock(),
                reason=reason,
                status=exc.status,
                party=party.name if party is not None else None,
                terminal=terminal,
                method=method,
                path=path,
                detail=str(exc),
            ),
        )


def _bind_requester(form: str, body: bytes, headers: list[tuple[str, str]], party: Party) -> None:
    """The requester the body names must be the authenticated caller: a party cannot ask in another's name (the
    policy decides on the name in the body).  A body that names none is left to the handler to refuse."""
    named = _named_requester(body, headers)
    if named is None:
        return
    expected = party.name if form == "party" else party.name.split("/", 1)[-1]
    if named != expected:
        raise NotAllowed(
            "the request names another requester than the authenticated party",
            reason="requester-not-caller",
            field="requester",
        )


def _named_requester(body: bytes, headers: list[tuple[str, str]]) -> str | None:
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    try:
        if content_type.startswith("application/json"):
            doc = json.loads(body)
        elif content_type.startswith("application/octet-stream") and len(body) >= 4:
            # a batch frame (docs/transport.md): u32 big-endian header length, then the JSON header
            size = int.from_bytes(body[:4], "big")
            doc = json.loads(body[4 : 4 + size]) if size <= len(body) - 4 else None
        else:
            return None
    except ValueError:
        return None  # malformed: the handler refuses it with the field it names
    value = doc.get("requester") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def _headers(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body the guard read, once, for the application; then whatever the connection says (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
