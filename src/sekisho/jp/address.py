"""Addresses within one municipality: town (町・大字・字) + block (丁目・番・号 or 地番) + 方書.

Two notations exist (住居表示に関する法律; domain.md): 住居表示 areas write 町名 + 丁目 + 番 + 号
(「3丁目5番12号」), elsewhere 大字/字 + 地番 (「18番地」, 「3番地5」).  Clerks type both in many ways
(「三丁目5-12」, 「３－５－１２」, 「3番地の5」); one canonical notation is stored:

- 住居表示: ``N丁目N番N号`` (丁目 and 号 as far as given: ``5番12号``, ``3丁目5番``)
- 地番: ``N番地`` / ``N番地N`` / ``N番地N-N`` (``1丁目18番地`` where a 丁目 town uses 地番)

Hyphenated input is read as 丁目-番-号 when the town is divided into 丁目 (per the postal data) and as 地番
otherwise; explicit 番/号 words always mean 住居表示.  The town must be one of the municipality's towns in the
postal data; it is matched with :func:`sekisho.jp.text.search_key` (ケ/ヶ, variant kanji), 大字/字 optional,
and stored in the postal data's spelling.

京都市 writes a street designation (通り名) before the town: 「蛸薬師通富小路西入油屋町」 (on 蛸薬師通, west of
富小路), and same-named towns of one ward are told apart by it.  Where the postal data lists such designations
(the wards of 京都市), a designation — a street name ending in 上る/下る/西入/東入, also written 上ル, 西入ル … —
may precede the town; it is kept with the town, in the postal data's spelling (上る, 西入).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Final

from sekisho.errors import InvalidInput
from sekisho.jp.catalogue import (
    STREET_DESIGNATION,
    Municipality,
    Town,
    catalogue,
    get_municipality,
    postal_codes,
    towns,
)
from sekisho.jp.people import parse_postal_code
from sekisho.jp.text import HIDDEN, search_key

_KATAGAKI_MAX: Final = 100


@dataclass(frozen=True, slots=True)
class Address:
    municipality_code: str  # 6 digits; a designated city's ward when the town lies in one
    town: str  # postal data spelling; "" where 番地 follows the municipality's name
    block: str  # canonical notation (module docstring)
    katagaki: str = ""  # 方書: building and room
    postal_code: str | None = None  # 7 digits

    def line(self) -> str:
        """One display line: 都道府県 + (郡) + 市区町村 + 町名 + block, then the 方書 after a space."""
        base = catalogue().get(self.municipality_code).full_name + self.town + self.block
        return f"{base} {self.katagaki}" if self.katagaki else base

    def search_key(self) -> str:
        return search_key(self.line())


# --- block notation ------------------------------------------------------------------------------------------

_KANJI_DIGITS: Final = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_KANJI_NUM = re.compile(r"[〇零一二三四五六七八九十百千]+")
_UNITS: Final = {"十": 10, "百": 100, "千": 1000}


def _kanji_number(s: str) -> str:
    if not any(c in _UNITS for c in s):
        return "".join(str(_KANJI_DIGITS[c]) for c in s)
    total = current = 0
    for c in s:
        if c in _UNITS:
            total += (current or 1) * _UNITS[c]
            current = 0
        else:
            current = current * 10 + _KANJI_DIGITS[c]
    return str(total + current)


_DASH = re.compile(r"(?<=[\d地番目号])\s*[‐‑–—―−ーｰ\-の之ノ]\s*(?=\d)")
_HOUSE = re.compile(r"(?:(?P<c>\d+)丁目)?(?P<b>\d+)番(?:(?P<g>\d+)号?)?")  # 住居表示 with explicit 番
_CHIBAN = re.compile(r"(?:(?P<c>\d+)丁目)?(?P<b>\d+)番地(?P<sub>\d+(?:-\d+)*)?")
_CHOME_DASHES = re.compile(r"(?P<c>\d+)丁目(?P<nums>\d+(?:-\d+)?)?")
_DASHES_ONLY = re.compile(r"\d+(?:-\d+){0,3}")


def _n(s: str, field: str) -> int:
    n = int(s)
    if n < 1:
        raise InvalidInput("block numbers start at 1", field=field)
    return n


def _house(c: str | None, b: str | None, g: str | None, field: str) -> str:
    out = f"{_n(c, field)}丁目" if c else ""
    if b:
        out += f"{_n(b, field)}番"
        if g:
            out += f"{_n(g, field)}号"
    return out


def _chiban(c: str | None, b: str, subs: list[str], field: str) -> str:
    out = (f"{_n(c, field)}丁目" if c else "") + f"{_n(b, field)}番地"
    if subs:
        out += "-".join(str(_n(x, field)) for x in subs)
    return out


def normalize_block(text: str, *, chome: bool, field: str = "block") -> str:
    """The canonical notation of a block (module docstring); ``chome`` says whether the town has 丁目."""
    s = unicodedata.normalize("NFKC", text)
    s = re.sub(r"[\s\u3000]+", "", s)
    if not s:
        raise InvalidInput("a block (丁目・番・号 or 番地) is required", field=field)
    s = _KANJI_NUM.sub(lambda m: _kanji_number(m.group()), s)
    s = _DASH.sub("-", s).replace("番地-", "番地")
    if not re.search(r"\d", s):
        raise InvalidInput("a block must contain a number", field=field)
    if m := _HOUSE.fullmatch(s):
        return _house(m["c"], m["b"], m["g"], field)
    if m := _CHIBAN.fullmatch(s):
        return _chiban(m["c"], m["b"], m["sub"].split("-") if m["sub"] else [], field)
    if m := _CHOME_DASHES.fullmatch(s):
        nums = m["nums"].split("-") if m["nums"] else []
        return _house(m["c"], *[*nums, None, None][:2], field=field)  # type: ignore[misc]
    if _DASHES_ONLY.fullmatch(s):
        nums = s.split("-")
        if chome:
            if len(nums) > 3:
                raise InvalidInput("too many numbers for 丁目-番-号", field=field)
            c, b, g = [*nums, "", ""][:3]
            return _house(c, b or None, g or None, field)
        return _chiban(None, nums[0], nums[1:], field)
    raise InvalidInput("not a recognised block notation (丁目・番・号 or 番地)", field=field)


# --- towns ---------------------------------------------------------------------------------------------------

_OAZA = re.compile(r"^(大字|字)")


@cache
def _town_index(code: str) -> dict[str, list[Town]]:
    index: dict[str, list[Town]] = {}
    for t in towns(code):
        index.setdefault(search_key(t.name), []).append(t)
    return index


_DIRECTION = re.compile(r"[上下][るル]|[西東]入[るル]?")
_STREET_MAX: Final = 40


@cache
def _has_streets(code: str) -> bool:
    return any(t.streets for t in towns(code))


def _streets(m: Municipality, text: str) -> Iterator[tuple[str, str]]:
    """(designation, the rest) for each way ``text`` may begin with a street designation, the longest first; none
    outside the municipalities whose postal data has designations."""
    if not _has_streets(m.code):
        return
    for d in reversed(list(_DIRECTION.finditer(text))):
        street = text[: d.start()] + d.group()[:2].replace("ル", "る")
        if len(street) <= _STREET_MAX and STREET_DESIGNATION.fullmatch(street):
            yield street, text[d.end() :]


def _lookup(index: dict[str, list[Town]], raw: str) -> list[Town] | None:
    stripped = _OAZA.sub("", raw)
    for cand in (raw, stripped) if stripped and stripped != raw else (raw,):
        if hits := index.get(search_key(cand)):
            return hits
    return None


def _find_town(m: Municipality, town: str, field: str) -> tuple[str, list[Town]]:
    """(street designation or "", the postal data's towns of that name)."""
    index = _town_index(m.code)
    raw = town.strip(" \u3000")
    if hits := _lookup(index, raw):
        return "", hits
    for street, rest in _streets(m, raw):
        if hits := _lookup(index, rest):
            return street, hits
    if not raw:
        raise InvalidInput("a town (町名 or 大字・字) is required", field=f"{field}.town")
    raise InvalidInput("the town is not a town of this municipality (per the postal data)", field=f"{field}.town")


@dataclass(frozen=True, slots=True)
class TownMatch:
    """Where a written town lies: the municipality (or, in a designated city, the ward) and the postal data's
    spelling of the town, whether it has 丁目, and the validated postal code if one was given."""

    code: str
    name: str
    chome: bool
    postal_code: str | None


def resolve_town(
    municipality_code: str, town: str, postal_code: str | None = None, *, field: str = "address"
) -> TownMatch:
    """The town part of :func:`parse_address`: a pure function of its arguments, so callers that see the same
    towns over and over (a bulk import) can memoise it."""
    m = get_municipality(municipality_code, field=f"{field}.municipality")
    street, hits = _find_town(m, town, field)
    postal = None
    if postal_code is not None and postal_code.strip(" \u3000"):
        postal = parse_postal_code(postal_code, field=f"{field}.postal_code")
        if postal not in postal_codes(m.code):
            raise InvalidInput("the postal code does not belong to this municipality", field=f"{field}.postal_code")
    wards = {t.municipality_code for t in hits}
    if len(wards) > 1:
        in_postal = {t.municipality_code for t in hits if t.postal_code == postal or street in t.streets}
        if len(in_postal) != 1:
            raise InvalidInput("the town exists in several wards; use the ward's code", field=f"{field}.town")
        wards = in_postal
    t = next(t for t in hits if t.municipality_code in wards)
    return TownMatch(wards.pop(), street + t.name, any(h.chome for h in hits), postal)


def check_katagaki(text: str, *, field: str = "address") -> str:
    k = text.strip(" \u3000")
    if len(k) > _KATAGAKI_MAX:
        raise InvalidInput(f"a 方書 may have at most {_KATAGAKI_MAX} characters", field=f"{field}.katagaki")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in k):
        raise InvalidInput("a 方書 must not contain control characters", field=f"{field}.katagaki")
    if HIDDEN.search(k):
        raise InvalidInput(
            "a 方書 must not contain bidirectional-text controls or invisible characters", field=f"{field}.katagaki"
        )
    return k


