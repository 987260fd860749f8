"""Synthetic residents of one municipality in the import format (docs/import-format.md).

Deterministic by seed: one ``random.Random(seed)`` drives everything, tables are read in a fixed order, so the
same arguments give a byte-identical file.

Sources of the shapes (rounded; docs/data-sources.md):
- household types: 2020 census (令和2年国勢調査) — one-person ~38%, couple only ~20%, couple with children ~25%,
  single parent ~9%, others (three generations, siblings, non-relatives) ~8%;
- ages: the 2020 census population pyramid in 5-year bands;
- surnames and given names: ``data/surnames.csv`` and ``data/given_names.csv`` (scripts/build_names.py);
- addresses: the municipality's towns and postal codes from the postal data (:func:`sekisho.jp.catalogue.towns`),
  in 京都市 mostly with the street designation the postal data gives the town (蛸薬師通富小路西入油屋町);
- foreign residents: :mod:`sekisho.synth.foreign`.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache, lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Final, Generic, Literal, TextIO, TypeVar

import orjson

from sekisho.errors import InvalidInput
from sekisho.jp.catalogue import Municipality, Town, catalogue, get_municipality, towns
from sekisho.jp.people import nationalities
from sekisho.jp.wareki import format_wareki, to_wareki
from sekisho.protocols.import_format import IMPORT_COLUMNS
from sekisho.synth import foreign as fx

#: the import format's columns (sekisho.registry.validate.IMPORT_COLUMNS) but benefits, which synth leaves empty
COLUMNS: Final = tuple(c for c in IMPORT_COLUMNS if c != "benefits")
_INDEX: Final = {c: i for i, c in enumerate(COLUMNS)}

DEFAULT_AS_OF: Final = date(2025, 10, 1)
FOREIGN_RESIDENT_SYSTEM: Final = date(2012, 7, 9)  # 外国人住民 entered the resident register on this day

# 2020 census, thousands of people per 5-year band from 0–4 to 100+ (rounded)
PYRAMID: Final = (4541, 5114, 5376, 5621, 6324, 6272, 6723, 7492, 8316, 9625, 8650, 7828, 7351, 8218, 9230,
                  7095, 5404, 3744, 1810, 529, 80)  # fmt: skip
MAX_AGE: Final = 104
HOUSEHOLD_TYPES: Final = (("single", 38), ("couple", 20), ("couple_children", 25), ("single_parent", 9),
                          ("three_generations", 6), ("others", 2))  # fmt: skip
FOREIGN_HOUSEHOLD_TYPES: Final = (("single", 60), ("couple", 15), ("couple_children", 20), ("single_parent", 5))

T = TypeVar("T")
Sex = Literal["M", "F"]


class Weighted(Generic[T]):
    """Fast weighted choice: cumulative weights + bisect on one ``random()``."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.items = [p[0] for p in pairs]
        self.cum = list(itertools.accumulate(p[1] for p in pairs))
        self.total = self.cum[-1]

    def __call__(self, rng: random.Random) -> T:
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


