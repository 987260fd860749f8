"""Items of a person other than names and dates: sex, nationality, 続柄, residence card number, postal code."""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Final, Literal

from sekisho.errors import InvalidInput, NotFound

_SPACES: Final = " \u3000\t"


def _nfkc(text: str) -> str:
    # NFKC is fine here: these are codes and fixed words, never names
    return unicodedata.normalize("NFKC", text).strip(_SPACES)


# --- sex ---------------------------------------------------------------------------------------------------

_SEX: Final[dict[str, Literal["M", "F"]]] = {
    "男": "M",
    "男性": "M",
    "M": "M",
    "1": "M",  # ISO/IEC 5218
    "女": "F",
    "女性": "F",
    "F": "F",
    "2": "F",
}


def parse_sex(text: str, *, field: str = "sex") -> Literal["M", "F"]:
    """男/女, M/F or the ISO/IEC 5218 codes 1/2 (full-width accepted) → ``"M"`` or ``"F"``."""
    s = _nfkc(text).upper()
    if not s:
        raise InvalidInput("sex is required (男 or 女)", field=field)
    sex = _SEX.get(s)
    if sex is None:
        raise InvalidInput("sex must be 男 or 女 (also M/F or 1/2)", field=field)
    return sex


# --- nationality -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Nationality:
    code: str  # ISO 3166-1 alpha-2; XX = 無国籍 (stateless, a user-assigned code)
    name_ja: str  # as written on 住民票 (国籍・地域)

    @property
    def is_japanese(self) -> bool:
        return self.code == "JP"


STATELESS: Final = "XX"


@cache
def nationalities() -> dict[str, Nationality]:
    """Code → :class:`Nationality`, from ``data/nationalities.csv``."""
    with files("sekisho.jp").joinpath("data/nationalities.csv").open(encoding="utf-8") as f:
        return {r["code"]: Nationality(r["code"], r["name_ja"]) for r in csv.DictReader(f)}


@cache
def _nationality_index() -> dict[str, Nationality]:
    index: dict[str, Nationality] = {}
    with files("sekisho.jp").joinpath("data/nationalities.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            n = Nationality(r["code"], r["name_ja"])
            for key in [r["code"], r["name_ja"], *filter(None, r["aliases"].split("|"))]:
                index[_nfkc(key).upper()] = n
    return index


def parse_nationality(text: str, *, field: str = "nationality") -> Nationality:
    """A 国籍・地域 by its Japanese name as on 住民票 (中国, ベトナム, 米国), a common alias (アメリカ) or its
    ISO 3166-1 alpha-2 code; 無国籍 is ``XX``."""
    s = re.sub(r"\s+", "", _nfkc(text)).upper()
    if not s:
        raise InvalidInput("a nationality is required", field=field)
    n = _nationality_index().get(s)
    if n is None:
        if re.fullmatch(r"[A-Z]{2}", s):
            raise NotFound("unknown nationality code (ISO 3166-1 alpha-2)", field=field)
        raise InvalidInput("unknown nationality (use the name on 住民票 or ISO 3166-1 alpha-2)", field=field)
    return n


# --- 続柄 ---------------------------------------------------------------------------------------------------

#: terms that can be chained with の (住民記録システム標準仕様書; 住民基本台帳事務処理要領)
RELATION_TERMS: Final = ("夫", "妻", "夫（未届）", "妻（未届）", "子", "父", "母", "兄", "姉", "弟", "妹")
STANDALONE_RELATIONS: Final = ("世帯主", "縁故者", "同居人")
MAX_CHAIN: Final = 4
_TERM = re.compile("|".join(re.escape(t) for t in sorted(RELATION_TERMS, key=len, reverse=True)))
_OLD_CHILD = re.compile(r"(長|次|二|三|四|五|六|七|八|九|十)?(男|女)")


def parse_relationship(text: str, *, field: str = "relationship") -> str:
    """続柄 to the head of household: 世帯主, a term (夫, 妻, 夫（未届）, 妻（未届）, 子, 父, 母, 兄, 姉, 弟, 妹) or
    a chain of up to four terms joined with の (子の妻, 父の母, 子の子の子), 縁故者 or 同居人.  Half-width
    parentheses are normalised to full-width."""
    s = re.sub(r"[\s\u3000]+", "", text).replace("(", "（").replace(")", "）")
    if not s:
        raise InvalidInput("a relationship (続柄) is required", field=field)
    if s in STANDALONE_RELATIONS:
        return s
    parts = s.split("の")
    if all(_TERM.fullmatch(p) for p in parts):
        if len(parts) > MAX_CHAIN:
            raise InvalidInput(
                f"a relationship chain may have at most {MAX_CHAIN} terms; write 縁故者 for a more distant relative",
                field=field,
            )
        return s
    if _OLD_CHILD.fullmatch(s):
        raise InvalidInput("write 子 for a child (住民票 does not distinguish 長男・長女)", field=field)
    raise InvalidInput(
        "not a relationship (世帯主, 夫, 妻, 子, 父, 母, 兄, 姉, 弟, 妹, chains with の, 縁故者, 同居人)", field=field
    )


# --- residence card, postal code ---------------------------------------------------------------------------

_CARD = re.compile(r"[A-Z]{2}\d{8}[A-Z]{2}")


def parse_residence_card_number(text: str, *, field: str = "residence_card_number") -> str:
    """在留カード番号 or 特別永住者証明書番号: 2 letters, 8 digits, 2 letters (``AB12345678CD``); full-width,
    lower case and inner spaces or hyphens are accepted."""
    s = re.sub(r"[\s\-]+", "", _nfkc(text)).upper()
    if not s:
        raise InvalidInput("a residence card number is required", field=field)
    if not _CARD.fullmatch(s):
        raise InvalidInput("a residence card number is 2 letters, 8 digits and 2 letters", field=field)
    return s


_POSTAL = re.compile(r"(\d{3})-?(\d{4})")


def parse_postal_code(text: str, *, field: str = "postal_code") -> str:
    """A postal code (郵便番号), 7 digits with an optional hyphen and 〒 (full-width accepted) → ``"5008001"``."""
    s = _nfkc(text).lstrip("〒").strip(_SPACES)
    s = re.sub(r"[‐‑–—―−ー]", "-", s)
    m = _POSTAL.fullmatch(s)
    if m is None:
        raise InvalidInput("a postal code is 7 digits (hyphen after the third allowed)", field=field)
    return m.group(1) + m.group(2)
