"""ElGamal on ristretto255, in the additive notation of the PEP papers.

``Enc(r, M, Y) = (B, C) = (r·G, M + r·Y)`` and ``Dec((B, C), y) = C − y·B`` for a key pair ``Y = y·G``
(ElGamal 1985; Verheul & Jacobs 2017, "ElGamal encryption"; libpep README, "How it works").  A ciphertext is
the 64 bytes ``B ‖ C``; the public key it is under travels beside it (one per batch), as in libpep's
two-component form, rather than inside it as BSNk's three-point structures do.

Re-randomisation ``(B + r·G, C + r·Y)`` changes every bit of a ciphertext and nothing of its plaintext, so that
a party that sees the same ciphertext twice cannot tell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sekisho.errors import InvalidInput
from sekisho.pep.group import (
    POINT_BYTES,
    Point,
    Scalar,
    check_point_bytes,
    is_valid_point,
    point_add,
    scalar_random,
    scalarmult,
    scalarmult_base,
)

CIPHERTEXT_BYTES: Final = 2 * POINT_BYTES
#: budget against hostile input: one request converts at most this many ciphertexts
MAX_BATCH: Final = 100_000


@dataclass(frozen=True, slots=True, repr=False)
class Ciphertext:
    """``(B, C)``; neither component may be the identity (B = 0 would mean no randomness at all)."""

    b: Point
    c: Point

    @classmethod
    def from_bytes(cls, data: bytes, *, field: str = "ciphertext") -> Ciphertext:
        if not isinstance(data, (bytes, bytearray)) or len(data) != CIPHERTEXT_BYTES:
            raise InvalidInput(f"must be {CIPHERTEXT_BYTES} bytes", field=field)
        data = bytes(data)
        return cls(
            Point.from_bytes(data[:POINT_BYTES], field=f"{field}.B"),
            Point.from_bytes(data[POINT_BYTES:], field=f"{field}.C"),
        )

    def to_bytes(self) -> bytes:
        return self.b.to_bytes() + self.c.to_bytes()

    def __repr__(self) -> str:
        return "Ciphertext(<64 bytes>)"


def public_key(secret: Scalar) -> Point:
    return Point.base(secret)


def encrypt(message: Point, key: Point, *, r: Scalar | None = None) -> Ciphertext:
    """``Enc(r, M, Y) = (r·G, M + r·Y)`` with a fresh random r unless one is given (tests)."""
    if key.is_identity():
        raise InvalidInput("must not be the identity element", field="public_key")
    if r is None:
        r = Scalar.random()
    return Ciphertext(Point.base(r), message + key.mul(r))


def decrypt(ct: Ciphertext, secret: Scalar) -> Point:
    """``C − y·B``.  A ciphertext that decrypts to the identity was built to do so: refuse it."""
    m = ct.c - ct.b.mul(secret)
    if m.is_identity():
        raise InvalidInput("decrypts to the identity element", field="ciphertext")
    return m


def rerandomise(ct: Ciphertext, key: Point, *, r: Scalar | None = None) -> Ciphertext:
    """``(B + r·G, C + r·Y)``: the same plaintext under the same key, unlinkable to the input."""
    if r is None:
        r = Scalar.random()
    return Ciphertext(ct.b + Point.base(r), ct.c + key.mul(r))


def check_batch(ciphertexts: Sequence[bytes], *, field: str = "ciphertexts") -> list[bytes]:
    """Validate a batch of 64-byte ciphertexts (length, canonical encodings, no identity) before any work."""
    if isinstance(ciphertexts, (bytes, str)):
        raise InvalidInput("must be a list of ciphertexts", field=field)
    if len(ciphertexts) > MAX_BATCH:
        raise InvalidInput(f"holds more than {MAX_BATCH} ciphertexts", field=field)
    out: list[bytes] = []
    for i, ct in enumerate(ciphertexts):
        if not isinstance(ct, bytes) or len(ct) != CIPHERTEXT_BYTES:
            raise InvalidInput(f"must be {CIPHERTEXT_BYTES} bytes", field=f"{field}[{i}]")
        check_point_bytes(ct[:POINT_BYTES], field=f"{field}[{i}].B")
        check_point_bytes(ct[POINT_BYTES:], field=f"{field}[{i}].C")
        out.append(ct)
    return out


def encrypt_batch(messages: Sequence[bytes], key: Point, *, field: str = "pseudonyms") -> list[bytes]:
    """Encrypt 32-byte elements under ``key``: 1 fixed-base + 1 variable-base multiplication each."""
    if key.is_identity():
        raise InvalidInput("must not be the identity element", field="public_key")
    y = key.to_bytes()
    out = []
    for i, m in enumerate(messages):
        check_point_bytes(m, field=f"{field}[{i}]")
        r = scalar_random()
        out.append(scalarmult_base(r) + point_add(m, scalarmult(r, y)))
    return out


def rerandomise_batch(ciphertexts: Sequence[bytes], key: Point) -> list[bytes]:
    """Re-randomise validated ciphertexts under ``key`` (the sender's step before a conversion)."""
    if key.is_identity() or not is_valid_point(key.to_bytes()):
        raise InvalidInput("must be a valid non-identity element", field="public_key")
    y = key.to_bytes()
    out = []
    for ct in check_batch(ciphertexts):
        r = scalar_random()
        out.append(point_add(ct[:POINT_BYTES], scalarmult_base(r)) + point_add(ct[POINT_BYTES:], scalarmult(r, y)))
    return out


def decrypt_batch(ciphertexts: Sequence[bytes], secret: Scalar) -> list[bytes]:
    """Decrypt to 32-byte elements: 1 variable-base multiplication each."""
    out = []
    for i, ct in enumerate(check_batch(ciphertexts)):
        m = Ciphertext(Point._trusted(ct[:POINT_BYTES]), Point._trusted(ct[POINT_BYTES:]))
        try:
            out.append(decrypt(m, secret).to_bytes())
        except InvalidInput:
            raise InvalidInput("decrypts to the identity element", field=f"ciphertexts[{i}]") from None
    return out
