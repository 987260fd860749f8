"""RFC 9421 HTTP Message Signatures by a terminal's key, and their verification by the party that receives them.

What is signed (label and tag ``sekisho``, algorithm ``ecdsa-p256-sha256``, RFC 9421 §3.3.4):

* ``@method``, ``@target-uri`` (scheme, authority, path and query: which party, which endpoint);
* ``content-digest`` — RFC 9530, SHA-256 of the body as sent (an empty body has a digest too);
* ``content-type`` when the request has one;
* ``sekisho-terminal-certificate`` — the terminal's certificate (DER, a Structured Field byte sequence), so that
  the receiver needs no directory of terminals and the certificate cannot be swapped;
* the parameters ``created``, ``keyid`` (the terminal's id), ``nonce`` (random, 128 bits or more), ``alg``, ``tag``.

The receiver (:class:`RequestVerifier`) checks the certificate (the organisation CA, its dates, revocation through
the checker the composition root hands it, that it is a terminal's and that the terminal belongs to the party that
sent the request over mTLS), then the signature with `http-message-signatures`, the body against the digest, the
``created`` time against a window both ways, and the nonce against a replay cache.  What it verified comes back as
a :class:`VerifiedSignature`, to be stored with the access record: the watchdog can show which terminal asked and
anyone can check the signature again from those fields and the terminal's certificate.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from cryptography.x509 import verification
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    MappingKeyResolver,
    algorithms,
)

from sekisho.errors import SekishoError, Unavailable
from sekisho.wire.identity import NotThisKind, Party, Terminal, terminal_of
from sekisho.wire.refusals import NotAllowed, NotAuthenticated, WireRefusal

LABEL = "sekisho"
TAG = "sekisho"
ALGORITHM = algorithms.ECDSA_P256_SHA256
CERTIFICATE_HEADER = "Sekisho-Terminal-Certificate"
#: what every signature must cover (content-type too, when the request has one)
REQUIRED = ("@method", "@target-uri", "content-digest", CERTIFICATE_HEADER.lower())
#: ``created`` may differ from the receiver's clock by this much, either way
WINDOW = timedelta(seconds=30)
_NONCE = re.compile(r"[A-Za-z0-9_-]{22,128}")


# ---------------------------------------------------------------------------------------------------------------
# signing (the terminal's side)


@dataclass(frozen=True, slots=True)
class TerminalKey:
    """A terminal's private key and its certificate from the organisation CA."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def terminal(self) -> Terminal:
        return terminal_of(self.certificate)

    @classmethod
    def load(cls, *, certfile: str, keyfile: str, password: bytes | None = None) -> TerminalKey:
        with open(certfile, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        with open(keyfile, "rb") as f:
            key = load_pem_private_key(f.read(), password=password)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise NotAuthenticated("a terminal key is ECDSA P-256", reason="bad-terminal-key", field="key")
        return cls(key=key, certificate=cert)


def certificate_field(cert: x509.Certificate) -> str:
    """The certificate as an RFC 8941 byte sequence (``:base64:``)."""
    return ":" + base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii") + ":"


def sign_request(
    request: httpx.Request, terminal: TerminalKey, *, created: datetime | None = None, nonce: str | None = None
) -> None:
    """Sign ``request`` in place (adds Content-Digest, Sekisho-Terminal-Certificate, Signature-Input, Signature).
    The body must be read (``request.content``)."""
    key_id = terminal.terminal.id
    request.headers[CERTIFICATE_HEADER] = certificate_field(terminal.certificate)
    covered = ["@method", "@target-uri", CERTIFICATE_HEADER.lower()]
    if "content-type" in request.headers:
        covered.append("content-type")
    signer = HTTPMessageSigner(
        signature_algorithm=ALGORITHM,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: terminal.key}),
    )
    signer.sign(
        request,
        key_id=key_id,
        created=created or datetime.now(UTC),
        nonce=nonce or secrets.token_urlsafe(24),
        label=LABEL,
        tag=TAG,
        covered_component_ids=covered,
        body=request.content,  # adds content-digest (RFC 9530, sha-256) and covers it
    )


class TerminalAuth(httpx.Auth):
    """httpx authentication: every request leaves signed by the terminal's key (fresh ``created`` and nonce)."""

    requires_request_body = True

    def __init__(self, terminal: TerminalKey, *, clock: Callable[[], datetime] | None = None) -> None:
        self._terminal = terminal
        self._clock = clock or (lambda: datetime.now(UTC))

    def auth_flow(self, request: httpx.Request) -> Any:
        sign_request(request, self._terminal, created=self._clock())
        yield request


