"""Signed statements (PIA decisions, warrants, revocation lists): their text form and their verification, which
every party that is shown one does on its own (the signing key and the signing are the watchdog's,
:mod:`sekisho.policy.signing`).

A statement's text form is ``sks-<kind>1.<base64url(payload)>.<base64url(signature)>``: ``payload`` is canonical
JSON (keys sorted, no spaces, UTF-8, integers for times) and the Ed25519 signature (RFC 8032 §5.1, pyca
``cryptography``) covers ``"sekisho/policy/<kind>/v1\\n" ‖ payload`` — a per-kind context, so that a warrant can
never be read as a PIA approval or a grant.  A payload that is not in canonical form is refused: each statement has
exactly one encoding, and its SHA-256 is a stable id.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sekisho.errors import Refused

Kind = Literal["pia", "warrant", "revocations"]
KINDS: Final[frozenset[str]] = frozenset({"pia", "warrant", "revocations"})
MAX_TOKEN: Final = 4096  # fits ConversionRequest.grant
_B64U: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    if not text or not set(text) <= _B64U:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def context(kind: str) -> bytes:
    return f"sekisho/policy/{kind}/v1\n".encode("ascii")


def prefix(kind: str) -> str:
    return f"sks-{kind}1"


def is_statement(token: str, kind: Kind) -> bool:
    return isinstance(token, str) and token.startswith(prefix(kind) + ".")


def _malformed(kind: str) -> Refused:
    return Refused(f"is not a well-formed signed {kind} statement", field=kind)


def verify(token: str, kind: Kind, keys: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    """Check form, issuer and signature of a statement; return its body.  Raises Refused (field = kind)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN:
        raise _malformed(kind)
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != prefix(kind):
        raise _malformed(kind)
    try:
        payload, signature = unb64u(parts[1]), unb64u(parts[2])
        body: Any = json.loads(payload.decode("utf-8"))
        # inside the try: a string with an escaped lone surrogate ("\ud800") decodes but cannot be encoded again
        # (UnicodeEncodeError), and arrays nested a thousand deep exhaust the decoder's recursion limit
        if not isinstance(body, dict) or body.get("kind") != kind or canonical(body) != payload:
            raise _malformed(kind)
    except (ValueError, binascii.Error, RecursionError):
        raise _malformed(kind) from None
    issuer = body.get("iss")
    public = keys.get(issuer) if isinstance(issuer, str) else None
    if public is None:
        raise Refused("is signed by a key this network does not know", field=kind)
    try:
        public.verify(signature, context(kind) + payload)
    except InvalidSignature:
        raise Refused("signature does not verify", field=kind) from None
    return body