def parse_address(
    municipality_code: str,
    *,
    town: str,
    block: str,
    katagaki: str = "",
    postal_code: str | None = None,
    field: str = "address",
) -> Address:
    """Validate and normalise an address in one municipality (module docstring).  For a designated city the
    town decides the ward, and the address carries the ward's code."""
    t = resolve_town(municipality_code, town, postal_code, field=field)
    canonical_block = normalize_block(block, chome=t.chome, field=f"{field}.block")
    return Address(t.code, t.name, canonical_block, check_katagaki(katagaki, field=field), t.postal_code)


# --- full lines ----------------------------------------------------------------------------------------------


@cache
def _prefix_index() -> tuple[dict[str, Municipality], int]:
    """Written prefixes → municipality: with prefecture (with and without 郡), and without prefecture when the
    name is unique in the country (札幌市中央区, 横浜市)."""
    cat = catalogue()
    full: dict[str, Municipality] = {}
    bare: dict[str, list[Municipality]] = {}
    for m in cat.entries.values():
        if m.kind in ("prefecture", "designated_city"):
            continue
        names = [m.full_name, m.prefecture + m.name]
        if m.kind == "ward" and m.parent:
            city = cat.get(m.parent).name
            names = [m.full_name]
            bare.setdefault(city + m.name, []).append(m)
        else:
            bare.setdefault((m.county or "") + m.name, []).append(m)
            if m.county:
                bare.setdefault(m.name, []).append(m)
        for n in names:
            full[n] = m
    for n, ms in bare.items():
        if len(ms) == 1 and n not in full:
            full[n] = ms[0]
    return full, max(len(k) for k in full)


