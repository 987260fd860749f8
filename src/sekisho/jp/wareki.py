"""和暦 (Japanese era dates) for the five modern eras, with exact boundaries.

Boundaries (元号法; 改元の政令): 大正 from 1912-07-30, 昭和 from 1926-12-25, 平成 from 1989-01-08, 令和 from
2019-05-01.  Year 1 of an era is written 元年.  Two transitions happened *during* a day, and the registers
accept both names for it: 明治45年7月30日 = 大正元年7月30日 and 大正15年12月25日 = 昭和元年12月25日.  The
later two happened at midnight, so 昭和64年1月8日 and 平成31年5月1日 do not exist.  Japan adopted the Gregorian
calendar on 明治6年1月1日 (1873-01-01, 明治5年太政官布告第337号); earlier dates were lunisolar and are rejected.

A :class:`PartialDate` keeps what a record really says: unknown parts (「年月日不詳」, 「平成2年3月」), an
approximate date (「昭和50年頃」) or only the era (「令和○年頃」).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Final

from sekisho.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Era:
    name: str
    letter: str  # the Latin abbreviation a clerk writes (H31.4.30)
    year_one: int  # Gregorian year of 元年
    first: date  # first day written in this era (accepted here)
    last: date | None  # last day written in this era (inclusive); None for the current era

    @property
    def offset(self) -> int:
        return self.year_one - 1


GREGORIAN_START: Final = date(1873, 1, 1)

# 明治 began in 1868; only its Gregorian part (from 明治6年 = 1873) is usable
MEIJI: Final = Era("明治", "M", 1868, GREGORIAN_START, date(1912, 7, 30))
TAISHO: Final = Era("大正", "T", 1912, date(1912, 7, 30), date(1926, 12, 25))
SHOWA: Final = Era("昭和", "S", 1926, date(1926, 12, 25), date(1989, 1, 7))
HEISEI: Final = Era("平成", "H", 1989, date(1989, 1, 8), date(2019, 4, 30))
REIWA: Final = Era("令和", "R", 2019, date(2019, 5, 1), None)
ERAS: Final[tuple[Era, ...]] = (MEIJI, TAISHO, SHOWA, HEISEI, REIWA)

_BY_NAME: Final = {e.name: e for e in ERAS} | {e.letter: e for e in ERAS} | {e.name[0]: e for e in ERAS}


def era_by_name(text: str) -> Era:
    """The era named by its kanji name, its first kanji or its Latin letter (case-insensitive)."""
    era = _BY_NAME.get(text.upper() if text.isascii() else text)
    if era is None:
        raise InvalidInput("unknown era name", field="era")
    return era


def _era_of(d: date) -> Era:
    # on the two mid-day transitions the later era is the usual way to write the day
    for era in reversed(ERAS):
        if d >= era.first:
            return era
    raise InvalidInput("dates before 明治6年1月1日 (1873-01-01, adoption of the Gregorian calendar) are not accepted")


def to_wareki(d: date) -> tuple[str, int]:
    """``(era name, year of era)`` for a date, e.g. ``to_wareki(date(2019, 5, 1)) == ("令和", 1)``."""
    era = _era_of(d)
    return era.name, d.year - era.offset


def _year_text(era: Era, year: int) -> str:
    n = year - era.offset
    return f"{era.name}{'元' if n == 1 else n}年"


def format_wareki(d: date) -> str:
    """``令和元年5月1日`` (元年, not 1年; no zero padding)."""
    return f"{_year_text(_era_of(d), d.year)}{d.month}月{d.day}日"


def _period(year: int, month: int | None, day: int | None) -> tuple[date, date]:
    if month is None:
        return date(year, 1, 1), date(year, 12, 31)
    if day is None:
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    d = date(year, month, day)
    return d, d


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A date whose parts may be unknown.  ``era`` is set only when the year is unknown but the era is known
    (「令和○年頃」); with a known year the era follows from the date."""

    year: int | None
    month: int | None
    day: int | None
    approximate: bool = False
    era: str | None = None

    def __post_init__(self) -> None:
        if self.month is not None and self.year is None:
            raise InvalidInput("a month needs a year", field="date")
        if self.day is not None and self.month is None:
            raise InvalidInput("a day needs a month", field="date")
        if self.era is not None and (self.year is not None or self.era not in _BY_NAME):
            raise InvalidInput("an era is kept only for an unknown year", field="date")
        if self.year is not None:
            try:
                _, last = _period(self.year, self.month, self.day)
            except ValueError:
                raise InvalidInput("no such day in that month", field="date") from None
            if last < GREGORIAN_START:
                raise InvalidInput("dates before 1873-01-01 (明治6年1月1日) are not accepted", field="date")

    @classmethod
    def of(cls, d: date) -> PartialDate:
        return cls(d.year, d.month, d.day)

    @property
    def is_complete(self) -> bool:
        return self.day is not None and not self.approximate

    def as_date(self) -> date:
        if self.year is None or self.month is None or self.day is None or self.approximate:
            raise InvalidInput("a complete date is required, not a partial or approximate one", field="date")
        return date(self.year, self.month, self.day)

    def iso(self) -> str:
        """Lossless text form: ``1990-05-01``, ``1990-05``, ``1990``, ``""`` (unknown), an era letter for a
        year unknown within an era (``R``), and a ``~`` suffix for approximate (``1975~``, ``R~``)."""
        if self.year is None:
            core = _BY_NAME[self.era].letter if self.era else ""
        elif self.month is None:
            core = f"{self.year:04d}"
        elif self.day is None:
            core = f"{self.year:04d}-{self.month:02d}"
        else:
            core = f"{self.year:04d}-{self.month:02d}-{self.day:02d}"
        return core + ("~" if self.approximate and core else "")

    @classmethod
    def from_iso(cls, text: str) -> PartialDate:
        m = _ISO.fullmatch(text)
        if m is None:
            raise InvalidInput("not a partial ISO date (YYYY, YYYY-MM, YYYY-MM-DD, era letter; ~ = approximate)")
        y, mo, d, letter, approx = m.groups()
        era = _BY_NAME[letter].name if letter else None
        return cls(
            int(y) if y else None,
            int(mo) if mo else None,
            int(d) if d else None,
            approximate=bool(approx) and bool(y or letter),
            era=era,
        )

    def _era_for_display(self) -> Era:
        assert self.year is not None
        # a partial period may straddle an era change: name it by the era of its middle day (1989 → 平成元年)
        first, last = _period(self.year, self.month, self.day)
        middle = max(first + (last - first) / 2, GREGORIAN_START)
        return _era_of(middle)

    def wareki(self) -> str:
        """``令和元年5月1日``, ``平成2年3月``, ``昭和50年頃``, ``令和○年頃``, ``年月日不詳``."""
        suffix = "頃" if self.approximate else ""
        if self.year is None:
            return f"{self.era}○年{suffix}" if self.era else "年月日不詳"
        text = _year_text(self._era_for_display(), self.year)
        if self.month is not None:
            text += f"{self.month}月"
        if self.day is not None:
            text += f"{self.day}日"
        return text + suffix

    def gregorian(self) -> str:
        """``2019年5月1日``, ``1990年3月``, ``1975年頃``, ``年月日不詳``."""
        suffix = "頃" if self.approximate else ""
        if self.year is None:
            return self.wareki()
        text = f"{self.year}年"
        if self.month is not None:
            text += f"{self.month}月"
        if self.day is not None:
            text += f"{self.day}日"
        return text + suffix

    @property
    def sort_key(self) -> tuple[int, int, int, int, int]:
        """Total order: unknown first, then by year (an era-only date at its era's first year), month, day;
        a partial date sorts before the complete dates it contains, an exact one before an approximate one."""
        era_rank = -1 if self.era is None else [e.name for e in ERAS].index(self.era)
        year = self.year if self.year is not None else (_BY_NAME[self.era].first.year if self.era else 0)
        return (year, self.month or 0, self.day or 0, int(self.approximate), era_rank)

    def __str__(self) -> str:
        return self.iso()


