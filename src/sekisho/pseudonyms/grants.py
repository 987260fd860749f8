"""Signed grants: the default policy of a transcryptor.

A grant says "domain X may convert to domain Y for purpose P from T0 until T1, at most N ciphertexts", signed
with Ed25519 (RFC 8032) by the grant issuer (the watchdog).  Its text form is::

    sks-grant1.<base64url(payload)>.<base64url(signature)>

where ``payload`` is canonical JSON (keys sorted, no spaces, UTF-8; times as integer Unix seconds) and the
signature covers ``"sekisho/grant/v1\\n" ‖ payload``.  A payload that is not in canonical form is refused, so a
grant has exactly one encoding.

Each transcryptor verifies a grant on its own — signature, issuer, domains, purpose, validity period — and
counts its uses in its *own* database (:mod:`sekisho.pseudonyms.store`): T1 and T2 never consult each other,
so either one alone refuses a grant that is forged, expired, misapplied or used up.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets as _secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sekisho.errors import Conflict, InvalidInput, Refused
from sekisho.keyfile import DEFAULT_N, read_key_file, write_key_file
from sekisho.pep.keys import key_id
from sekisho.protocols.conversion import (
    MAX_USES,
    ConversionRequest,
    Grant,
    batch_digest,
    check_domain,
    check_purpose,
)
from sekisho.pseudonyms import store

PREFIX: Final = "sks-grant1"
_CONTEXT: Final = b"sekisho/grant/v1\n"
_MAX_TOKEN: Final = 4096

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64u(text: str) -> bytes:
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _ts(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise InvalidInput("must carry a time zone", field="time")
    return int(dt.timestamp())


def canonical_payload(grant: Grant) -> bytes:
    body = {
        "v": 1,
        "id": grant.grant_id,
        "iss": grant.issuer,
        "from": grant.from_domain,
        "to": grant.to_domain,
        "purpose": grant.purpose,
        "nbf": _ts(grant.not_before),
        "exp": _ts(grant.not_after),
        "max": grant.max_uses,
        "basis": grant.legal_basis,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _check_fields(grant: Grant) -> None:
    if not (len(grant.grant_id) == 32 and all(c in "0123456789abcdef" for c in grant.grant_id)):
        raise InvalidInput("must be 32 lowercase hex digits", field="grant_id")
    check_domain(grant.from_domain, field="from_domain")
    check_domain(grant.to_domain, field="to_domain")
    check_purpose(grant.purpose)
    if not 1 <= grant.max_uses <= MAX_USES:
        raise InvalidInput(f"must be between 1 and {MAX_USES}", field="max_uses")
    if grant.not_after <= grant.not_before:
        raise InvalidInput("must be after not_before", field="not_after")
    if len(grant.legal_basis) > 200 or not grant.legal_basis.isprintable():
        raise InvalidInput("must be at most 200 printable characters", field="legal_basis")


@dataclass(frozen=True, repr=False)
class GrantIssuer:
    """The watchdog's signing key for grants."""

    key: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        return key_id(self.key.public_key())

    def issue(
        self,
        *,
        from_domain: str,
        to_domain: str,
        purpose: str,
        not_after: datetime,
        max_uses: int,
        not_before: datetime | None = None,
        legal_basis: str = "",
        grant_id: str | None = None,
    ) -> str:
        """Sign a grant and return its text form."""
        grant = Grant(
            grant_id=grant_id or _secrets.token_hex(16),
            issuer=self.key_id,
            from_domain=from_domain,
            to_domain=to_domain,
            purpose=purpose,
            not_before=(not_before or utcnow()).replace(microsecond=0),
            not_after=not_after.replace(microsecond=0),
            max_uses=max_uses,
            legal_basis=legal_basis,
        )
        _check_fields(grant)
        payload = canonical_payload(grant)
        return f"{PREFIX}.{_b64u(payload)}.{_b64u(self.key.sign(_CONTEXT + payload))}"

    def __repr__(self) -> str:
        return f"GrantIssuer(key_id={self.key_id!r})"


def _malformed() -> Refused:
    return Refused("is not a well-formed signed grant", field="grant")