def parse_address_line(text: str, *, field: str = "address") -> Address:
    """A full address line: 都道府県 + 市区町村 (the longest match in the catalogue) + town + block, then a space
    and the 方書, e.g. 「岐阜県岐阜市今沢町18番地 コーポ岐阜201号」."""
    s = text.strip(" \u3000")
    if not s:
        raise InvalidInput("an address is required", field=field)
    parts = re.split(r"[ \u3000]+", s, maxsplit=1)
    head, katagaki = parts[0], (parts[1] if len(parts) > 1 else "")
    index, longest = _prefix_index()
    m = None
    for n in range(min(longest, len(head)), 0, -1):
        m = index.get(head[:n])
        if m is not None:
            rest = head[n:]
            break
    if m is None:
        raise InvalidInput("the address does not start with a known prefecture and municipality", field=field)
    town, block = _split_town(m, rest, field)
    return parse_address(m.code, town=town, block=block, katagaki=katagaki, field=field)


def _split_town(m: Municipality, rest: str, field: str) -> tuple[str, str]:
    index = _town_index(m.code)
    body = _OAZA.sub("", rest)
    for n in range(len(body), 0, -1):
        if search_key(body[:n]) in index:
            return body[:n], body[n:]
    for street, after in _streets(m, body):
        for n in range(len(after), 0, -1):
            if search_key(after[:n]) in index:
                return street + after[:n], after[n:]
    if "" in index:
        return "", rest
    raise InvalidInput("the town is not a town of this municipality (per the postal data)", field=f"{field}.town")