_ISO = re.compile(r"(?:(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?|([MTSHR]))?(~)?")

# --- parsing ---------------------------------------------------------------------------------------------

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
_KANJI_UNITS: Final = {"十": 10, "百": 100, "千": 1000}
_KANJI_NUM = re.compile(r"[〇零一二三四五六七八九十百千]+")
_UNKNOWN_YEAR = "○〇◯?？□×"
_ERA = r"(?P<era>明治|大正|昭和|平成|令和|[明大昭平令]|[MTSHRmtshr])"
_APPROX = r"(?P<approx>頃|ごろ|ころ|~)?"
# 「昭和50年4月1日」「昭和50年」「平成2年3月」「S50年4月1日」; 「年月日不詳」-style tails for unknown parts
_ERA_KANJI = re.compile(
    _ERA + r"\.?(?P<year>元|\d{1,2}|[" + _UNKNOWN_YEAR + r"]+)年"
    r"(?:(?P<month>\d{1,2})月(?:(?P<day>\d{1,2})日|日?不詳)?|月日不詳|不詳)?" + _APPROX
)
# 「H31.4.30」「R1/5/1」「S64-1-7」「H2.3」「S50」
_ERA_SEP = re.compile(
    _ERA + r"\.?(?P<year>元|\d{1,2})(?:[./\-](?P<month>\d{1,2})(?:[./\-](?P<day>\d{1,2}))?)?" + _APPROX
)
_GREG_SEP = re.compile(r"(?P<year>\d{4})(?:[./\-](?P<month>\d{1,2})(?:[./\-](?P<day>\d{1,2}))?)?" + _APPROX)
_GREG_KANJI = re.compile(
    r"(?P<year>\d{4})年(?:(?P<month>\d{1,2})月(?:(?P<day>\d{1,2})日|日?不詳)?|月日不詳|不詳)?" + _APPROX
)
_GREG_COMPACT = re.compile(r"(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})")
_UNKNOWN = re.compile(r"(?:年月日)?不詳|不明")


