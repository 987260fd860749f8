"""Names and readings refuse what would display as something other than what is stored — bidi controls,
invisible and formatting characters, unassigned code points, a mark with nothing to combine with, emoji — and
keep every real kanji, variant and IVS sequence exactly as written."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekisho.errors import InvalidInput
from sekisho.jp.address import check_katagaki
from sekisho.jp.text import HIDDEN, clean_name, normalize_kana

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("山田\u202e", "must not contain bidirectional-text controls"),
        ("\u202e田山", "must not contain bidirectional-text controls"),
        ("山\u2067田", "must not contain bidirectional-text controls"),
        ("山\u200b田", "must not contain invisible or formatting characters"),
        ("山\u200d田", "must not contain invisible or formatting characters"),
        ("\ufeff山田", "must not contain invisible or formatting characters"),
        ("山\u00a0田", "must not contain invisible or formatting characters"),
        ("山\u2009田", "must not contain invisible or formatting characters"),
        ("\u0301", "must not contain a combining mark with no letter to combine with"),
        ("\u3099", "must not contain a combining mark with no letter to combine with"),
        ("山田 \u0301", "must not contain a combining mark with no letter to combine with"),
        ("山\u20dd", "must not contain a combining mark with no letter to combine with"),
        ("山田😀", "must not contain symbols or emoji"),
        ("山田☆", "must not contain symbols or emoji"),
        ("山田\U0001f3fb", "must not contain symbols or emoji"),
        ("山田\u0378", "must not contain unassigned characters"),
        ("あ\U000e0100", "may have a variation selector only right after a kanji (IVS)"),
        ("\U000e0100葛", "may have a variation selector only right after a kanji (IVS)"),
        ("葛\U000e0100\U000e0101", "may have a variation selector only right after a kanji (IVS)"),
    ],
)
def test_a_name_refuses_with_the_field_and_the_rule(name: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        clean_name(name, field="family_name")
    assert str(exc.value) == f"family_name: a name {rule}"


@pytest.mark.parametrize(
    "name",
    [
        "髙橋",
        "𠮷田",  # U+20BB7, outside the BMP
        "﨑山",  # a compatibility ideograph, stored as written
        "葛\U000e0100城",  # IVS: the 外字-like form of 葛 (Moji_Joho collection)
        "邊\U000e0102",
        "辻\U000e0101",
        "渡邉",
        "佐々木",
        "ジョン・スミス",
        "山田 花子",
        "山田\u3000花子",
        "Jose\u0301",  # a decomposed accent on a letter
        "\U0002ebf0",  # CJK Extension I (Unicode 15.1): unassigned to older Pythons, still a kanji
    ],
)
def test_real_names_and_variants_are_kept_exactly(name: str) -> None:
    assert clean_name(name, field="given_name") == name


@pytest.mark.parametrize(
    ("reading", "rule"),
    [
        ("ヤマダ\u202e", "must not contain bidirectional-text controls"),
        ("ヤ\u200bマダ", "must not contain invisible or formatting characters"),
        ("\u3099ヤマダ", "must not contain a combining mark with no letter to combine with"),
        ("ヤマダ😀", "must not contain symbols or emoji"),
    ],
)
def test_a_reading_refuses_with_the_field_and_the_rule(reading: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        normalize_kana(reading, field="family_name_kana")
    assert str(exc.value) == f"family_name_kana: a reading {rule}"


def test_a_katagaki_refuses_hidden_characters() -> None:
    with pytest.raises(InvalidInput, match=r"address\.katagaki: a 方書 must not contain bidirectional"):
        check_katagaki("コーポ\u202e201")
    assert check_katagaki("コーポ岐阜201号") == "コーポ岐阜201号"


def test_hidden_covers_every_format_character() -> None:
    missing = [
        hex(cp)
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) == "Cf" and not HIDDEN.match(chr(cp))
    ]
    assert missing == []


_KANJI = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
_KANA = st.characters(min_codepoint=0x3041, max_codepoint=0x3096) | st.characters(
    min_codepoint=0x30A1, max_codepoint=0x30FA
)
_IVS = st.characters(min_codepoint=0xE0100, max_codepoint=0xE01EF)


@st.composite
def real_names(draw: st.DrawFn) -> str:
    """Kanji (some with an IVS) and kana, as Japanese names are written."""
    parts = draw(
        st.lists(st.one_of(_KANA, st.tuples(_KANJI, st.one_of(st.just(""), _IVS)).map("".join)), min_size=1, max_size=8)
    )
    return "".join(parts)


@given(real_names())
def test_name_rule_accepts_real_kanji_and_kana_names(name: str) -> None:
    assert clean_name(name, field="given_name") == name


@given(real_names(), st.sampled_from(BIDI), real_names(), st.booleans())
def test_name_rule_refuses_any_name_with_a_bidi_control(before: str, bidi: str, after: str, at_start: bool) -> None:
    name = bidi + before + after if at_start else before + bidi + after
    with pytest.raises(InvalidInput, match="bidirectional-text controls"):
        clean_name(name, field="given_name")
