from __future__ import annotations

import pytest

from sekisho.errors import SekishoError
from sekisho.jp.address import Address, normalize_block, parse_address, parse_address_line

from ._vectors import rows

BLOCKS = rows("blocks.csv")
ADDRESSES = rows("addresses.csv")
LINES = rows("address_lines.csv")


@pytest.mark.parametrize(("text", "chome", "expected"), BLOCKS, ids=[f"{b[0]}|{b[1]}" for b in BLOCKS])
def test_block_vectors(text: str, chome: str, expected: str) -> None:
    if expected.startswith("!"):
        with pytest.raises(SekishoError) as e:
            normalize_block(text, chome=chome == "1")
        assert expected[1:] in e.value.message
    else:
        assert normalize_block(text, chome=chome == "1") == expected


@pytest.mark.parametrize(("code", "town", "block", "katagaki", "postal", "expected"), ADDRESSES)
def test_address_vectors(code: str, town: str, block: str, katagaki: str, postal: str, expected: str) -> None:
    if expected.startswith("!"):
        with pytest.raises(SekishoError) as e:
            parse_address(code, town=town, block=block, katagaki=katagaki, postal_code=postal or None)
        assert expected[1:] in e.value.message
        for value in (town, block, postal):
            if value:
                assert value not in str(e.value)
    else:
        a = parse_address(code, town=town, block=block, katagaki=katagaki, postal_code=postal or None)
        assert a.line() == expected
        assert parse_address_line(a.line()) == Address(a.municipality_code, a.town, a.block, a.katagaki)


@pytest.mark.parametrize(("line", "code", "expected"), LINES)
def test_address_line_vectors(line: str, code: str, expected: str) -> None:
    if expected.startswith("!"):
        with pytest.raises(SekishoError) as e:
            parse_address_line(line)
        assert expected[1:] in e.value.message
        assert line not in str(e.value)
    else:
        a = parse_address_line(line)
        assert (a.municipality_code, a.line()) == (code, expected)


def test_stored_town_is_postal_spelling_and_search_key_folds() -> None:
    a = parse_address("131016", town="霞ヶ関", block="1-2-3")
    assert a.town == "霞が関"
    assert a.search_key() == parse_address("131016", town="霞ケ関", block="1丁目2番3号").search_key()


def test_designated_city_address_carries_the_ward() -> None:
    a = parse_address("011002", town="旭ケ丘", block="3-5-12")
    assert a.municipality_code == "011011"
    assert a.line() == "北海道札幌市中央区旭ケ丘3丁目5番12号"
