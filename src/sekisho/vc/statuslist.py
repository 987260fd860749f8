"""IETF Token Status List (draft-ietf-oauth-status-list): a bit string per issuer, one bit per credential
(0 valid, 1 invalid), DEFLATE-compressed with zlib (RFC 1950) and base64url, in a JWT of typ ``statuslist+jwt``.

The list is large (``SIZE`` entries) and each credential's index is drawn at random among the free ones, so that a
verifier fetching the list learns nothing about which credential it checks, and the issuer, serving the same list
to everyone, learns nothing about which credential is being checked.
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sekisho.vc.sdjwt import ALG, VerificationFailed, VerifyingKey, b64u, sign, unb64u, verify_jws

TYP = "statuslist+jwt"
SIZE = 1 << 17  # 131,072 entries: 16 KiB raw, a few hundred bytes compressed while mostly zero
BITS = 1


def encode(revoked: Iterable[int], *, size: int = SIZE) -> str:
    """§4.1: bit i of the list is bit (i mod 8) of byte i // 8 (least significant first); zlib, base64url."""
    raw = bytearray(size // 8)
    for i in revoked:
        if not 0 <= i < size:
            raise ValueError("status index out of range")
        raw[i // 8] |= 1 << (i % 8)
    return b64u(zlib.compress(bytes(raw), 9))


def decode(lst: str) -> bytes:
    try:
        return zlib.decompress(unb64u(lst, field="status_list"))
    except zlib.error:
        raise VerificationFailed("not a zlib stream", field="status_list") from None


def status_at(raw: bytes, index: int) -> int:
    if not 0 <= index < len(raw) * 8:
        raise VerificationFailed("index outside the list", field="status")
    return (raw[index // 8] >> (index % 8)) & 1


def draw_index(taken: set[int], *, size: int = SIZE) -> int:
    """A uniformly random free index (§12.5 unlinkability: no sequential allocation)."""
    if len(taken) >= size:
        raise ValueError("status list is full")
    while True:
        i = secrets.randbelow(size)
        if i not in taken:
            return i


def token(
    *,
    uri: str,
    issuer: str,
    revoked: Iterable[int],
    key: ec.EllipticCurvePrivateKey,
    x5c_b64: list[str],
    iat: int,
    ttl: int,
    size: int = SIZE,
) -> str:
    """§5.1 Status List Token in JWT format: sub = the list's URI, status_list = {bits, lst}, exp and ttl."""
    payload = {
        "sub": uri,
        "iss": issuer,
        "iat": iat,
        "exp": iat + ttl,
        "ttl": ttl,
        "status_list": {"bits": BITS, "lst": encode(revoked, size=size)},
    }
    return sign({"alg": ALG, "typ": TYP, "x5c": x5c_b64}, payload, key)


def verify_token(text: str, key: VerifyingKey, *, uri: str, now: int) -> tuple[bytes, int]:
    """The decompressed list of a token signed by ``key`` for ``uri``, current at ``now``, and the token's
    ``exp`` (until when a verifier may keep it: §13.7 caching)."""
    payload: dict[str, Any] = verify_jws(text, key, typ=TYP, field="status_list")
    if payload.get("sub") != uri:
        raise VerificationFailed("token is for another list", field="status_list")
    exp = payload.get("exp")
    if not isinstance(exp, int) or exp <= now:
        raise VerificationFailed("token has expired", field="status_list")
    body = payload.get("status_list")
    if not isinstance(body, dict) or body.get("bits") != BITS or not isinstance(body.get("lst"), str):
        raise VerificationFailed("status_list must hold bits=1 and lst", field="status_list")
    return decode(body["lst"]), exp


def x5c_leaf_key(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise VerificationFailed("issuer key is not ECDSA", field="x5c")
    return key
