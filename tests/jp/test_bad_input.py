"""The bad-input battery: each rejection names the field and the rule, never the value."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sekisho.errors import InvalidInput, NotFound, SekishoError
from sekisho.jp.address import parse_address, parse_address_line
from sekisho.jp.catalogue import get_municipality
from sekisho.jp.codes import parse_municipality_code
from sekisho.jp.people import parse_nationality, parse_relationship, parse_residence_card_number
from sekisho.jp.text import clean_name, normalize_kana
from sekisho.jp.wareki import parse_date

CASES: list[tuple[str, Callable[[], object], type[SekishoError], str, str]] = [
    ("wrong check digit", lambda: parse_municipality_code("212017"), InvalidInput, "check digit", "212017"),
    (
        "平成31年5月1日",
        lambda: parse_date("平成31年5月1日", field="birth_date"),
        InvalidInput,
        "平成 ended",
        "平成31年5月1日",
    ),
    (
        "昭和64年1月8日",
        lambda: parse_date("昭和64年1月8日", field="birth_date"),
        InvalidInput,
        "昭和 ended",
        "昭和64年1月8日",
    ),
    (
        "impossible date",
        lambda: parse_date("令和2年2月30日", field="birth_date"),
        InvalidInput,
        "no such day",
        "令和2年2月30日",
    ),
    ("empty name", lambda: clean_name("　", field="given_name"), InvalidInput, "required", ""),
    (
        "kana with kanji",
        lambda: normalize_kana("山田タロウ", field="given_name_kana"),
        InvalidInput,
        "kana",
        "山田タロウ",
    ),
    ("unknown municipality", lambda: get_municipality("139998"), NotFound, "no municipality", "139998"),
    ("prefecture as municipality", lambda: get_municipality("210005"), InvalidInput, "prefecture", "210005"),
    (
        "town not in municipality",
        lambda: parse_address("212016", town="霞が関", block="1-1"),
        InvalidInput,
        "not a town",
        "霞が関",
    ),
    ("address line", lambda: parse_address_line("岐阜県岐阜市霞が関1-1"), InvalidInput, "not a town", "霞が関"),
    ("deep 続柄", lambda: parse_relationship("子の子の子の子の子"), InvalidInput, "縁故者", "子の子の子の子の子"),
    ("nationality", lambda: parse_nationality("エルドラド"), InvalidInput, "unknown nationality", "エルドラド"),
    (
        "card",
        lambda: parse_residence_card_number("AB123CD", field="residence_card_number"),
        InvalidInput,
        "2 letters",
        "AB123CD",
    ),
]


@pytest.mark.parametrize(("name", "call", "error", "rule", "value"), CASES, ids=[c[0] for c in CASES])
def test_rejection_names_rule_not_value(
    name: str, call: Callable[[], object], error: type[SekishoError], rule: str, value: str
) -> None:
    with pytest.raises(error) as e:
        call()
    assert rule in e.value.message
    assert e.value.field
    if value:
        assert value not in str(e.value)
        assert value not in e.value.diagnostics()


def test_half_width_kana_is_normalised_not_rejected() -> None:
    assert normalize_kana("ﾀﾛｳ", field="given_name_kana") == "タロウ"