# ---------------------------------------------------------------------------------------------------------------
# verifying (the receiving party's side)


class RevocationCheck(Protocol):
    """Raises (a :class:`~sekisho.errors.SekishoError`) if ``cert`` is revoked or its status cannot be told.

    ``sekisho.pki.verify.CrlChecker`` and ``OcspChecker`` have this shape: the composition root passes one in."""

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, *, at: datetime, depth: int) -> None: ...


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """What was verified, to be kept with the access record."""

    terminal: Terminal
    key_id: str
    #: the Signature-Input and Signature fields as received (RFC 9421 §4.1, §4.2)
    signature_input: str
    signature: str
    #: the signature base that was verified (RFC 9421 §2.5): with ``signature`` and the certificate, enough to check
    #: the signature again, anywhere, later
    signature_base: str
    created: datetime
    nonce: str
    certificate_serial: str
    certificate_sha256: str


class ReplayCache:
    """Nonces seen, each kept until its signature would be refused as stale anyway."""

    def __init__(self, *, max_entries: int = 1_000_000, clock: Callable[[], float] = time.time) -> None:
        self._seen: dict[str, float] = {}
        self._expiry: list[tuple[float, str]] = []
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def claim(self, key: str, *, until: float) -> bool:
        """Record ``key`` until ``until`` (epoch seconds); False if it was already there."""
        now = self._clock()
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                _, old = heapq.heappop(self._expiry)
                if self._seen.get(old, now) < now:
                    del self._seen[old]
            if key in self._seen:
                return False
            if len(self._seen) >= self._max:
                # refusing everyone is better than forgetting a nonce that could then be replayed
                raise Unavailable("the replay cache is full; try again shortly", field="nonce")
            self._seen[key] = until
            heapq.heappush(self._expiry, (until, key))
            return True


class _Headers:
    """The field lines of a received request, as the signature library reads them."""

    def __init__(self, lines: Iterable[tuple[str, str]]) -> None:
        self._lines = list(lines)

    def items(self) -> list[tuple[str, str]]:
        return list(self._lines)

    def get(self, name: str) -> str | None:
        values = [v for k, v in self._lines if k.lower() == name]
        return ", ".join(values) if values else None


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    method: str
    #: the absolute target URI as the server received it (scheme, Host, raw path and query)
    url: str
    headers: _Headers

    @classmethod
    def of(cls, *, method: str, url: str, headers: Iterable[tuple[str, str]]) -> ReceivedRequest:
        return cls(method=method, url=url, headers=_Headers(headers))


