from __future__ import annotations

import pytest

from sekisho.errors import InvalidInput, NotFound
from sekisho.jp.people import (
    nationalities,
    parse_nationality,
    parse_postal_code,
    parse_relationship,
    parse_residence_card_number,
    parse_sex,
)


@pytest.mark.parametrize(
    ("text", "sex"), [("男", "M"), ("女", "F"), ("M", "M"), ("f", "F"), ("１", "M"), ("2", "F"), ("Ｆ", "F")]
)
def test_sex(text: str, sex: str) -> None:
    assert parse_sex(text) == sex


@pytest.mark.parametrize("text", ["", "X", "3", "男女"])
def test_sex_rejects(text: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_sex(text)
    assert e.value.field == "sex"


@pytest.mark.parametrize(
    ("text", "code", "name"),
    [
        ("日本", "JP", "日本"),
        ("中国", "CN", "中国"),
        ("韓国", "KR", "韓国"),
        ("ベトナム", "VN", "ベトナム"),
        ("ﾍﾞﾄﾅﾑ", "VN", "ベトナム"),
        ("vn", "VN", "ベトナム"),
        ("アメリカ", "US", "米国"),
        ("米国", "US", "米国"),
        ("無国籍", "XX", "無国籍"),
        ("台湾", "TW", "台湾"),
        ("ＢＲ", "BR", "ブラジル"),
    ],
)
def test_nationality(text: str, code: str, name: str) -> None:
    n = parse_nationality(text)
    assert (n.code, n.name_ja) == (code, name)


def test_nationality_table() -> None:
    table = nationalities()
    assert len(table) > 190
    for code in ["CN", "KR", "VN", "PH", "BR", "NP", "ID", "MM", "TW", "US", "TH", "LK", "IN", "PE", "BD", "JP"]:
        assert code in table
    assert len({n.name_ja for n in table.values()}) == len(table)


def test_nationality_rejects() -> None:
    with pytest.raises(NotFound):
        parse_nationality("QQ")
    with pytest.raises(InvalidInput) as e:
        parse_nationality("アトランティス")
    assert "アトランティス" not in str(e.value)


@pytest.mark.parametrize(
    ("text", "rel"),
    [
        ("世帯主", "世帯主"),
        ("妻", "妻"),
        ("妻(未届)", "妻（未届）"),
        ("夫（未届）", "夫（未届）"),
        ("子", "子"),
        ("子の妻", "子の妻"),
        ("子の子", "子の子"),
        ("父の母", "父の母"),
        ("妻（未届）の子", "妻（未届）の子"),
        ("子の子の子の子", "子の子の子の子"),
        (" 縁故者 ", "縁故者"),
        ("同居人", "同居人"),
    ],
)
def test_relationship(text: str, rel: str) -> None:
    assert parse_relationship(text) == rel


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("子の子の子の子の子", "縁故者"),
        ("次女", "子"),
        ("友人", "not a relationship"),
        ("", "required"),
        ("世帯主の子", "not a relationship"),
    ],
)
def test_relationship_rejects(text: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_relationship(text)
    assert rule in e.value.message
    if text:
        assert text not in str(e.value)


def test_residence_card_number() -> None:
    assert parse_residence_card_number("ab1234 5678cd", field="c") == "AB12345678CD"
    assert parse_residence_card_number("ＡＢ１２３４５６７８ＣＤ", field="c") == "AB12345678CD"
    for bad in ["AB1234567CD", "1B12345678CD", "AB12345678C", ""]:
        with pytest.raises(InvalidInput) as e:
            parse_residence_card_number(bad, field="c")
        if bad:
            assert bad not in str(e.value)


def test_postal_code() -> None:
    assert parse_postal_code("〒500-8001") == "5008001"
    assert parse_postal_code("５００－８００１") == "5008001"
    assert parse_postal_code("5008001") == "5008001"
    for bad in ["500-800", "50080011", "abc-defg", ""]:
        with pytest.raises(InvalidInput):
            parse_postal_code(bad)
