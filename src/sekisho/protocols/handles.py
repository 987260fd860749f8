"""Local handles: how a clerk, a resident's papers and the parties' messages name a resident or a household of one
register.  A handle means nothing outside that register: random (no order, no count, no date), short enough to
read over a counter, with a check character against typos.  Crockford's base32 alphabet avoids I, L, O, U; the
check character is Luhn mod N (N = 32) over that alphabet."""

from __future__ import annotations

import secrets

from sekisho.errors import InvalidInput

#: Crockford's base32 (the bulk import draws handles from it too)
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def _luhn32_slow(chars: str) -> str:
    factor, total = 2, 0
    for ch in reversed(chars):
        addend = factor * _INDEX[ch]
        factor = 1 if factor == 2 else 2
        total += addend // 32 + addend % 32
    return ALPHABET[(32 - total % 32) % 32]


def _pair_sums() -> dict[str, int]:
    # in an even-length string the factor is 1 at even positions and 2 at odd ones (counted from the left):
    # precompute each pair's contribution so that a check character costs a few lookups
    def part(ch: str, factor: int) -> int:
        addend = factor * _INDEX[ch]
        return addend // 32 + addend % 32

    return {a + b: part(a, 1) + part(b, 2) for a in ALPHABET for b in ALPHABET}


_PAIRS = _pair_sums()


def _luhn32(chars: str) -> str:
    if len(chars) != _BODY:
        return _luhn32_slow(chars)
    p = _PAIRS
    total = p[chars[0:2]] + p[chars[2:4]] + p[chars[4:6]] + p[chars[6:8]] + p[chars[8:10]]
    return ALPHABET[(32 - total % 32) % 32]


_BODY = 10  # 50 random bits: collisions stay negligible at millions of residents per register


def format_handle(body: str, prefix: str = "") -> str:
    return f"{prefix + '-' if prefix else ''}{body[:4]}-{body[4:8]}-{body[8:]}{_luhn32(body)}"


def new_handle(prefix: str = "") -> str:
    return format_handle("".join(secrets.choice(ALPHABET) for _ in range(_BODY)), prefix)


def parse_handle(text: str, *, field: str = "handle", prefix: str = "") -> str:
    raw = text.strip().upper().replace("-", "").replace(" ", "")
    # full-width input from a Japanese keyboard
    raw = raw.translate({cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}).replace("-", "")
    if prefix:
        if not raw.startswith(prefix):
            raise InvalidInput(f"must start with {prefix}-", field=field)
        raw = raw[len(prefix) :]
    raw = raw.translate(_ALIASES)
    if len(raw) != _BODY + 1 or any(c not in _INDEX for c in raw):
        raise InvalidInput("must be 11 characters of the handle alphabet (e.g. 7KQ2-X9MB-T3Y)", field=field)
    if _luhn32(raw[:_BODY]) != raw[_BODY]:
        raise InvalidInput("check character does not match (mistyped handle?)", field=field)
    return format_handle(raw[:_BODY], prefix)
