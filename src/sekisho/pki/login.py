"""Login with the card: a challenge-response protocol, pure (no storage, no HTTP).

1. The server issues a challenge: 32 random bytes, bound to its audience and an expiry (default 2 minutes).
2. The card signs :func:`signing_input` of the challenge with its *authentication* key (ECDSA P-256, SHA-256).
3. The server checks the challenge is its own, unused and current, the signature, then the certificate path
   (bridge, policy, key usage) and revocation, and returns a session token naming only the authentication
   certificate's subject identifier: a random value that says nothing about the person.

The signed bytes are domain-separated and canonical, so a signature for a login can never be replayed as a
signature on anything else, nor for another audience.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sekisho.errors import InvalidInput, Refused
from sekisho.pki.card import Card
from sekisho.pki.oids import Purpose
from sekisho.pki.profiles import SIGNATURE_HASH

CONTEXT = b"sekisho-pki-login-v1\x00"
CHALLENGE_TTL = timedelta(minutes=2)
SESSION_TTL = timedelta(hours=1)
MAX_AUDIENCE = 255


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str, *, field: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise InvalidInput("not base64url", field=field) from None


@dataclass(frozen=True, slots=True)
class Challenge:
    nonce: str  # base64url of 32 random bytes
    audience: str
    expires_at: datetime

    @classmethod
    def new(cls, *, audience: str, now: datetime, ttl: timedelta = CHALLENGE_TTL) -> Challenge:
        check_audience(audience)
        return cls(nonce=b64u(secrets.token_bytes(32)), audience=audience, expires_at=now + ttl)

    def to_json(self) -> dict[str, str]:
        return {"nonce": self.nonce, "audience": self.audience, "expires_at": self.expires_at.isoformat()}


def check_audience(audience: str) -> None:
    if not audience or len(audience) > MAX_AUDIENCE or not audience.isprintable():
        raise InvalidInput(f"an audience is 1..{MAX_AUDIENCE} printable characters", field="audience")


def signing_input(challenge: Challenge) -> bytes:
    body = {"aud": challenge.audience, "exp": int(challenge.expires_at.timestamp()), "nonce": challenge.nonce}
    return CONTEXT + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class LoginResponse:
    nonce: str
    audience: str
    signature: str  # base64url, DER ECDSA
    certificate: str  # base64url, DER

    def to_json(self) -> dict[str, str]:
        return {
            "nonce": self.nonce,
            "audience": self.audience,
            "signature": self.signature,
            "certificate": self.certificate,
        }


def answer(challenge: Challenge, card: Card, *, pin: str) -> LoginResponse:
    """The card's side: sign the challenge with the authentication key."""
    from cryptography.hazmat.primitives.serialization import Encoding

    cert = card.certificate(Purpose.AUTHENTICATION)
    signature = card.sign(Purpose.AUTHENTICATION, signing_input(challenge), pin=pin)
    return LoginResponse(
        nonce=challenge.nonce,
        audience=challenge.audience,
        signature=b64u(signature),
        certificate=b64u(cert.public_bytes(Encoding.DER)),
    )


def check_challenge(stored: Challenge, response: LoginResponse, *, audience: str, now: datetime) -> None:
    """The server's checks on the challenge itself (the caller has already claimed it, once)."""
    if response.audience != stored.audience or stored.audience != audience:
        raise Refused("the challenge was issued for another audience", field="audience")
    if now >= stored.expires_at:
        raise Refused("the challenge has expired", field="nonce")


def response_certificate(response: LoginResponse) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(unb64u(response.certificate, field="certificate"))
    except ValueError:
        raise InvalidInput("not a DER certificate", field="certificate") from None


def check_signature(stored: Challenge, response: LoginResponse, cert: x509.Certificate) -> None:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Refused("an authentication key is ECDSA P-256", field="certificate")
    try:
        key.verify(unb64u(response.signature, field="signature"), signing_input(stored), ec.ECDSA(SIGNATURE_HASH))
    except InvalidSignature:
        raise Refused("the signature does not verify", field="signature") from None


def subject_id(cert: x509.Certificate) -> str:
    """The authentication certificate's random subject identifier (its commonName)."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or not isinstance(names[0].value, str):
        raise Refused("not an authentication certificate", field="certificate")
    return names[0].value
