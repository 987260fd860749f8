"""The PEP operations on ElGamal ciphertexts (Verheul & Jacobs 2017; libpep README "How it works").

For ``in = Enc(b, M, Y) = (B, C)`` under key ``Y = y·G``:

=====================  ==============================  =========================  =====================
operation              result                          decrypts with              to
=====================  ==============================  =========================  =====================
``rerandomise(r)``     ``(B + r·G, C + r·Y)``          ``y``                      ``M``
``reshuffle(s)``       ``(s·B, s·C)``                  ``y``                      ``s·M``
``rekey(k)``           ``(k⁻¹·B, C)``                  ``k·y`` (key ``k·Y``)      ``M``
``rsk(s, k)``          ``((s·k⁻¹)·B, s·C)``            ``k·y``                    ``s·M``
``rrsk(s, k, r)``      rsk, then rerandomise(r) under ``k·Y``                     ``s·M``
=====================  ==============================  =========================  =====================

``rsk == rekey ∘ reshuffle`` exactly (same bytes).  ``rrsk`` is what a transcryptor applies: the fresh r
makes its output unlinkable to its input even for the party that built the input, which blocks the
"plaintext injection" trick of sending ciphertexts with known randomness (libpep README, "Pseudonymization").

A person's *pseudonym in domain D* is ``s_D·P`` where ``P`` is the person's element: the Diffie–Hellman PRF
``F_s(P) = s·P`` on a hashed input, so pseudonyms in two domains are unlinkable under DDH without the ratio of
their factors (libpep README, "Pseudonymization", and its note on hashing inputs into the group).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

from sekisho.errors import InvalidInput
from sekisho.pep.elgamal import Ciphertext, check_batch, rerandomise
from sekisho.pep.group import POINT_BYTES, Point, Scalar, point_add, scalar_random, scalarmult, scalarmult_base

#: domain separation for the map from a resident's secret root to the element P
_PERSON_DST: Final = b"sekisho/pep/v1/person\x00"
ROOT_BYTES: Final = 32

#: exact cost of one ``rrsk`` on one ciphertext, in rbcl scalar multiplications (see rrsk_batch)
RRSK_VARIABLE_BASE: Final = 3
RRSK_FIXED_BASE: Final = 1


def person_point(root: bytes) -> Point:
    """``P = from_hash(SHA-512(DST ‖ root))`` (RFC 9496 §4.3.4): a uniformly distributed element with no known
    discrete-log relation to any other person's, which is what the DH-PRF argument needs."""
    if not isinstance(root, (bytes, bytearray)) or len(root) != ROOT_BYTES:
        raise InvalidInput(f"must be {ROOT_BYTES} bytes", field="root")
    p = Point.from_hash(hashlib.sha512(_PERSON_DST + bytes(root)).digest())
    if p.is_identity():  # probability 2⁻²⁵², but every domain would then see the same pseudonym
        raise InvalidInput("maps to the identity element; draw another root", field="root")
    return p


def pseudonymise(p: Point, s: Scalar) -> Point:
    """``s·P``: the person's pseudonym in the domain whose (combined) factor is s."""
    return p.mul(s)


def reshuffle(ct: Ciphertext, s: Scalar) -> Ciphertext:
    return Ciphertext(ct.b.mul(s), ct.c.mul(s))


def rekey(ct: Ciphertext, k: Scalar) -> Ciphertext:
    return Ciphertext(ct.b.mul(k.invert()), ct.c)


def rekey_public_key(key: Point, k: Scalar) -> Point:
    """The key a rekeyed ciphertext is under: ``k·Y``."""
    return key.mul(k)


def rsk(ct: Ciphertext, s: Scalar, k: Scalar) -> Ciphertext:
    """Reshuffle and rekey at once: two multiplications instead of three."""
    return Ciphertext(ct.b.mul(s * k.invert()), ct.c.mul(s))


def rrsk(ct: Ciphertext, s: Scalar, k: Scalar, key: Point, *, r: Scalar | None = None) -> Ciphertext:
    """``rsk(s, k)`` then re-randomise under the new key ``k·key``."""
    return rerandomise(rsk(ct, s, k), rekey_public_key(key, k), r=r)


def rrsk_batch(ciphertexts: Sequence[bytes], s: Scalar, k: Scalar, key: Point) -> tuple[list[bytes], Point]:
    """``rrsk`` over a batch of 64-byte ciphertexts under ``key``; returns them and the key they are now under.

    Per ciphertext, with ``Y' = k·key`` computed once per batch:
    ``B' = (s·k⁻¹)·B + r·G`` and ``C' = s·C + r·Y'`` — 3 variable-base multiplications and 1 fixed-base
    multiplication (``RRSK_VARIABLE_BASE``, ``RRSK_FIXED_BASE``), 2 additions, 1 random scalar.
    """
    if key.is_identity():
        raise InvalidInput("must not be the identity element", field="key")
    if s.is_zero() or k.is_zero():
        raise InvalidInput("conversion factors must not be zero", field="factors")
    batch = check_batch(ciphertexts)
    key_out = rekey_public_key(key, k)
    return rrsk_validated(batch, s, k, key_out), key_out


def rrsk_validated(batch: Sequence[bytes], s: Scalar, k: Scalar, key_out: Point) -> list[bytes]:
    """``rrsk`` on a batch that ``check_batch`` has already validated, with ``key_out = k·key`` given."""
    # raw bytes and bound rbcl functions: this loop is the transcryptor's whole cost (see bench/pseudonyms.py)
    sk = (s * k.invert()).to_bytes()
    sb = s.to_bytes()
    yo = key_out.to_bytes()
    mul, mul_base, add, rand = scalarmult, scalarmult_base, point_add, scalar_random
    out = []
    for ct in batch:
        r = rand()
        out.append(add(mul(sk, ct[:POINT_BYTES]), mul_base(r)) + add(mul(sb, ct[POINT_BYTES:]), mul(r, yo)))
    return out
