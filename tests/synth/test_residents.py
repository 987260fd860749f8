from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections import Counter, defaultdict
from datetime import date
from importlib.resources import files
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from sekisho.cli import app
from sekisho.config import Home
from sekisho.jp import people, text, wareki
from sekisho.jp.address import parse_address, parse_address_line
from sekisho.jp.catalogue import towns
from sekisho.jp.codes import check_digit
from sekisho.node.registers import open_register
from sekisho.registry import store as st
from sekisho.synth.residents import COLUMNS, Generator, write

# a city with 住居表示 and 地番 areas, a special ward, a small village (and a designated city's wards)
MUNICIPALITIES = ["212016", "131016", "063665"]
AS_OF = date(2025, 10, 1)


def _rows(code: str, n: int, seed: int = 3, share: float = 0.03) -> list[dict[str, str]]:
    buf = io.StringIO()
    write(buf, Generator(code, seed=seed, foreign_share=share), n)
    buf.seek(0)
    return list(csv.DictReader(buf))


@pytest.fixture(scope="module", params=MUNICIPALITIES)
def generated(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, str]]]:
    return request.param, _rows(request.param, 3000, share=0.08)


def test_header_is_the_import_format() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "import-format.md").read_text(encoding="utf-8")
    documented = [line.split("`")[1] for line in doc.splitlines() if line.startswith("| `")]
    names = [n.strip() for cell in documented for n in cell.split(",")]
    assert set(COLUMNS) <= set(names) | {"former_family_name_kana", "alias_name_kana"}
    assert len(_rows("131016", 5)) == 5


def test_every_row_passes_the_jp_validators(generated: tuple[str, list[dict[str, str]]]) -> None:
    code, rows = generated
    assert len(rows) == 3000
    for r in rows:
        foreign = r["nationality"] != "日本"
        people.parse_relationship(r["relationship"])
        people.parse_sex(r["sex"])
        assert people.parse_nationality(r["nationality"]).is_japanese is not foreign
        birth = wareki.parse_date(r["birth_date"], field="birth_date", allow_partial=True)
        events = {
            k: wareki.parse_full_date(r[k], field=k) for k in ("became_resident_on", "address_set_on", "filed_on")
        }
        for d in events.values():
            assert d <= AS_OF
            if birth.is_complete:
                assert d >= birth.as_date()
        assert events["address_set_on"] >= events["became_resident_on"]
        parse_address(
            code, town=r["town"], block=r["block"], katagaki=r["katagaki"], postal_code=r["postal_code"] or None
        )
        if r["previous_address"]:
            parse_address_line(r["previous_address"], field="previous_address")
        for k in ("family_name", "given_name", "former_family_name", "alias_name"):
            if r[k]:
                text.clean_name(r[k], field=k)
        for k in ("family_name_kana", "given_name_kana", "former_family_name_kana", "alias_name_kana"):
            if r[k]:
                text.normalize_kana(r[k], field=k)
        if foreign:
            assert r["alphabet_name"]
            assert not r["family_name_kana"]
            assert not r["honseki"]
            wareki.parse_full_date(r["became_foreign_resident_on"], field="became_foreign_resident_on")
            if r["foreign_category"] == "特別永住者":
                people.parse_residence_card_number(r["special_permanent_certificate_number"], field="c")
            else:
                assert r["foreign_category"] == "中長期在留者"
                people.parse_residence_card_number(r["residence_card_number"], field="c")
                assert r["period_of_stay"]
                assert bool(r["stay_expiry"]) is (r["period_of_stay"] != "無期限")
        else:
            assert r["family_name"]
            assert r["given_name_kana"]
            assert r["honseki"]
            parse_address_line(r["honseki"], field="honseki")


