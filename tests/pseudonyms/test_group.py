"""ristretto255 through rbcl: the RFC 9496 vectors, and hostile bytes never crash anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sekisho.errors import InvalidInput
from sekisho.pep.elgamal import Ciphertext, check_batch
from sekisho.pep.group import IDENTITY, ORDER, Point, Scalar

VECTORS = json.loads((Path(__file__).parent / "vectors" / "ristretto255.json").read_text())


def _scalar(n: int) -> Scalar:
    return Scalar.from_bytes(n.to_bytes(32, "little"), nonzero=False)


@pytest.mark.parametrize(("k", "encoding"), list(enumerate(VECTORS["multiples_of_generator"]["vectors"])))
def test_multiples_of_the_generator(k: int, encoding: str) -> None:
    # RFC 9496 App. A.1: k·B, decoded and re-encoded unchanged
    assert Point.base(_scalar(k)).to_bytes().hex() == encoding
    assert Point.from_bytes(bytes.fromhex(encoding), allow_identity=True).to_bytes().hex() == encoding


def test_addition_agrees_with_the_multiples() -> None:
    b = Point.base(_scalar(1))
    acc = IDENTITY
    for encoding in VECTORS["multiples_of_generator"]["vectors"]:
        assert acc.to_bytes().hex() == encoding
        acc = acc + b


INVALID = [(cls, enc) for cls, encs in VECTORS["invalid_encodings"]["classes"].items() for enc in encs]


@pytest.mark.parametrize(("cls", "encoding"), INVALID)
def test_invalid_encodings_are_refused(cls: str, encoding: str) -> None:
    # RFC 9496 App. A.2: decoding must fail, with an error that names the field and not the value
    with pytest.raises(InvalidInput) as err:
        Point.from_bytes(bytes.fromhex(encoding), field="pp.B")
    assert err.value.field == "pp.B"
    assert encoding not in str(err.value)


def test_invalid_vectors_cover_all_five_classes() -> None:
    assert len(INVALID) == 29


@pytest.mark.parametrize("vector", VECTORS["from_uniform_bytes"]["vectors"], ids=lambda v: v["label"][:20])
def test_one_way_map(vector: dict[str, str]) -> None:
    # RFC 9496 §4.3.4 / App. A.3
    assert Point.from_hash(bytes.fromhex(vector["input"])).to_bytes().hex() == vector["output"]


def test_identity_is_refused_unless_allowed() -> None:
    with pytest.raises(InvalidInput, match="identity"):
        Point.from_bytes(bytes(32), field="key")
    assert Point.from_bytes(bytes(32), allow_identity=True).is_identity()


def test_scalars_must_be_canonical() -> None:
    with pytest.raises(InvalidInput, match="canonical"):
        Scalar.from_bytes(ORDER.to_bytes(32, "little"))
    with pytest.raises(InvalidInput, match="zero"):
        Scalar.from_bytes(bytes(32))
    assert Scalar.from_bytes((ORDER - 1).to_bytes(32, "little")) * _scalar(2) == Scalar.from_bytes(
        (ORDER - 2).to_bytes(32, "little")
    )


def test_values_never_print() -> None:
    s = Scalar.random()
    p = Point.base(s)
    for text in (repr(s), str(s), repr(p), str(p), repr(Ciphertext(p, p))):
        assert s.to_bytes().hex() not in text
        assert p.to_bytes().hex() not in text
        assert "redacted" in text or "bytes" in text


def test_multiplication_by_zero_and_of_the_identity() -> None:
    p = Point.base(Scalar.random())
    assert p.mul(_scalar(0)).is_identity()
    assert IDENTITY.mul(Scalar.random()).is_identity()
    assert (p - p).is_identity()
    neg = -p
    assert neg != p
    assert -neg == p


@settings(max_examples=300)
@given(st.binary(min_size=0, max_size=70))
def test_random_bytes_as_a_point_raise_only_invalid_input(data: bytes) -> None:
    try:
        p = Point.from_bytes(data, field="x")
    except InvalidInput as err:
        assert err.field == "x"  # noqa: PT017 (hypothesis: either outcome is fine, no other)
    else:
        assert len(data) == 32
        assert p.to_bytes() == data


@settings(max_examples=300)
@given(st.binary(min_size=0, max_size=70))
def test_random_bytes_as_a_scalar_raise_only_invalid_input(data: bytes) -> None:
    try:
        s = Scalar.from_bytes(data)
    except InvalidInput:
        return
    assert len(data) == 32
    assert int.from_bytes(data, "little") < ORDER
    assert s.to_bytes() == data


@settings(max_examples=300)
@given(st.lists(st.binary(min_size=60, max_size=68), max_size=4))
def test_random_batches_raise_only_invalid_input_naming_the_item(batch: list[bytes]) -> None:
    try:
        assert check_batch(batch) == batch
    except InvalidInput as err:
        assert str(err.field).startswith("ciphertexts[")  # noqa: PT017


@given(st.integers(min_value=0, max_value=2**256 - 1))
def test_canonical_scalar_round_trip(n: int) -> None:
    data = n.to_bytes(32, "little")
    if n == 0 or n >= ORDER:
        with pytest.raises(InvalidInput):
            Scalar.from_bytes(data)
    else:
        assert Scalar.from_bytes(data).to_bytes() == data


@settings(max_examples=200, deadline=None)
@given(
    cts=st.lists(st.binary(min_size=62, max_size=66), min_size=1, max_size=3),
    key=st.binary(min_size=30, max_size=34),
)
def test_a_transcryptor_fed_random_bytes_raises_only_invalid_input(cer, cts: list[bytes], key: bytes) -> None:
    from sekisho.protocols.conversion import ConversionRequest
    from sekisho.pseudonyms.transcryptor import transcrypt

    request = ConversionRequest("r", "test", "registry", "pension", "enrolment", "g", tuple(cts), key)
    try:
        result = transcrypt(cer.transcryptors["t1"], request)
    except InvalidInput as err:
        assert err.field in ("key", "ciphertexts") or str(err.field).startswith("ciphertexts[")  # noqa: PT017
    else:
        assert len(result.ciphertexts) == len(cts)