def _kanji_number(s: str) -> str:
    if not any(c in _KANJI_UNITS for c in s):
        return "".join(str(_KANJI_DIGITS[c]) for c in s)  # 一九九〇 written digit by digit
    total, current = 0, 0
    for c in s:
        if c in _KANJI_UNITS:
            total += (current or 1) * _KANJI_UNITS[c]
            current = 0
        else:
            current = current * 10 + _KANJI_DIGITS[c]
    return str(total + current)


#: the forms registers export most (「平成16年1月16日」, 「2025-09-08」) in the text :func:`_normalise` makes of them
#: already — NFKC leaves ASCII digits and these kanji as they are, and they hold no space, dash variant or kanji
#: numeral — so they skip its passes (a fifth of an import's time went to dates, most of it there)
_PREPARED = re.compile(
    r"(?:明治|大正|昭和|平成|令和)(?:元|[1-9][0-9]?)年[0-9]{1,2}月[0-9]{1,2}日|[0-9]{4}-[0-9]{2}-[0-9]{2}"
)


def _prepare(text: str) -> str:
    return text if _PREPARED.fullmatch(text) else _normalise(text)


def _normalise(text: str) -> str:
    # NFKC folds full-width digits and punctuation and the square era signs (㍻ → 平成); names never pass here
    s = unicodedata.normalize("NFKC", text)
    s = re.sub(r"[\s\u3000]+", "", s)
    s = s.replace("〜", "~").replace("～", "~").replace("‐", "-").replace("−", "-").replace("ー", "-")
    # an unknown-year mark such as 「令和〇年」 must survive the numeral conversion below
    s = re.sub(r"(?<=[明大昭平令和治正成])〇(?=年)", "○", s)
    return _KANJI_NUM.sub(lambda m: _kanji_number(m.group()), s)