def test_households_are_consistent(generated: tuple[str, list[dict[str, str]]]) -> None:
    _, rows = generated
    households: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        households[r["household"]].append(r)

    def born(r: dict[str, str]) -> wareki.PartialDate:
        return wareki.parse_date(r["birth_date"], field="b", allow_partial=True)

    for members in households.values():
        heads = [m for m in members if m["relationship"] == "世帯主"]
        assert len(heads) == 1
        assert members[0]["relationship"] == "世帯主"
        assert len({(m["town"], m["block"], m["katagaki"]) for m in members}) == 1
        head = born(heads[0])
        spouses = [born(m) for m in members if m["relationship"] in ("妻", "夫", "妻（未届）", "夫（未届）")]
        for m in members:
            if m["relationship"] == "子":
                child = born(m)
                for parent in [head, *spouses]:
                    if parent.year is not None and child.year is not None:
                        assert child.year - parent.year >= 18
            if m["relationship"] in ("父", "母") and head.year is not None:
                assert born(m).year is not None
                assert head.year - born(m).year >= 18  # type: ignore[operator]


def test_deterministic_by_seed(tmp_path: Path) -> None:
    a = _rows("212016", 500, seed=11)
    b = _rows("212016", 500, seed=11)
    c = _rows("212016", 500, seed=12)
    assert a == b
    assert a != c
    runner = CliRunner()
    outs = []
    for name in ("x.csv", "y.csv"):
        res = runner.invoke(
            app, ["synth", "residents", "-m", "21201", "-n", "300", "--seed", "5", "-o", str(tmp_path / name)]
        )
        assert res.exit_code == 0, res.output
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]


def test_jsonl_has_the_same_rows(tmp_path: Path) -> None:
    runner = CliRunner()
    for fmt in ("csv", "jsonl"):
        args = ["synth", "residents", "-m", "131016", "-n", "200", "--seed", "2", "--format", fmt, "-o"]
        assert runner.invoke(app, [*args, str(tmp_path / f"r.{fmt}")]).exit_code == 0
    with (tmp_path / "r.csv").open(encoding="utf-8") as f:
        from_csv = list(csv.DictReader(f))
    lines = (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()
    from_jsonl = [{k: json.loads(line).get(k, "") for k in COLUMNS} for line in lines]
    assert from_csv == from_jsonl


def test_distributions() -> None:
    rows = _rows("212016", 20000, seed=9)
    foreign = sum(r["nationality"] != "日本" for r in rows)
    assert 0.02 <= foreign / len(rows) <= 0.04
    surnames = Counter(r["family_name"] for r in rows if r["nationality"] == "日本")
    top = [s for s, _ in surnames.most_common(12)]
    for common in ("佐藤", "鈴木", "高橋", "田中"):
        assert common in top
    assert surnames["佐藤"] > surnames["高橋"] * 0.9
    assert sum(surnames[v] for v in ("髙橋", "渡邊", "渡邉", "齋藤", "山﨑")) > 0  # variants occur, rarely
    assert sum(surnames[v] for v in ("髙橋", "渡邊", "渡邉", "齋藤", "山﨑")) < len(rows) * 0.01
    sizes = Counter(Counter(r["household"] for r in rows).values())
    assert 0.3 <= sizes[1] / sum(sizes.values()) <= 0.55  # one-person households ~38% (+ foreign singles)
    unknown = sum(r["birth_date"] == "年月日不詳" for r in rows)
    assert unknown < len(rows) * 0.001


def test_okinawa_has_okinawan_surnames() -> None:
    rows = _rows("472018", 3000, seed=4)  # 那覇市
    names = Counter(r["family_name"] for r in rows)
    assert names["比嘉"] + names["金城"] + names["大城"] > 30


def test_cli_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["synth", "residents", "-m", "212017", "-n", "5", "-o", str(tmp_path / "x.csv")])
    assert res.exit_code == 2
    res = CliRunner().invoke(app, ["synth", "residents", "-m", "210005", "-n", "5", "-o", str(tmp_path / "x.csv")])
    assert res.exit_code == 2
    nowhere = tmp_path / "no-such-dir" / "x.csv"
    res = CliRunner().invoke(app, ["synth", "residents", "-m", "212016", "-n", "5", "-o", str(nowhere)])
    assert res.exit_code == 2
    assert res.output.strip() == "sekisho: error: out: cannot be written"
    assert not nowhere.parent.exists()


