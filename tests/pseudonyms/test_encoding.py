"""The text form of a domain pseudonym: round trip, domain tag, checksum, hostile input."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekisho.errors import InvalidInput
from sekisho.pep.encoding import decode_pseudonym, encode_pseudonym
from sekisho.pep.group import Point, Scalar

VALUE = Point.base(Scalar.from_bytes((12345).to_bytes(32, "little"))).to_bytes()
BAD = json.loads((Path(__file__).parent / "vectors" / "bad_pseudonym_texts.json").read_text())


def test_round_trip_and_shape() -> None:
    text = encode_pseudonym("pension", VALUE)
    prefix, domain, body, check = text.split(":")
    assert (prefix, domain, len(body), len(check)) == ("sks1", "pension", 52, 8)
    assert not any(c.isdigit() and c in "0189" for c in body)  # base32: no 0, 1, 8, 9 to misread
    assert decode_pseudonym(text) == ("pension", VALUE)
    assert decode_pseudonym(text, domain="pension") == ("pension", VALUE)
    assert decode_pseudonym(f"  {text.upper()}\n") == ("pension", VALUE)


def test_another_domains_pseudonym_is_refused() -> None:
    text = encode_pseudonym("tax", VALUE)
    with pytest.raises(InvalidInput, match="another domain"):
        decode_pseudonym(text, domain="pension")
    # relabelling by hand breaks the checksum: the tag is inside it
    with pytest.raises(InvalidInput, match="checksum"):
        decode_pseudonym(text.replace(":tax:", ":pension:"))


def test_every_single_character_typo_is_caught() -> None:
    text = encode_pseudonym("pension", VALUE)
    start = len("sks1:pension:")
    rng = random.Random(5)
    alphabet = string.ascii_lowercase + "234567"
    caught = 0
    for i in range(start, len(text)):
        if text[i] == ":":
            continue
        wrong = rng.choice([c for c in alphabet if c != text[i]])
        with pytest.raises(InvalidInput):
            decode_pseudonym(text[:i] + wrong + text[i + 1 :])
        caught += 1
        # and a swap of neighbours, where they differ
        if i + 1 < len(text) and text[i + 1] not in (":", text[i]):
            with pytest.raises(InvalidInput):
                decode_pseudonym(text[:i] + text[i + 1] + text[i] + text[i + 2 :])
    assert caught == 60


@pytest.mark.parametrize("case", BAD["cases"], ids=lambda c: c["why"])
def test_bad_texts(case: dict[str, str]) -> None:
    text = case["text"].replace("{valid}", encode_pseudonym("pension", VALUE))
    with pytest.raises(InvalidInput) as err:
        decode_pseudonym(text, domain=case.get("domain"))
    assert err.value.field == case["field"]


def test_encoding_refuses_non_elements() -> None:
    with pytest.raises(InvalidInput):
        encode_pseudonym("pension", bytes(32))
    with pytest.raises(InvalidInput):
        encode_pseudonym("Pension", VALUE)


@given(st.text(max_size=120))
def test_random_text_raises_only_invalid_input(text: str) -> None:
    try:
        decode_pseudonym(text)
    except InvalidInput as err:
        assert str(err.field).startswith("pseudonym")  # noqa: PT017 (hypothesis: only InvalidInput)


def test_a_checksummed_text_of_a_non_element_is_refused() -> None:
    from sekisho.pep.encoding import _b32, _checksum

    bad = bytes.fromhex("0100000000000000000000000000000000000000000000000000000000000000")  # RFC 9496 A.2
    with pytest.raises(InvalidInput, match="ristretto255"):
        decode_pseudonym(f"sks1:pension:{_b32(bad)}:{_checksum('pension', bad)}")
