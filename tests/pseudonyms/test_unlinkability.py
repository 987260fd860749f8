"""Two agencies' pseudonyms for the same 10,000 people show no relation a statistician could find.

What this can and cannot show: unlinkability rests on DDH (s_A·P and s_B·P are pseudorandom without s_B/s_A),
which no statistical test can prove.  These tests catch the mistakes that *would* show up — a factor shared
between domains, a missing reshuffle, a constant offset, a truncated or structured encoding — and each one is
checked against a deliberately linked control, so that it can fail.

The ristretto255 encoding of an element is a field element s < p, little-endian, with s "non-negative"
(RFC 9496 §4.3.2: even), so bit 0 and bit 255 are always 0: byte 0 is compared through its top 7 bits and
byte 31 through its low 7 bits; bytes 1..30 are uniform.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable

import pytest

from sekisho.pep.group import Scalar
from sekisho.pep.keys import Ceremony
from sekisho.pep.operations import person_point, pseudonymise
from sekisho.protocols.conversion import REGISTRY_DOMAIN

N = 10_000
SEED = 3
#: significance of every chi-square test (fixed data, so the outcome is deterministic; 1e-4 is a sane margin)
ALPHA_Z = 3.719  # one-sided standard normal quantile for 1 - 1e-4


def chi2_critical(df: int, z: float = ALPHA_Z) -> float:
    """Wilson–Hilferty approximation of the chi-square quantile (accurate to <1% for df > 30)."""
    h = 2 / (9 * df)
    return df * (1 - h + z * math.sqrt(h)) ** 3


def chi2(values: Iterable[int], bins: int) -> float:
    counts = Counter(values)
    n = sum(counts.values())
    expected = n / bins
    return sum((counts.get(b, 0) - expected) ** 2 / expected for b in range(bins))


def domain_factor(cer: Ceremony, domain: str) -> Scalar:
    t1, t2 = cer.transcryptors["t1"], cer.transcryptors["t2"]
    return t1.pseudonymisation_factor(domain) * t2.pseudonymisation_factor(domain)


@pytest.fixture(scope="module")
def pseudonyms(cer: Ceremony) -> dict[str, list[bytes]]:
    rng = random.Random(SEED)
    roots = [rng.randbytes(32) for _ in range(N)]
    points = [person_point(r) for r in roots]
    return {d: [pseudonymise(p, domain_factor(cer, d)).to_bytes() for p in points] for d in ("pension", "tax")} | {
        REGISTRY_DOMAIN: [pseudonymise(p, domain_factor(cer, REGISTRY_DOMAIN)).to_bytes() for p in points[:200]]
    }


def test_the_statistical_pseudonyms_are_the_ones_conversion_produces(cer: Ceremony, pseudonyms) -> None:
    # tie the 10,000-person data to the real path: PP -> T1 -> T2 -> agency key, for a sample
    from sekisho.pep.elgamal import decrypt_batch, encrypt_batch
    from sekisho.protocols.conversion import ConversionRequest
    from sekisho.pseudonyms.transcryptor import transcrypt

    from .conftest import domain_key

    rng = random.Random(SEED)
    roots = [rng.randbytes(32) for _ in range(20)]
    y = cer.network.public_key
    cts = tuple(encrypt_batch([person_point(r).to_bytes() for r in roots], y))
    req = ConversionRequest("r1", "test", REGISTRY_DOMAIN, "pension", "enrolment", "g", cts, y.to_bytes())
    hop1 = transcrypt(cer.transcryptors["t1"], req)
    hop2 = transcrypt(
        cer.transcryptors["t2"],
        ConversionRequest("r1", "test", REGISTRY_DOMAIN, "pension", "enrolment", "g", hop1.ciphertexts, hop1.key),
    )
    assert decrypt_batch(hop2.ciphertexts, domain_key(cer, "pension").secret) == pseudonyms["pension"][:20]


def test_no_equal_values(pseudonyms) -> None:
    a, b = pseudonyms["pension"], pseudonyms["tax"]
    assert len(set(a)) == len(set(b)) == N
    assert not set(a) & set(b)
    assert not set(pseudonyms[REGISTRY_DOMAIN]) & (set(a) | set(b))


def _prefix_bits(x: bytes, y: bytes) -> int:
    """Common leading bits in encoding order (little-endian bytes, low bit first), skipping the fixed bit 0."""
    xi, yi = int.from_bytes(x, "little") >> 1, int.from_bytes(y, "little") >> 1
    d = xi ^ yi
    return (d & -d).bit_length() - 1 if d else 254


def _prefix_counts(a: list[bytes], b: list[bytes]) -> Counter[int]:
    return Counter(min(_prefix_bits(x, y), 16) for x, y in zip(a, b, strict=True))


def _prefix_stat(a: list[bytes], b: list[bytes]) -> float:
    """Chi-square of the common-prefix lengths: exactly k bits has probability 2^-(k+1); k = 0..7 and ≥ 8."""
    counts = _prefix_counts(a, b)
    observed = [counts.get(k, 0) for k in range(8)] + [sum(v for k, v in counts.items() if k >= 8)]
    expected = [len(a) * 2 ** -(k + 1) for k in range(8)] + [len(a) * 2**-8]
    return sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))


def test_no_equal_prefixes_beyond_chance(pseudonyms) -> None:
    a, b = pseudonyms["pension"], pseudonyms["tax"]
    assert _prefix_stat(a, b) < chi2_critical(8)
    # nothing long: a common prefix of 32 bits or more among 10,000 pairs has probability ~2e-6
    assert max(_prefix_bits(x, y) for x, y in zip(a, b, strict=True)) < 32
    # control: a "domain" that keeps one byte of each person's pension pseudonym fails the same test
    rng = random.Random(SEED + 1)
    linked = [x[:1] + rng.randbytes(31) for x in a]
    assert _prefix_stat(a, linked) > chi2_critical(8)


def _bytes_stats(a: list[bytes], b: list[bytes], op) -> tuple[float, float, float]:
    middle = chi2((op(x[i], y[i]) for x, y in zip(a, b, strict=True) for i in range(1, 31)), 256)
    first = chi2((op(x[0] >> 1, y[0] >> 1) & 0x7F for x, y in zip(a, b, strict=True)), 128)
    last = chi2((op(x[31] & 0x7F, y[31] & 0x7F) & 0x7F for x, y in zip(a, b, strict=True)), 128)
    return middle, first, last


XOR = lambda u, v: u ^ v  # noqa: E731
DIFF = lambda u, v: (u - v) % 256  # noqa: E731


@pytest.mark.parametrize("op", [XOR, DIFF], ids=["xor", "difference"])
def test_byte_relations_are_uniform(pseudonyms, op) -> None:
    middle, first, last = _bytes_stats(pseudonyms["pension"], pseudonyms["tax"], op)
    assert middle < chi2_critical(255)
    assert first < chi2_critical(127)
    assert last < chi2_critical(127)


@pytest.mark.parametrize("op", [XOR, DIFF], ids=["xor", "difference"])
def test_the_byte_tests_catch_a_linked_domain(cer: Ceremony, pseudonyms, op) -> None:
    a = pseudonyms["pension"]
    # controls that must fail: one byte of structure shared with domain A, and A's values shifted by a constant
    copied = [bytes(x[:1]) + random.Random(i).randbytes(29) + bytes(x[30:]) for i, x in enumerate(a)]
    shifted = [bytes((v + 7) % 256 for v in x) for x in a]
    for linked in (copied, shifted):
        middle, first, last = _bytes_stats(a, linked, op)
        assert max(middle / chi2_critical(255), first / chi2_critical(127), last / chi2_critical(127)) > 1


def test_per_position_xor_is_uniform(pseudonyms) -> None:
    a, b = pseudonyms["pension"], pseudonyms["tax"]
    # 30 positions tested at once: Bonferroni, alpha = 1e-4 / 30 (z = 4.50)
    worst = max(chi2((x[i] ^ y[i] for x, y in zip(a, b, strict=True)), 256) for i in range(1, 31))
    assert worst < chi2_critical(255, z=4.50)