class RequestVerifier:
    def __init__(
        self,
        *,
        trust: Sequence[x509.Certificate],
        revocation: RevocationCheck | None,
        window: timedelta = WINDOW,
        replay: ReplayCache | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not trust:
            raise ValueError("a verifier needs the organisation CA")
        self._trust = list(trust)
        self._store = verification.Store(self._trust)
        self._revocation = revocation
        self._window = window
        self._replay = replay or ReplayCache()
        self._clock = clock or (lambda: datetime.now(UTC))

    def verify(self, request: ReceivedRequest, *, body: bytes, caller: Party) -> VerifiedSignature:
        """Verify the terminal signature of a request that ``caller`` sent over mTLS; raise a 401/403 refusal."""
        now = self._clock()
        signature_input, signature = request.headers.get("signature-input"), request.headers.get("signature")
        if signature_input is None or signature is None:
            raise NotAuthenticated(
                "the request needs an RFC 9421 signature by a terminal", reason="unsigned", field="signature"
            )
        cert = self._certificate(request.headers.get(CERTIFICATE_HEADER.lower()))
        try:
            terminal = terminal_of(cert)
        except NotThisKind:
            raise NotAuthenticated(
                "the signing certificate is not a terminal's", reason="not-a-terminal", field="terminal-certificate"
            ) from None
        try:
            self._check_certificate(cert, now)
            if terminal.party != caller:
                raise NotAllowed(
                    "the signing terminal belongs to another party",
                    reason="terminal-of-another-party",
                    field="terminal-certificate",
                )
            result = self._check_signature(request, body=body, key_id=terminal.id, key=cert.public_key())
            created, nonce = result.parameters.get("created"), result.parameters.get("nonce")
            if not isinstance(created, int):
                raise NotAuthenticated(
                    "the signature has no created time", reason="signature-invalid", field="signature"
                )
            when = datetime.fromtimestamp(created, UTC)
            if abs(now - when) > self._window:
                raise NotAuthenticated(
                    "the signature was not created within the accepted window",
                    reason="outside-time-window",
                    field="signature",
                )
            if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
                raise NotAuthenticated(
                    "the signature needs a random nonce (22-128 base64url characters)",
                    reason="no-nonce",
                    field="signature",
                )
            # the nonce is spent only now that the signature verified: nobody can burn another terminal's nonces
            until = (when + 2 * self._window).timestamp()
            if not self._replay.claim(f"{terminal.id} {nonce}", until=until):
                raise NotAuthenticated(
                    "the request was already received (replayed nonce)", reason="replayed", field="signature"
                )
        except WireRefusal as exc:
            exc.terminal = terminal.id
            raise
        return VerifiedSignature(
            terminal=terminal,
            key_id=terminal.id,
            signature_input=signature_input,
            signature=signature,
            signature_base="\n".join(f"{k}: {v}" for k, v in result.covered_components.items()),
            created=when,
            nonce=nonce,
            certificate_serial=format(cert.serial_number, "x"),
            certificate_sha256=hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(),
        )

    @staticmethod
    def _certificate(value: str | None) -> x509.Certificate:
        if value is None:
            raise NotAuthenticated(
                "the request does not carry the terminal's certificate",
                reason="no-terminal-certificate",
                field="terminal-certificate",
            )
        value = value.strip()
        try:
            if not (len(value) > 2 and value[0] == value[-1] == ":"):
                raise ValueError
            return x509.load_der_x509_certificate(base64.b64decode(value[1:-1], validate=True))
        except ValueError:
            raise NotAuthenticated(
                "the terminal certificate is not a DER certificate in a byte sequence",
                reason="bad-terminal-certificate",
                field="terminal-certificate",
            ) from None

    def _check_certificate(self, cert: x509.Certificate, now: datetime) -> None:
        # the dates first, so that an expired terminal says so rather than "untrusted"
        if cert.not_valid_after_utc < now:
            raise NotAuthenticated(
                "the terminal certificate has expired", reason="certificate-expired", field="terminal-certificate"
            )
        if cert.not_valid_before_utc > now:
            raise NotAuthenticated(
                "the terminal certificate is not valid yet",
                reason="certificate-not-yet-valid",
                field="terminal-certificate",
            )
        verifier = (
            verification.PolicyBuilder()
            .store(self._store)
            .time(now)
            .extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=verification.ExtensionPolicy.permit_all(),
            )
            .build_client_verifier()
        )
        try:
            chain = list(verifier.verify(cert, []).chain)
        except verification.VerificationError:
            raise NotAuthenticated(
                "the terminal certificate is not from the organisation CA",
                reason="untrusted-certificate",
                field="terminal-certificate",
            ) from None
        try:
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
            signs = usage.digital_signature
        except x509.ExtensionNotFound:
            signs = False
        if not signs:
            raise NotAuthenticated(
                "the terminal certificate does not allow digital signatures",
                reason="wrong-key-usage",
                field="terminal-certificate",
            )
        if self._revocation is not None:
            try:
                self._revocation.check(cert, chain[1], at=now, depth=0)
            except Unavailable:
                raise
            except SekishoError as exc:
                raise NotAuthenticated(
                    "the terminal certificate is revoked or its status is unknown",
                    reason=exc.kind,
                    field="terminal-certificate",
                ) from None
            except Exception:  # the checker's transport (OCSP over HTTP) failed: no status, no admission
                raise Unavailable("the revocation status could not be had", field="revocation") from None

    @staticmethod
    def _check_signature(request: ReceivedRequest, *, body: bytes, key_id: str, key: Any) -> Any:
        verifier = HTTPMessageVerifier(
            signature_algorithm=ALGORITHM,
            key_resolver=MappingKeyResolver(public_keys={key_id: key}, private_keys={}),
        )
        # created is checked against our own window, both ways, after the signature verified
        verifier.max_clock_skew = timedelta(days=3650)
        required = list(REQUIRED)
        if request.headers.get("content-type") is not None:
            required.append("content-type")
        try:
            results = verifier.verify(request, max_age=None, expect_tag=TAG, require_components=required, body=body)
        except HTTPMessageSignaturesException:  # InvalidSignature too: the library's text may quote the request
            raise NotAuthenticated(
                "the request signature does not verify (signature, coverage or body digest)",
                reason="signature-invalid",
                field="signature",
            ) from None
        if len(results) != 1 or results[0].parameters.get("keyid") != key_id:
            raise NotAuthenticated(
                "the request needs exactly one signature, by the certified terminal",
                reason="signature-invalid",
                field="signature",
            )
        return results[0]
