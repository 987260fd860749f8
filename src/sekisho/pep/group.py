"""ristretto255 (RFC 9496) scalars and elements, every operation delegated to libsodium through ``rbcl``.

Nothing here implements group arithmetic: these are typed wrappers that validate at the boundary, so that the
rest of the package never handles an unchecked byte string.

- An element's 32-byte encoding is canonical (RFC 9496 §4.3.2), so two elements are equal exactly when their
  encodings are (§4.3.3); decoding rejects every non-canonical or invalid string (§4.3.1, vectors in App. A.2).
- Scalars are integers modulo the group order ℓ (§4.4), kept in canonical 32-byte little-endian form.
- ``Point.from_hash`` is the one-way map from 64 uniform bytes to an element (§4.3.4, vectors in App. A.3):
  libsodium's ``crypto_core_ristretto255_from_hash``.

Neither type prints its value: a scalar may be a secret key or factor, and a point may be a person's pseudonym.
"""

from __future__ import annotations

import hmac
from typing import Final

import rbcl

from sekisho.errors import InvalidInput

SCALAR_BYTES: Final = 32
POINT_BYTES: Final = 32
WIDE_BYTES: Final = 64
#: the prime order ℓ of ristretto255 (RFC 9496 §4.4); used only to recognise a canonical scalar encoding
ORDER: Final = 2**252 + 27742317777372353535851937790883648493

_ZERO32: Final = bytes(32)

# rbcl entry points, bound once (these names are looked up in the hot loops of pep.py too)
scalarmult = rbcl.crypto_scalarmult_ristretto255
scalarmult_base = rbcl.crypto_scalarmult_ristretto255_base
point_add = rbcl.crypto_core_ristretto255_add
point_sub = rbcl.crypto_core_ristretto255_sub
is_valid_point = rbcl.crypto_core_ristretto255_is_valid_point
scalar_random = rbcl.crypto_core_ristretto255_scalar_random
scalar_mul = rbcl.crypto_core_ristretto255_scalar_mul
scalar_reduce = rbcl.crypto_core_ristretto255_scalar_reduce
scalar_invert = rbcl.crypto_core_ristretto255_scalar_invert


class Scalar:
    """An integer modulo ℓ.  Secret more often than not: it never prints, and compares in constant time."""

    __slots__ = ("_b",)

    _b: bytes

    def __init__(self, data: bytes) -> None:
        raise TypeError("use Scalar.from_bytes, Scalar.from_wide or Scalar.random")

    @classmethod
    def _trusted(cls, data: bytes) -> Scalar:
        obj = object.__new__(cls)
        object.__setattr__(obj, "_b", data)
        return obj

    @classmethod
    def from_bytes(cls, data: bytes, *, field: str = "scalar", nonzero: bool = True) -> Scalar:
        """A canonical 32-byte encoding (< ℓ, RFC 9496 §4.4); anything else is refused, never silently reduced."""
        if not isinstance(data, (bytes, bytearray)) or len(data) != SCALAR_BYTES:
            raise InvalidInput(f"must be {SCALAR_BYTES} bytes", field=field)
        data = bytes(data)
        if int.from_bytes(data, "little") >= ORDER:
            raise InvalidInput("is not a canonical scalar (must be below the group order)", field=field)
        if nonzero and data == _ZERO32:
            raise InvalidInput("must not be zero", field=field)
        return cls._trusted(data)

    @classmethod
    def from_wide(cls, data: bytes, *, field: str = "scalar") -> Scalar:
        """64 uniform bytes reduced modulo ℓ (RFC 9496 §4.4): the bias is below 2⁻²⁵⁰."""
        if not isinstance(data, (bytes, bytearray)) or len(data) != WIDE_BYTES:
            raise InvalidInput(f"must be {WIDE_BYTES} bytes", field=field)
        return cls._trusted(scalar_reduce(bytes(data)))

    @classmethod
    def random(cls) -> Scalar:
        """A uniformly random non-zero scalar from libsodium's CSPRNG."""
        while True:
            s = scalar_random()
            if s != _ZERO32:
                return cls._trusted(s)

    def to_bytes(self) -> bytes:
        return self._b

    def is_zero(self) -> bool:
        return hmac.compare_digest(self._b, _ZERO32)

    def __mul__(self, other: Scalar) -> Scalar:
        return Scalar._trusted(scalar_mul(self._b, other._b))

    def invert(self) -> Scalar:
        if self.is_zero():
            raise InvalidInput("zero has no inverse", field="scalar")
        return Scalar._trusted(scalar_invert(self._b))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scalar):
            return NotImplemented
        return hmac.compare_digest(self._b, other._b)

    __hash__ = None  # type: ignore[assignment]  # secrets are not dictionary keys

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Scalar is immutable")

    def __repr__(self) -> str:
        return "Scalar(<redacted>)"

    def __reduce__(self) -> tuple[object, tuple[bytes]]:
        # for process pools (bench/): rebuild through the trusted path, the value was valid when pickled
        return (Scalar._trusted, (self._b,))