_AGE_WEIGHTS: Final = [PYRAMID[min(a // 5, 20)] / (5 if a < 100 else MAX_AGE - 99) for a in range(MAX_AGE + 1)]


@lru_cache(maxsize=8192)
def _ages(lo: int, hi: int) -> Weighted[int]:
    lo, hi = max(0, lo), min(MAX_AGE, hi)
    return Weighted([(a, _AGE_WEIGHTS[a]) for a in range(lo, hi + 1)])


@dataclass(frozen=True, slots=True)
class Name:
    text: str
    kana: str


@cache
def _surnames() -> tuple[list[tuple[Name, float]], list[tuple[Name, float]]]:
    """(weights elsewhere, weights in 沖縄県): Okinawan surnames are common there and rare elsewhere."""
    mainland, okinawa = [], []
    with files("sekisho.synth").joinpath("data/surnames.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            n, w = Name(r["surname"], r["kana"]), float(r["weight"])
            local = r["region"] == "okinawa"
            mainland.append((n, w * 0.2 if local else w))
            okinawa.append((n, w * 25 if local else w * 0.3))
    return mainland, okinawa


@cache
def _given_names() -> dict[tuple[str, str], list[tuple[Name, float]]]:
    """(sex, decade or "") → weighted names; "" is the long tail."""
    out: dict[tuple[str, str], list[tuple[Name, float]]] = {}
    with files("sekisho.synth").joinpath("data/given_names.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            out.setdefault((r["sex"], r["decade"]), []).append((Name(r["name"], r["kana"]), float(r["weight"])))
    return out


@dataclass(slots=True)
class Person:
    relationship: str
    sex: Sex
    birth: date
    family: Name
    given: Name
    former: Name | None = None  # 旧氏
    status: str = ""  # foreign residents: 在留資格, or 特別永住者


@dataclass(slots=True)
class Household:
    members: list[Person] = field(default_factory=list)
    nationality: str = "JP"
    family: tuple[str, str] = ("", "")  # foreign households: (kanji or "", Latin) family name
    alias: Name | None = None  # 特別永住者 households: the Japanese surname of their 通称


def _kanji_digits(n: int) -> str:
    digits = "〇一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


_FULL_WIDTH: Final = str.maketrans("0123456789-", "０１２３４５６７８９－")
_ERA_LETTER: Final = {"明治": "M", "大正": "T", "昭和": "S", "平成": "H", "令和": "R"}


class Generator:
    """Residents of one municipality; :meth:`rows` yields exactly ``count`` rows in COLUMNS order."""

    def __init__(
        self, municipality: str, *, seed: int, foreign_share: float = 0.03, as_of: date = DEFAULT_AS_OF
    ) -> None:
        if not 0 <= foreign_share <= 1:
            raise InvalidInput("the foreign share must be between 0 and 1", field="foreign_share")
        self.m: Municipality = get_municipality(municipality)
        self.rng = random.Random(seed)  # noqa: S311  (reproducible synthetic data, not secrets)
        self.foreign_share = foreign_share
        self.as_of = as_of
        ts = towns(self.m.code)
        if not ts:
            raise InvalidInput("the postal data lists no towns for this municipality", field="municipality")
        by_name: dict[str, list[Town]] = {}
        for t in ts:
            by_name.setdefault(t.name, []).append(t)
        # a designated city's town name found in two wards needs the ward's code: leave those out; "" (番地
        # right after the municipality's name) only where the municipality has no town names at all
        self.towns: list[list[Town]] = [
            group
            for name, group in by_name.items()
            if len({t.municipality_code for t in group}) == 1 and (name or len(by_name) == 1)
        ]
        mainland, okinawa = _surnames()
        self.surname = Weighted(okinawa if self.m.prefecture_code == "47" else mainland)
        given = _given_names()
        self.given_top = {k: Weighted(v) for k, v in given.items() if k[1]}
        self.given_tail = {s: Weighted(given[(s, "")]) for s in ("M", "F")}
        self.household_type = Weighted(HOUSEHOLD_TYPES)
        self.foreign_household_type = Weighted(FOREIGN_HOUSEHOLD_TYPES)
        self.nationality = Weighted(list(fx.NATIONALITY_SHARES.items()))
        self.status = {n: Weighted(list(mix.items())) for n, mix in fx.STATUS_MIX.items()}
        self.default_status = Weighted(list(fx.DEFAULT_STATUS_MIX.items()))
        self.alias_surnames = [Name(a, b) for a, b in fx.pairs(fx.ALIAS_SURNAMES)]
        self.kanji_family = {n: fx.pairs(b) for n, b in fx.KANJI_FAMILY.items()}
        self.kanji_given = {n: (fx.pairs(m), fx.pairs(f)) for n, (m, f) in fx.KANJI_GIVEN.items()}
        self.latin = {n: tuple(b.split("|") if b else [] for b in blocks) for n, blocks in fx.LATIN.items()}
        self._elsewhere = self._other_municipalities()
        self.honseki_pool = [self._honseki_line() for _ in range(600)]
        self.previous_pool = [self._line_elsewhere() for _ in range(2000)]
        self.local_pool = [self._local_line() for _ in range(500)]
        self.card_serial = self.rng.randrange(10**7)

    # --- tables -----------------------------------------------------------------------------------------

    def _other_municipalities(self) -> list[tuple[Municipality, list[Town]]]:
        """A handful of other municipalities (half in the same prefecture) for 従前の住所 and 本籍."""
        cat = catalogue()
        same = [m for m in cat.in_prefecture(self.m.prefecture_code) if m.is_municipality and m.code != self.m.code]
        every = [m for m in cat.municipalities() if m.kind != "designated_city" and m.code != self.m.code]
        picks = self.rng.sample(same, min(4, len(same))) + self.rng.sample(every, 4)
        out = []
        for m in picks:
            if m.kind == "designated_city":
                m = self.rng.choice(cat.wards_of(m.code))
            ts = [t for t in towns(m.code) if t.name]
            if ts:
                out.append((m, ts))
        return out

    def _block_canonical(self, town: Town) -> str:
        r = self.rng
        if town.chome:
            return f"{r.randint(1, 5)}丁目{r.randint(1, 30)}番{r.randint(1, 25)}号"
        main = int(r.paretovariate(0.9) * 20) % 3000 + 1
        return f"{main}番地" + (f"{r.randint(1, 20)}" if r.random() < 0.5 else "")

    def town_text(self, town: Town) -> str:
        """The town as written: in 京都市 usually after one of its street designations (通り名), where the postal
        data gives the town some; a few people leave the designation out."""
        if town.streets and self.rng.random() < 0.9:
            return self.rng.choice(town.streets) + town.name
        return town.name

    def _line_elsewhere(self) -> str:
        m, ts = self.rng.choice(self._elsewhere)
        t = self.rng.choice(ts)
        return m.full_name + self.town_text(t) + self._block_canonical(t)

    def _local_line(self) -> str:
        t = self.rng.choice(self.rng.choice(self.towns))
        return self.m.full_name if t.name == "" else self.m.full_name + self.town_text(t) + self._block_canonical(t)

    def _honseki_line(self) -> str:
        r = self.rng
        if r.random() < 0.55:
            t = r.choice(r.choice(self.towns))
            main = int(r.paretovariate(0.9) * 20) % 3000 + 1
            return f"{self.m.full_name}{t.name}{main}番地"
        m, ts = r.choice(self._elsewhere)
        t = r.choice(ts)
        return f"{m.full_name}{t.name}{int(r.paretovariate(0.9) * 20) % 3000 + 1}番地"

    # --- people -----------------------------------------------------------------------------------------

    def age(self, lo: int, hi: int) -> int:
        return _ages(lo, hi)(self.rng) if lo <= hi else max(0, lo)

    def birth(self, age: int) -> date:
        # a birthday uniformly within the year of age
        days = int((age + self.rng.random()) * 365.2425)
        return self.as_of - timedelta(days=max(days, 1))

    def given(self, sex: Sex, birth: date) -> Name:
        decade = str(max(1910, min(2020, birth.year // 10 * 10)))
        old = birth.year < 1950
        if self.rng.random() < (0.75 if old else 0.4):
            return self.given_top[(sex, decade)](self.rng)
        return self.given_tail[sex](self.rng)

    def person(self, rel: str, sex: Sex, age: int, family: Name) -> Person:
        b = self.birth(age)
        return Person(rel, sex, b, family, self.given(sex, b))

    def spouse_age(self, age: int, husband: bool) -> int:
        gap = round(self.rng.gauss(2.2, 3.0))  # husbands are ~2 years older on average
        return max(18, min(MAX_AGE, age - gap if husband else age + gap))

    def children(self, hh: Household, father: Person | None, mother: Person | None, family: Name, n: int) -> None:
        ages = [self._years(p.birth) for p in (father, mother) if p]
        lo, hi = max(0, min(ages) - 45), min(ages) - 19
        for _ in range(n):
            if hi < lo:
                return
            sex: Sex = "M" if self.rng.random() < 0.512 else "F"
            hh.members.append(self.person("子", sex, self.age(lo, min(hi, 40)), family))

    def _years(self, birth: date) -> int:
        a = self.as_of.year - birth.year - ((self.as_of.month, self.as_of.day) < (birth.month, birth.day))
        return a

    def japanese_household(self) -> Household:
        r = self.rng
        hh = Household()
        family = self.surname(r)
        kind = self.household_type(r)
        if kind == "single":
            age = self.age(18, MAX_AGE)
            sex: Sex = "F" if r.random() < (0.65 if age >= 75 else 0.45) else "M"
            hh.members.append(self.person("世帯主", sex, age, family))
        elif kind in ("couple", "couple_children", "three_generations"):
            if kind == "couple":
                age = self.age(50, 95) if r.random() < 0.7 else self.age(23, 49)
            elif kind == "couple_children":
                age = self.age(27, 62)
            else:
                age = self.age(35, 58) if r.random() < 0.6 else self.age(62, 85)
            head = self.person("世帯主", "M", age, family)
            unmarried = r.random() < 0.02
            wife_family = self.surname(r)
            wife = self.person("妻（未届）" if unmarried else "妻", "F", self.spouse_age(age, True), family)
            if unmarried:
                wife.family = wife_family
            elif r.random() < 0.03 and wife_family != family:
                wife.former = wife_family  # 旧氏 recorded on request (旧氏併記)
            hh.members += [head, wife]
            if kind == "couple_children":
                self.children(hh, head, wife, family, 1 + (r.random() < 0.6) + (r.random() < 0.25))
            elif kind == "three_generations" and age < 60:
                self.children(hh, head, wife, family, 1 + (r.random() < 0.5))
                for rel, sex in (("父", "M"), ("母", "F")):
                    if r.random() < (0.5 if rel == "父" else 0.8):
                        hh.members.append(self.person(rel, sex, min(MAX_AGE, age + r.randint(24, 38)), family))
            elif kind == "three_generations":
                younger = min(age, self._years(wife.birth))
                child_age = self.age(max(20, younger - 40), younger - 22)
                son = self.person("子", "M", child_age, family)
                daughter_in_law = self.person("子の妻", "F", self.spouse_age(child_age, True), family)
                hh.members += [son, daughter_in_law]
                self.children(hh, son, daughter_in_law, family, 1 + (r.random() < 0.5))
                for p in hh.members[4:]:
                    p.relationship = "子の子"
        elif kind == "single_parent":
            if r.random() < 0.6:
                sex = "F" if r.random() < 0.87 else "M"
                parent = self.person("世帯主", sex, self.age(25, 58), family)
                hh.members.append(parent)
                self.children(hh, parent if sex == "M" else None, parent if sex == "F" else None, family,
                              1 + (r.random() < 0.4))  # fmt: skip
            else:  # an elderly parent living with an adult child
                parent = self.person("世帯主", "F" if r.random() < 0.75 else "M", self.age(70, 98), family)
                hh.members.append(parent)
                page = self._years(parent.birth)
                sex = "M" if r.random() < 0.55 else "F"
                hh.members.append(self.person("子", sex, self.age(max(25, page - 42), page - 20), family))
        else:  # siblings, a relative, or an unrelated lodger
            age = self.age(40, 85)
            sex = "M" if r.random() < 0.5 else "F"
            head = self.person("世帯主", sex, age, family)
            hh.members.append(head)
            other = r.random()
            if other < 0.6:
                older = r.random() < 0.5
                sib_age = max(18, min(MAX_AGE, age + (r.randint(1, 8) if older else -r.randint(1, 8))))
                sib_sex: Sex = "M" if r.random() < 0.5 else "F"
                rel = {(True, "M"): "兄", (True, "F"): "姉", (False, "M"): "弟", (False, "F"): "妹"}[(older, sib_sex)]
                hh.members.append(self.person(rel, sib_sex, sib_age, family))
            elif other < 0.8:
                hh.members.append(self.person("縁故者", "M" if r.random() < 0.5 else "F", self.age(18, 90), family))
            else:
                hh.members.append(self.person("同居人", "M" if r.random() < 0.5 else "F", self.age(20, 80),
                                              self.surname(r)))  # fmt: skip
        return hh

    # --- rendering --------------------------------------------------------------------------------------

    def wareki_text(self, d: date) -> str:
        r = self.rng.random()
        if r < 0.8:
            return format_wareki(d)
        era, year = to_wareki(d)
        if r < 0.9:
            return f"{_ERA_LETTER[era]}{year}.{d.month}.{d.day}"
        if r < 0.96:
            return format_wareki(d).translate(_FULL_WIDTH)
        y = "元" if year == 1 else _kanji_digits(year)
        return f"{era}{y}年{_kanji_digits(d.month)}月{_kanji_digits(d.day)}日"

    def birth_text(self, p: Person, foreign: bool) -> str:
        r = self.rng.random()
        age = self._years(p.birth)
        if foreign:
            return p.birth.isoformat() if r > 0.002 else f"{p.birth.year}-{p.birth.month:02d}"
        if age >= 95 and r < 0.01:
            return "年月日不詳"
        if age >= 85 and r < 0.02:
            era, year = to_wareki(p.birth)
            return f"{era}{'元' if year == 1 else year}年頃"
        return self.wareki_text(p.birth)

    def event_text(self, d: date, foreign: bool) -> str:
        if foreign or self.rng.random() < 0.3:
            return d.isoformat()
        return format_wareki(d)

    def block_text(self, town: Town) -> str:
        r = self.rng
        if town.chome:
            c, b, g = r.randint(1, 5), r.randint(1, 30), r.randint(1, 25)
            x = r.random()
            if x < 0.6:
                return f"{c}丁目{b}番{g}号"
            if x < 0.8:
                return f"{c}-{b}-{g}"
            if x < 0.9:
                return f"{_kanji_digits(c)}丁目{b}-{g}"
            return f"{c}丁目{b}番{g}号".translate(_FULL_WIDTH)
        main = int(r.paretovariate(0.9) * 20) % 3000 + 1
        sub = r.randint(1, 20) if r.random() < 0.5 else 0
        x = r.random()
        if x < 0.6:
            return f"{main}番地" + (str(sub) if sub else "")
        if x < 0.75:
            return f"{main}番地" + (f"の{sub}" if sub else "")
        if x < 0.9:
            return f"{main}-{sub}" if sub else str(main)
        return (f"{main}番地" + (str(sub) if sub else "")).translate(_FULL_WIDTH)

    def katagaki(self, likely: float) -> str:
        r = self.rng
        if r.random() >= likely:
            return ""
        word = r.choice(
            ("さくら", "みどり", "ひまわり", "富士見", "中央", "駅前", "青葉", "若葉", "朝日", "平和", "桜台")
        )
        style = r.choice(("コーポ{w}", "{w}ハイツ", "メゾン{w}", "{w}荘", "レジデンス{w}", "{w}マンション"))
        room = f"{r.randint(1, 8)}{r.randint(1, 12):02d}"
        return style.format(w=word) + room + r.choice(("号", "号室", ""))

    def postal_text(self, code: str) -> str:
        x = self.rng.random()
        if x < 0.25:
            return ""
        if x < 0.55:
            return code
        if x < 0.9:
            return f"{code[:3]}-{code[3:]}"
        return f"〒{code[:3]}-{code[3:]}"

    def card_number(self) -> str:
        r = self.rng
        self.card_serial = (self.card_serial + r.randint(1, 997)) % 10**8
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        return f"{r.choice(letters)}{r.choice(letters)}{self.card_serial:08d}{r.choice(letters)}{r.choice(letters)}"

    def _past(self, earliest: date, mean_years: float) -> date:
        """A date between ``earliest`` and ``as_of``, recent dates more likely."""
        span = (self.as_of - earliest).days
        if span <= 0:
            return self.as_of
        back = min(span, int(self.rng.expovariate(1 / (mean_years * 365.25))))
        return self.as_of - timedelta(days=back)

    def _delay(self) -> int:
        r = self.rng.random()
        return self.rng.randint(15, 90) if r < 0.03 else int(self.rng.triangular(0, 14, 1))

    def render(self, key: str, hh: Household, foreign: bool) -> Iterator[list[str]]:
        r = self.rng
        head = hh.members[0]
        town_options = r.choice(self.towns)
        town = r.choice(town_options)
        town_text = self.town_text(town)
        block = self.block_text(town)
        katagaki = self.katagaki(0.75 if foreign and len(hh.members) == 1 else 0.3)
        postal = self.postal_text(town.postal_code)
        adult_since = head.birth + timedelta(days=int(18 * 365.25))
        lifelong = not foreign and r.random() < 0.12
        moved_in = self._past(max(adult_since, date(1950, 1, 1)), 9 if not foreign else 4)
        from_abroad = foreign and r.random() < 0.45
        previous = "" if from_abroad else r.choice(self.previous_pool)
        moved_within = r.random() < 0.15 and (self.as_of - moved_in).days > 60
        within = self._past(moved_in + timedelta(days=30), 3) if moved_within else None
        honseki = r.choice(self.honseki_pool) if not foreign else ""
        head_name = f"{head.family.text}\u3000{head.given.text}"
        for p in hh.members:
            became = p.birth if (p.birth > moved_in or (lifelong and p is head)) else moved_in
            born_here = became == p.birth
            address_set = max(within, became) if within else became
            filed = min(self.as_of, address_set + timedelta(days=self._delay()))
            prev = r.choice(self.local_pool) if (within and within > became) else ("" if born_here else previous)
            row = [""] * len(COLUMNS)
            row[0] = key
            row[1] = p.relationship
            row[_INDEX["birth_date"]] = self.birth_text(p, foreign)
            row[_INDEX["sex"]] = "男" if p.sex == "M" else "女"
            row[_INDEX["postal_code"]] = postal
            row[_INDEX["town"]] = town_text
            row[_INDEX["block"]] = block
            row[_INDEX["katagaki"]] = katagaki
            row[_INDEX["became_resident_on"]] = self.event_text(became, foreign)
            row[_INDEX["address_set_on"]] = self.event_text(address_set, foreign)
            row[_INDEX["filed_on"]] = self.event_text(filed, foreign)
            row[_INDEX["previous_address"]] = prev
            if foreign:
                self._foreign_items(row, p, hh, became, born_here, from_abroad)
            else:
                row[_INDEX["family_name"]] = p.family.text
                row[_INDEX["given_name"]] = p.given.text
                row[_INDEX["family_name_kana"]] = p.family.kana
                row[_INDEX["given_name_kana"]] = p.given.kana
                row[_INDEX["kana_confirmed"]] = "true" if r.random() < 0.3 else ""
                if p.former:
                    row[_INDEX["former_family_name"]] = p.former.text
                    row[_INDEX["former_family_name_kana"]] = p.former.kana
                row[_INDEX["nationality"]] = "日本"
                if p.relationship in ("父", "母", "縁故者", "同居人"):
                    # their own 戸籍
                    row[_INDEX["honseki"]] = r.choice(self.honseki_pool)
                    row[_INDEX["hittousha"]] = f"{p.family.text}\u3000{p.given.text}"
                else:
                    row[_INDEX["honseki"]] = honseki
                    row[_INDEX["hittousha"]] = head_name if p.family == head.family else ""
            yield row

    # --- foreign residents ------------------------------------------------------------------------------

    def foreign_household(self) -> Household:
        r = self.rng
        nat = self.nationality(r)
        hh = Household(nationality=nat)
        status_mix = self.status.get(nat, self.default_status)
        first_status = status_mix(r)
        if first_status == "家族滞在":  # a household's first member holds the status the family depends on
            first_status = "技術・人文知識・国際業務"
        special = first_status == "特別永住者"
        kind = self.foreign_household_type(r)
        if special:  # 特別永住者 are mostly older Koreans born in Japan
            age = self.age(45, 95)
        elif kind == "single":
            age = self.age(19, 40) if first_status in ("技能実習", "特定技能", "留学") else self.age(20, 80)
        else:
            age = self.age(25, 60)
        sex: Sex = "M" if r.random() < 0.55 else "F"
        blank = Name("", "")
        head = self.person("世帯主", sex, age, blank)
        head.status = first_status
        if special and r.random() < 0.7:
            hh.alias = r.choice(self.alias_surnames)
        if nat in self.kanji_family:
            hh.family = r.choice(self.kanji_family[nat])
        else:
            fams = self.latin.get(nat, self.latin["US"])[0]
            hh.family = ("", r.choice(fams) if fams else "")
        hh.members.append(head)
        if kind in ("couple", "couple_children"):
            sp = self.person("妻" if sex == "M" else "夫", "F" if sex == "M" else "M",
                             self.spouse_age(age, sex == "M"), blank)  # fmt: skip
            hh.members.append(sp)
            if kind == "couple_children":
                n = 1 + (r.random() < 0.4)
                father, mother = (head, sp) if sex == "M" else (sp, head)
                self.children(hh, father, mother, blank, n)
        elif kind == "single_parent":
            self.children(hh, head if sex == "M" else None, head if sex == "F" else None, blank, 1)
        for p in hh.members[1:]:  # the family follows the head's status, or comes as 家族滞在
            p.status = first_status if first_status not in fx.WORKING else "家族滞在"
        return hh

    def _foreign_name(self, row: list[str], p: Person, nat: str, family: tuple[str, str], alias: Name | None) -> None:
        r = self.rng
        if nat in self.kanji_given:
            males, females = self.kanji_given[nat]
            gk, gl = r.choice(males if p.sex == "M" else females)
            row[_INDEX["family_name"]], row[_INDEX["given_name"]] = family[0], gk
            row[_INDEX["alphabet_name"]] = f"{family[1]} {gl}"
            if alias is not None:
                g = self.given(p.sex, p.birth)
                row[_INDEX["alias_name"]] = f"{alias.text}\u3000{g.text}"
                row[_INDEX["alias_name_kana"]] = f"{alias.kana}\u3000{g.kana}"
            return
        _, latin_m, latin_f = self.latin.get(nat, self.latin["US"])
        given = r.choice(latin_m if p.sex == "M" else latin_f)
        row[_INDEX["alphabet_name"]] = f"{family[1]} {given}" if family[1] else given

    def _foreign_items(
        self, row: list[str], p: Person, hh: Household, became: date, born_here: bool, from_abroad: bool
    ) -> None:
        r = self.rng
        nat = hh.nationality
        status = p.status
        special = status == "特別永住者"
        self._foreign_name(row, p, nat, hh.family, hh.alias if special else None)
        row[_INDEX["nationality"]] = fx_name(nat)
        if special:
            row[_INDEX["foreign_category"]] = "特別永住者"
            row[_INDEX["special_permanent_certificate_number"]] = self.card_number()
            entered = p.birth
        else:
            row[_INDEX["foreign_category"]] = "中長期在留者"
            row[_INDEX["residence_status"]] = status
            period = r.choice(fx.PERIODS.get(status, ("1年",)))
            row[_INDEX["period_of_stay"]] = period
            if period != "無期限":
                row[_INDEX["stay_expiry"]] = (self.as_of + timedelta(days=r.randint(20, 700))).isoformat()
            row[_INDEX["residence_card_number"]] = self.card_number()
            entered = (
                became if (from_abroad or born_here) else max(p.birth, became - timedelta(days=r.randint(30, 2000)))
            )
        row[_INDEX["became_foreign_resident_on"]] = max(FOREIGN_RESIDENT_SYSTEM, entered, p.birth).isoformat()

    # --- driver -----------------------------------------------------------------------------------------

    def rows(self, count: int) -> Iterator[list[str]]:
        r = self.rng
        written = foreign_written = 0
        for n in itertools.count(1):
            if written >= count:
                return
            behind = foreign_written < self.foreign_share * max(written, 1)
            is_foreign = self.foreign_share > 0 and r.random() < self.foreign_share * (1.6 if behind else 0.4)
            hh = self.foreign_household() if is_foreign else self.japanese_household()
            for row in self.render(f"H{n:07d}", hh, is_foreign):
                if written >= count:
                    return
                written += 1
                foreign_written += is_foreign
                yield row


@cache
def fx_name(code: str) -> str:
    """The nationality as a clerk writes it: the Japanese name on 住民票."""
    return nationalities()[code].name_ja


def write(
    out: TextIO,
    gen: Generator,
    count: int,
    fmt: Literal["csv", "jsonl"] = "csv",
    advance: Callable[[int], None] | None = None,
) -> int:
    """Write ``count`` rows to ``out``; returns the number written."""
    step = 10_000
    n = 0
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(COLUMNS)
        batch: list[list[str]] = []
        for row in gen.rows(count):
            batch.append(row)
            if len(batch) == step:
                w.writerows(batch)
                n += len(batch)
                if advance:
                    advance(len(batch))
                batch = []
        w.writerows(batch)
        n += len(batch)
        if advance:
            advance(len(batch))
        return n
    buf = io.StringIO()
    for row in gen.rows(count):
        buf.write(orjson.dumps({k: v for k, v in zip(COLUMNS, row, strict=True) if v}).decode())
        buf.write("\n")
        n += 1
        if n % step == 0:
            out.write(buf.getvalue())
            buf = io.StringIO()
            if advance:
                advance(step)
    out.write(buf.getvalue())
    if advance:
        advance(n % step)
    return n


def generate_file(
    path: Path,
    *,
    municipality: str,
    count: int,
    seed: int,
    fmt: Literal["csv", "jsonl"] = "csv",
    foreign_share: float = 0.03,
    as_of: date = DEFAULT_AS_OF,
    advance: Callable[[int], None] | None = None,
) -> int:
    if count < 0:
        raise InvalidInput("the count must not be negative", field="count")
    gen = Generator(municipality, seed=seed, foreign_share=foreign_share, as_of=as_of)
    try:
        f = path.open("w", encoding="utf-8", newline="")
    except OSError as exc:  # no such directory, no permission, a directory: the path is the user's input
        raise InvalidInput("cannot be written", field="out") from exc
    with f:
        return write(f, gen, count, fmt, advance)