def _num(s: str | None) -> int | None:
    return None if s is None else int(s)


def _check_month_day(year: int, month: int | None, day: int | None, field: str) -> None:
    if month is not None and not 1 <= month <= 12:
        raise InvalidInput("the month must be between 1 and 12", field=field)
    if month is not None and day is not None and not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise InvalidInput("no such day in that month", field=field)


def _check_gregorian_start(year: int, month: int | None, day: int | None, field: str) -> None:
    if _period(year, month, day)[1] < GREGORIAN_START:
        raise InvalidInput(
            "dates before 明治6年1月1日 (1873-01-01, adoption of the Gregorian calendar) are not accepted",
            field=field,
        )


def _from_era(era: Era, era_year: int, month: int | None, day: int | None, field: str) -> tuple[int, int | None]:
    if era_year < 1:
        raise InvalidInput("an era year starts at 1 (元年)", field=field)
    year = era.offset + era_year
    _check_month_day(year, month, day, field)
    _check_gregorian_start(year, month, day, field)
    first, last = _period(year, month, day)
    if last < era.first:
        raise InvalidInput(
            f"the date is before the first day of {era.name} ({format_wareki(era.first)}, {era.first.isoformat()})",
            field=field,
        )
    if era.last is not None and first > era.last:
        raise InvalidInput(
            f"{era.name} ended on {_year_text(era, era.last.year)}{era.last.month}月{era.last.day}日"
            f" ({era.last.isoformat()}); the date is after the era's last day",
            field=field,
        )
    return year, month


def parse_date(text: str, *, field: str, allow_partial: bool = False) -> PartialDate:
    """Parse a date as a clerk writes it: 和暦 in kanji (「令和元年5月1日」, 「平成三十一年四月三十日」), abbreviated
    (「H31.4.30」, 「R1/5/1」, 「昭64.1.7」), or 西暦 (「1990-05-01」, 「1990/5/1」, 「1990年5月1日」, 「19900501」);
    full-width digits allowed.  With ``allow_partial`` also 「平成2年3月」, 「昭和50年頃」, 「令和○年頃」,
    「年月日不詳」."""
    s = _prepare(text)
    if not s:
        raise InvalidInput("a date is required", field=field)
    result: PartialDate
    if _UNKNOWN.fullmatch(s):
        result = PartialDate(None, None, None)
    elif m := (_ERA_KANJI.fullmatch(s) or _ERA_SEP.fullmatch(s)):
        era = era_by_name(m["era"])
        approx = bool(m["approx"])
        raw_year = m["year"]
        month, day = _num(m["month"]), _num(m["day"])
        if raw_year[0] in _UNKNOWN_YEAR:
            if month is not None:
                raise InvalidInput("a month or day cannot be given when the year is unknown", field=field)
            result = PartialDate(None, None, None, approximate=approx, era=era.name)
        else:
            era_year = 1 if raw_year == "元" else int(raw_year)
            year, month = _from_era(era, era_year, month, day, field)
            result = PartialDate(year, month, day, approximate=approx)
    elif m := (_GREG_SEP.fullmatch(s) or _GREG_KANJI.fullmatch(s) or _GREG_COMPACT.fullmatch(s)):
        year, month, day = int(m["year"]), _num(m["month"]), _num(m["day"])
        approx = bool(m.groupdict().get("approx"))
        _check_month_day(year, month, day, field)
        _check_gregorian_start(year, month, day, field)
        result = PartialDate(year, month, day, approximate=approx)
    else:
        raise InvalidInput(
            "not a recognised date (和暦 such as 令和元年5月1日 or H31.4.30, or 西暦 such as 2019-05-01)", field=field
        )
    if not allow_partial and not result.is_complete:
        raise InvalidInput("a complete date (year, month and day) is required", field=field)
    return result


def parse_full_date(text: str, *, field: str) -> date:
    """A complete date in any notation :func:`parse_date` accepts."""
    return parse_date(text, field=field).as_date()
