"""Names and readings: stored exactly, searched folded.

The register stores a name exactly as written: old and variant characters (髙 U+9AD9, 﨑 U+FA11, 𠮷 U+20BB7)
and IVS sequences are part of a person's name, and NFC/NFKC would silently change some of them (NFC maps the
compatibility ideograph U+FA10 塚 to U+585A).  Only *search keys* are normalised (住民記録システム標準仕様書:
文字の同定は検索時の正規化で行う; MJ / 行政事務標準文字 in domain.md).

Readings (振り仮名) are stored in full-width katakana, as the register prints them.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from functools import cache
from importlib.resources import files
from typing import Final

import jaconv

from sekisho.errors import InvalidInput

_SPACES: Final = " \u3000"
_DIGITS: Final = frozenset("0123456789０１２３４５６７８９")


def _strip(text: str) -> str:
    return text.strip(_SPACES)


def clean_name(text: str, *, field: str, max_len: int = 50) -> str:
    """A name (氏, 名, 旧氏, 通称) exactly as given, trimmed of leading and trailing half- and full-width spaces.

    Rejects an empty name, control characters, digits, lone surrogates, private-use characters (local 外字,
    which have no meaning outside the system that made them) and names longer than ``max_len`` code points."""
    name = _strip(text)
    if not name:
        raise InvalidInput("a name is required", field=field)
    if len(name) > max_len:
        raise InvalidInput(f"a name may have at most {max_len} characters", field=field)
    previous = " "  # a name's first character has nothing before it to combine with
    for c in name:
        cat = unicodedata.category(c)
        if cat == "Cc" or c in "\u2028\u2029":
            raise InvalidInput("a name must not contain control characters", field=field)
        if cat == "Cs":
            raise InvalidInput("a name must not contain unpaired surrogates", field=field)
        if cat == "Co":
            raise InvalidInput(
                "a name must not contain private-use characters (外字); use the MJ character", field=field
            )
        if c in _DIGITS:
            raise InvalidInput("a name must not contain digits", field=field)
        _check_visible(c, cat, previous, field=field, what="a name")
        previous = c
    return name


# Bidirectional-text controls (UAX #9): they reorder what is displayed, so a name could print as another
_BIDI: Final = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_IDEOGRAPHIC_PLANES: Final = range(0x20000, 0x40000)
#: format characters (category Cf, bidi controls among them: invisible, they change how text around them shows),
#: as one class so that whole columns of free text are checked at C speed (tests check it covers every Cf)
HIDDEN: Final = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def _is_kanji(c: str) -> bool:
    return (
        "\u3400" <= c <= "\u4dbf"
        or "\u4e00" <= c <= "\u9fff"
        or "\uf900" <= c <= "\ufaff"
        or ord(c) in _IDEOGRAPHIC_PLANES
    )


def _is_variation_selector(c: str) -> bool:
    return "\ufe00" <= c <= "\ufe0f" or "\U000e0100" <= c <= "\U000e01ef"


def _check_visible(c: str, cat: str, previous: str, *, field: str, what: str) -> None:
    """What a name or a reading must not contain beyond the rules of its own: text that displays as something
    other than what is stored (bidi controls, invisible characters), characters with no meaning (unassigned),
    a mark that combines with nothing, and pictographs.  Variation selectors are allowed only directly after
    a kanji: an IVS (U+E0100–E01EF, the Moji_Joho / Hanyo-Denshi collections of the IVD) is how a 外字-like
    form of a registered kanji is written, and it is part of the name (docs/import-format.md)."""
    if c in _BIDI:
        raise InvalidInput(f"{what} must not contain bidirectional-text controls", field=field)
    if cat == "Cf" or (cat == "Zs" and c not in _WORD_SPACES):
        raise InvalidInput(f"{what} must not contain invisible or formatting characters", field=field)
    if cat == "Cn" and ord(c) not in _IDEOGRAPHIC_PLANES:
        # planes 2 and 3 hold only CJK ideographs: a newer extension than this Python's tables is still a kanji
        raise InvalidInput(f"{what} must not contain unassigned characters", field=field)
    if _is_variation_selector(c):
        if not _is_kanji(previous):
            raise InvalidInput(f"{what} may have a variation selector only right after a kanji (IVS)", field=field)
    elif cat in ("Mn", "Mc", "Me") and (previous in _WORD_SPACES or cat == "Me"):
        raise InvalidInput(f"{what} must not contain a combining mark with no letter to combine with", field=field)
    if cat == "So" or "\U0001f3fb" <= c <= "\U0001f3ff":  # pictographs (emoji and their skin-tone modifiers)
        raise InvalidInput(f"{what} must not contain symbols or emoji", field=field)


#: the spaces a name may have between its words (the rest of category Zs are look-alikes)
_WORD_SPACES: Final = frozenset(" \u3000")


# --- readings ----------------------------------------------------------------------------------------------

_KATAKANA_OK = re.compile(
    r"[\u30a1-\u30fa\u30fc\u30fb\u30fd\u30fe]+(?:\u3000[\u30a1-\u30fa\u30fc\u30fb\u30fd\u30fe]+)*"
)
_DASHES = str.maketrans({c: "ー" for c in "-－‐−―─━ｰ"})
_KANA_MAX: Final = 100


def normalize_kana(text: str, *, field: str, allow_empty: bool = False) -> str:
    """A reading in full-width katakana.  Hiragana and half-width katakana (ｶﾞ → ガ) are converted, a run of
    half- or full-width spaces between words becomes one full-width space, dashes become ー."""
    s = _strip(text)
    if not s:
        if allow_empty:
            return ""
        raise InvalidInput("a reading in kana is required", field=field)
    previous = " "
    for c in s:  # the same rules as a name's first, so that the message says which one is broken
        _check_visible(c, unicodedata.category(c), previous, field=field, what="a reading")
        previous = c
    s = jaconv.h2z(s, kana=True, ascii=False, digit=False)
    s = jaconv.hira2kata(s).translate(_DASHES)
    s = re.sub(r"[ \u3000]+", "\u3000", s)
    if not _KATAKANA_OK.fullmatch(s):
        raise InvalidInput("must be written in kana (katakana or hiragana)", field=field)
    if len(s) > _KANA_MAX:
        raise InvalidInput(f"a reading may have at most {_KANA_MAX} characters", field=field)
    return s


# --- search keys -------------------------------------------------------------------------------------------


@cache
def variants() -> dict[str, str]:
    """Variant (old or 異体字) → standard character, from ``data/variants.csv`` (docs/data-sources.md)."""
    with files("sekisho.jp").joinpath("data/variants.csv").open(encoding="utf-8") as f:
        return {row["variant"]: row["standard"] for row in csv.DictReader(f)}


@cache
def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {ord(v): s for v, s in variants().items()}
    # hiragana → katakana (ぁ..ゖ → ァ..ヶ)
    for cp in range(0x3041, 0x3097):
        table[cp] = chr(cp + 0x60)
    # small kana → normal size
    for small, big in zip(
        "ァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ",
        "アイウエオツヤユヨワカケクシストヌハヒフヘホムラリルレロ",
        strict=True,
    ):
        table[ord(small)] = big
    # long-vowel marks and dashes carry no identity in a search
    for c in "ー-−‐‑―─━~〜～゠":
        table[ord(c)] = ""
    return table


_IDEOGRAPH = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
# a single kana between two kanji is a place-name particle: 旭ケ丘 / 旭ヶ丘 / 旭が丘, 中ノ島 / 中の島 / 中之島
_GA_BETWEEN = re.compile(
    r"(?<=[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f])[ケカガ](?=[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f])"
)
_NO_BETWEEN = re.compile(
    r"(?<=[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f])[之](?=[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f])"
)
_ITERATION = re.compile(r"(.)([々ヽヾゝゞ]+)")


def _expand_iteration(m: re.Match[str]) -> str:
    return m.group(1) * (1 + len(m.group(2)))


def _DROP(category: str) -> bool:
    # marks (dakuten, accents, variation selectors), separators, punctuation, control and format characters;
    # unassigned code points (Cn) are kept: CJK extensions newer than this Python's Unicode tables are names
    return category[0] in "MZP" or category in ("Cc", "Cf")


def search_key(text: str) -> str:
    """A folded key for fuzzy search of names, readings and place names.

    Folds: width (NFKC), compatibility ideographs to their unified form (NFKC), hiragana and half-width
    katakana to katakana, voiced and semi-voiced marks (ガ→カ, パ→ハ, ヴ→ウ), small kana (ッ→ツ), iteration
    marks (佐々木 → 佐佐木), variant kanji (``data/variants.csv``: 髙→高, 﨑→崎, 邊→辺, 齋→斎 …), the
    place-name particles ケ/ヶ/が/ガ and ノ/の/之 between kanji, Latin case; removes variation selectors,
    combining marks, long-vowel marks and dashes, spaces and punctuation.

    Long vowels are *removed*, not spelled out: サトー matches サト, not サトウ.  Folding vowel length
    (オウ/オオ/オー → オ) would merge distinct surnames such as 大野 (オオノ) and 小野 (オノ)."""
    s = unicodedata.normalize("NFKC", text)
    s = _ITERATION.sub(_expand_iteration, s)
    s = s.translate(_fold_table())
    # NFD splits voiced kana (ガ → カ + U+3099) and Latin accents; every combining mark, including the
    # variation selectors of IVS sequences, is then dropped
    s = "".join(c for c in unicodedata.normalize("NFD", s) if not _DROP(unicodedata.category(c)))
    s = s.translate(_fold_table())  # ヵ/ヶ and variants may reappear once marks are gone
    s = _GA_BETWEEN.sub("ケ", s)
    s = _NO_BETWEEN.sub("ノ", s)
    return unicodedata.normalize("NFC", s).upper()