class Point:
    """An element of ristretto255, held as its canonical encoding.  Prints no value (it may be a pseudonym)."""

    __slots__ = ("_b",)

    _b: bytes

    def __init__(self, data: bytes) -> None:
        raise TypeError("use Point.from_bytes, Point.base or Point.from_hash")

    @classmethod
    def _trusted(cls, data: bytes) -> Point:
        obj = object.__new__(cls)
        object.__setattr__(obj, "_b", data)
        return obj

    @classmethod
    def from_bytes(cls, data: bytes, *, field: str = "point", allow_identity: bool = False) -> Point:
        """Decode (RFC 9496 §4.3.1): wrong length, non-canonical or invalid encodings raise InvalidInput."""
        if not isinstance(data, (bytes, bytearray)) or len(data) != POINT_BYTES:
            raise InvalidInput(f"must be {POINT_BYTES} bytes", field=field)
        data = bytes(data)
        if not is_valid_point(data):
            raise InvalidInput("is not a valid ristretto255 encoding", field=field)
        if not allow_identity and data == _ZERO32:
            raise InvalidInput("must not be the identity element", field=field)
        return cls._trusted(data)

    @classmethod
    def base(cls, s: Scalar) -> Point:
        """s·G for the standard generator G."""
        if s.is_zero():
            return IDENTITY
        return cls._trusted(scalarmult_base(s.to_bytes()))

    @classmethod
    def from_hash(cls, digest: bytes) -> Point:
        """The one-way map of 64 uniform bytes to an element (RFC 9496 §4.3.4)."""
        if not isinstance(digest, (bytes, bytearray)) or len(digest) != WIDE_BYTES:
            raise InvalidInput(f"must be {WIDE_BYTES} bytes", field="digest")
        return cls._trusted(rbcl.crypto_core_ristretto255_from_hash(bytes(digest)))

    def to_bytes(self) -> bytes:
        return self._b

    def __bytes__(self) -> bytes:
        return self._b

    def is_identity(self) -> bool:
        return self._b == _ZERO32

    def mul(self, s: Scalar) -> Point:
        """s·self.  libsodium refuses to return the identity; in a prime-order group that happens only for
        s = 0 or self = identity, so we return the identity ourselves in exactly those cases."""
        if s.is_zero() or self.is_identity():
            return IDENTITY
        return Point._trusted(scalarmult(s.to_bytes(), self._b))

    def __add__(self, other: Point) -> Point:
        return Point._trusted(point_add(self._b, other._b))

    def __sub__(self, other: Point) -> Point:
        return Point._trusted(point_sub(self._b, other._b))

    def __neg__(self) -> Point:
        return IDENTITY - self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Point):
            return NotImplemented
        return hmac.compare_digest(self._b, other._b)

    def __hash__(self) -> int:
        return hash(self._b)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Point is immutable")

    def __repr__(self) -> str:
        return "Point(<redacted>)"

    def __reduce__(self) -> tuple[object, tuple[bytes]]:
        return (Point._trusted, (self._b,))


#: the neutral element; its encoding is 32 zero bytes (RFC 9496 §4.3.2, App. A.1 first vector)
IDENTITY: Final = Point._trusted(_ZERO32)


def check_point_bytes(data: object, *, field: str) -> bytes:
    """Validate a non-identity element given as bytes and return it, without building a Point (hot paths)."""
    if not isinstance(data, bytes) or len(data) != POINT_BYTES:
        raise InvalidInput(f"must be {POINT_BYTES} bytes", field=field)
    if data == _ZERO32:
        raise InvalidInput("must not be the identity element", field=field)
    if not is_valid_point(data):
        raise InvalidInput("is not a valid ristretto255 encoding", field=field)
    return data