def verify_grant(token: str, issuer_keys: Mapping[str, Ed25519PublicKey]) -> Grant:
    """Check a grant's form and signature; returns it.  Raises Refused (field ``grant``) otherwise."""
    if not isinstance(token, str) or len(token) > _MAX_TOKEN:
        raise _malformed()
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise _malformed()
    try:
        payload, signature = _unb64u(parts[1]), _unb64u(parts[2])
        body: Any = json.loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise _malformed() from None
    if not isinstance(body, dict) or body.get("v") != 1:
        raise _malformed()
    iss = body.get("iss")
    public = issuer_keys.get(iss) if isinstance(iss, str) else None
    if public is None:
        raise Refused("is signed by an issuer this network does not know", field="grant")
    try:
        public.verify(signature, _CONTEXT + payload)
    except InvalidSignature:
        raise Refused("signature does not verify", field="grant") from None
    try:
        grant = Grant(
            grant_id=body["id"],
            issuer=body["iss"],
            from_domain=body["from"],
            to_domain=body["to"],
            purpose=body["purpose"],
            not_before=datetime.fromtimestamp(body["nbf"], UTC),
            not_after=datetime.fromtimestamp(body["exp"], UTC),
            max_uses=body["max"],
            legal_basis=body["basis"],
        )
        if not all(isinstance(body[k], int) and not isinstance(body[k], bool) for k in ("nbf", "exp", "max")):
            raise _malformed()
        _check_fields(grant)
    except (KeyError, TypeError, ValueError, OverflowError, OSError, InvalidInput):
        raise _malformed() from None
    if canonical_payload(grant) != payload or len(body) != 10:
        raise _malformed()
    return grant


def check_applies(grant: Grant, request: ConversionRequest, now: datetime) -> None:
    """The grant covers this request: same domains and purpose, inside its validity period."""
    if grant.from_domain != request.from_domain or grant.to_domain != request.to_domain:
        raise Refused("does not cover this pair of domains", field="grant")
    if grant.purpose != request.purpose:
        raise Refused("does not cover this purpose", field="grant")
    if now < grant.not_before:
        raise Refused("is not valid yet", field="grant")
    if now >= grant.not_after:
        raise Refused("has expired", field="grant")
    if len(request.ciphertexts) > grant.max_uses:
        raise Refused("allows fewer conversions than this batch holds", field="grant")


class SignedGrantPolicy:
    """The default :class:`~sekisho.protocols.conversion.PolicyHook`: verify the signed grant the request
    carries, then count its uses in this transcryptor's own database (one transaction)."""

    def __init__(
        self, *, engine: sa.Engine, issuer_keys: Mapping[str, Ed25519PublicKey], clock: Clock = utcnow
    ) -> None:
        if not issuer_keys:
            raise InvalidInput("a signed-grant policy needs at least one issuer key", field="issuer_keys")
        self._engine = engine
        self._issuer_keys = dict(issuer_keys)
        self._clock = clock

    def authorise(self, request: ConversionRequest) -> Grant:
        grant = verify_grant(request.grant, self._issuer_keys)
        now = self._clock()
        check_applies(grant, request, now)
        digest = batch_digest(request)
        try:
            with self._engine.begin() as conn:
                store.redeem(conn, grant=grant, request=request, digest=digest, now=now)
        except sa.exc.IntegrityError:
            # the same (requester, request id) redeemed concurrently: one wins, the other is told so
            raise Conflict("is being redeemed by another call", field="request_id") from None
        return grant


# --- the issuer's key file -------------------------------------------------------------------------------


def save_issuer(path: Path, issuer: GrantIssuer, *, passphrase: bytes, n: int = DEFAULT_N) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    seed = issuer.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    write_key_file(
        path, kind="grant-issuer", party="watchdog", secrets={"seed": seed.hex()}, passphrase=passphrase, n=n
    )


def load_issuer(path: Path, *, passphrase: bytes, party: str | None = None) -> GrantIssuer:
    _party, data = read_key_file(path, kind="grant-issuer", passphrase=passphrase, party=party)
    try:
        return GrantIssuer(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(data["seed"])))
    except (KeyError, ValueError):
        raise InvalidInput("is not a grant issuer key file", field="key_file") from None