def test_municipality_commands() -> None:
    res = CliRunner().invoke(app, ["municipality", "show", "13305", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["full_name"] == "東京都西多摩郡日の出町"
    res = CliRunner().invoke(app, ["municipality", "list", "--prefecture", "13", "--json"])
    assert res.exit_code == 0
    assert len(json.loads(res.stdout)) == 62  # 23 特別区 + 26 市 + 5 町 + 8 村
    assert CliRunner().invoke(app, ["municipality", "list", "--prefecture", "48"]).exit_code == 2


def test_a_sample_of_5000_has_a_realistic_surname_tail() -> None:
    """Real samples of 5,000 Japanese have ~1,500–2,000 surnames; a few hundred make searches and homonyms
    unrealistically easy (issue 9, item 24)."""
    rows = [r for r in _rows("212016", 5000, seed=1) if r["nationality"] == "日本"]
    surnames = Counter(r["family_name"] for r in rows)
    assert len(surnames) >= 1000
    # the head keeps its weights: the most common surnames still lead
    assert {"佐藤", "鈴木", "高橋"} & {s for s, _ in surnames.most_common(10)}
    # homonyms: one surname read two ways, and one reading written two ways, both occur
    readings: dict[str, set[str]] = defaultdict(set)
    spellings: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        readings[r["family_name"]].add(r["family_name_kana"])
        spellings[r["family_name_kana"]].add(r["family_name"])
    assert any(len(v) > 1 for v in readings.values())
    assert sum(len(v) > 1 for v in spellings.values()) >= 50


def _kanji_or_kana(c: str) -> bool:
    return (
        c in "々〆ー"
        or "\u3041" <= c <= "\u3096"
        or "\u30a1" <= c <= "\u30fa"
        or unicodedata.name(c, "").startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH"))
    )


@pytest.mark.parametrize(("table", "column"), [("surnames.csv", "surname"), ("given_names.csv", "name")])
def test_name_tables_have_thousands_of_names_written_in_kanji_or_kana_with_katakana_readings(
    table: str, column: str
) -> None:
    with files("sekisho.synth").joinpath(f"data/{table}").open(encoding="utf-8") as f:
        entries = list(csv.DictReader(f))
    assert len({e[column] for e in entries}) >= 10_000
    assert len(set(map(tuple, (e.values() for e in entries)))) == len(entries)  # no duplicate rows
    for e in entries:
        assert text.clean_name(e[column], field=column) == e[column]
        assert all(_kanji_or_kana(c) for c in e[column]), e[column]
        assert text.normalize_kana(e["kana"], field="kana") == e["kana"]  # stored as the register stores it
        assert float(e["weight"]) > 0


def test_kyoto_addresses_carry_the_street_designation_and_import(home: Home, tmp_path: Path) -> None:
    """京都市中京区 (261041: 26104 + check digit 1) writes 通り名 before the town where the postal data has them."""
    assert check_digit("26104") == "1"
    path = tmp_path / "kyoto.csv"
    args = ["synth", "residents", "-m", "261041", "-n", "1500", "--seed", "1", "-o", str(path)]
    assert CliRunner().invoke(app, args).exit_code == 0
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_postal: dict[str, set[str]] = defaultdict(set)
    for t in towns("261041"):
        by_postal[t.postal_code] |= {s + t.name for s in t.streets}
    kyoto = [r for r in rows if any(d in r["town"] for d in ("上る", "下る", "西入", "東入"))]
    assert len(kyoto) >= 30
    for r in kyoto:
        a = parse_address("261041", town=r["town"], block=r["block"], postal_code=r["postal_code"] or None)
        assert a.town == r["town"]
        if r["postal_code"]:  # the designation is one the postal data gives that town
            assert r["town"] in by_postal[r["postal_code"].replace("〒", "").replace("-", "")]

    env = {"SEKISHO_HOME": str(home.root)} | ({"SEKISHO_DB": home.db_url} if home.db_url else {})
    if home.namespace:
        env["SEKISHO_DB_NAMESPACE"] = home.namespace
    runner = CliRunner()
    assert runner.invoke(app, ["registry", "init", "-m", "261041"], env=env).exit_code == 0
    result = runner.invoke(app, ["registry", "import", str(path), "-m", "261041", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 1500
    svc = open_register(home, "261041")
    with svc.engine.connect() as conn:
        stored = set(conn.execute(sa.select(st.resident.c.town)).scalars())
    assert {r["town"] for r in kyoto} <= stored  # kept as written, designation and all
