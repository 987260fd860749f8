from __future__ import annotations

import pytest

from sekisho.errors import InvalidInput
from sekisho.jp.catalogue import catalogue
from sekisho.jp.codes import check_digit, parse_municipality_code

from ._vectors import records

VECTORS = records("check_digits.csv")


@pytest.mark.parametrize("v", VECTORS, ids=[v["code6"] for v in VECTORS])
def test_check_digit_vectors(v: dict[str, str]) -> None:
    assert v["code5"] + check_digit(v["code5"]) == v["code6"]
    assert parse_municipality_code(v["code5"]) == v["code6"]
    assert parse_municipality_code(v["code6"]) == v["code6"]


def test_every_catalogue_code_has_a_valid_check_digit() -> None:
    codes = list(catalogue().entries)
    assert len(codes) > 1900
    for code in codes:
        assert check_digit(code[:5]) == code[5], code
        assert parse_municipality_code(code) == code


def test_full_width_and_spaces() -> None:
    assert parse_municipality_code(" １３１０１６\u3000") == "131016"
    assert parse_municipality_code("１３１０１") == "131016"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("131017", "check digit"),
        ("1310", "5 or 6 digits"),
        ("1310166", "5 or 6 digits"),
        ("13a016", "digits only"),
        ("", "required"),
        ("481016", "prefecture number"),
    ],
)
def test_bad_codes(text: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_municipality_code(text, field="municipality")
    assert rule in e.value.message
    assert e.value.field == "municipality"
    if text:
        assert text not in str(e.value)


def test_every_wrong_check_digit_is_rejected() -> None:
    for wrong in "0123456789":
        if wrong != "6":
            with pytest.raises(InvalidInput, match="check digit"):
                parse_municipality_code("13101" + wrong)
