"""Bulk import: every row valid and written in one transaction, or nothing — with every bad row reported."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from sekisho.cli import app
from sekisho.config import Home
from sekisho.errors import ErrorList
from sekisho.node.registers import create_register, open_register
from sekisho.protocols.handles import parse_handle
from sekisho.registry import bulk
from sekisho.registry import store as st
from sekisho.registry.model import EventKind
from sekisho.registry.service import RegisterService
from sekisho.synth.residents import COLUMNS, generate_file

from .conftest import GIFU, TODAY, person


def _counts(svc: RegisterService) -> dict[str, int]:
    with svc.engine.connect() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in st.metadata.sorted_tables
            if t.name != "reg_meta"
        }


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        w.writeheader()
        for row in rows:
            w.writerow({k: row.get(k, "") for k in COLUMNS})
    return path


@pytest.fixture
def synth_file(tmp_path: Path) -> Path:
    path = tmp_path / "gifu.csv"
    generate_file(path, municipality=GIFU, count=3000, seed=7, as_of=date(2026, 11, 1))
    return path


@pytest.mark.parametrize("parts", [1, 2])
def test_import_of_synthetic_residents(gifu: RegisterService, synth_file: Path, parts: int) -> None:
    result = gifu.import_file(synth_file, parts=parts)
    assert result.rows == 3000
    counts = _counts(gifu)
    assert counts["reg_resident"] == 3000
    assert counts["reg_household"] == result.households
    assert counts["reg_history"] == 3000  # one registration row per resident
    assert counts["reg_batch"] == 1
    with gifu.engine.connect() as conn:
        handles = conn.execute(sa.select(st.resident.c.handle)).scalars().all()
        roots = conn.execute(sa.select(st.resident.c.root)).scalars().all()
        kinds = set(conn.execute(sa.select(st.history.c.kind)).scalars())
        heads = conn.execute(
            sa.select(st.resident.c.household_id, sa.func.count())
            .where(st.resident.c.relationship == "世帯主")
            .group_by(st.resident.c.household_id)
        ).all()
    assert len(set(handles)) == 3000 and all(parse_handle(h) == h for h in handles)
    assert len(set(roots)) == 3000 and all(len(r) == 32 for r in roots)
    assert kinds == {EventKind.REGISTERED.value}
    assert len(heads) == result.households and all(n == 1 for _, n in heads)
    # the imported records read back like any other, and the search keys work
    some = gifu.show(handles[0])
    assert some.handle == handles[0]
    japanese = next(gifu.show(h) for h in handles if not gifu.show(h).is_foreign)
    assert japanese.handle in {r.handle for r in gifu.search(japanese.display_kana, limit=200)}


def test_same_rows_same_result_in_one_or_two_processes(home: Home, tmp_path: Path, synth_file: Path) -> None:
    """The parallel path stores exactly what the one-process path stores (ids and random parts aside)."""
    stored = []
    for parts, suffix in ((1, "a"), (2, "b")):
        h = Home(root=tmp_path / suffix, db_url=home.db_url, namespace=home.namespace + suffix)
        h.root.mkdir()
        svc = create_register(h, GIFU, today=lambda: TODAY)
        svc.import_file(synth_file, parts=parts)
        stored.append(_stored(svc))
        svc.engine.dispose()
    assert stored[0] == stored[1]
    assert len(stored[0]) == 3000


def test_bad_rows_import_nothing_and_are_all_reported(gifu: RegisterService, tmp_path: Path) -> None:
    rows = [
        person(household="a"),
        person(household="a", relationship="妻", given_name="花子", given_name_kana="ハナコ", sex="女"),
        person(household="b", birth_date="平成31年5月1日"),  # line 4: era over
        person(household="c", family_name_kana="高はし", sex="X"),  # line 5: two problems
        # distinct people (one person twice is itself an error: test_import_idempotent)
        person(household="d", given_name="一郎", given_name_kana="イチロウ"),
        person(household="d", given_name="次郎", given_name_kana="ジロウ"),  # line 7: second head
        person(household="e", relationship="子", given_name="五郎", given_name_kana="ゴロウ"),  # line 8: no head
        person(household="f", given_name="四郎", given_name_kana="シロウ"),
        person(
            household="f",
            relationship="子",
            given_name="三郎",
            given_name_kana="サブロウ",
            town="藍川町",
            block="18番地",
        ),
    ]
    path = _write_csv(tmp_path / "bad.csv", rows)
    before = _counts(gifu)
    with pytest.raises(ErrorList) as exc:
        gifu.import_file(path, parts=2)
    lines = exc.value.lines()
    by_line = {}
    for where, err in exc.value.errors:
        by_line.setdefault(where, []).append(err.field)
    assert set(by_line) == {4, 5, 7, 8, 10}
    assert by_line[4] == ["birth_date"]
    assert sorted(by_line[5]) == ["family_name_kana", "sex"]
    assert by_line[7] == ["relationship"]
    assert by_line[8] == ["household"]
    assert by_line[10] == ["address"]
    assert all(line.startswith("line ") for line in lines)
    assert _counts(gifu) == before  # not even the batch row


def test_jsonl_with_a_broken_line(gifu: RegisterService, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(person(), ensure_ascii=False) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ErrorList) as exc:
        gifu.import_file(path)
    assert [(w, e.field) for w, e in exc.value.errors] == [(2, "line")]
    assert _counts(gifu)["reg_resident"] == 0
    path.write_text(json.dumps(person(), ensure_ascii=False) + "\n", encoding="utf-8")
    assert gifu.import_file(path).rows == 1


def test_a_large_load_rebuilds_the_indexes(
    gifu: RegisterService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "DEFER_INDEXES_FROM", 10)
    path = tmp_path / "g.csv"
    generate_file(path, municipality=GIFU, count=200, seed=3, as_of=date(2026, 11, 1))
    gifu.import_file(path)
    present = {ix["name"] for ix in sa.inspect(gifu.engine).get_indexes("reg_resident")}
    assert set(bulk._DEFERRABLE) <= present
    # the rebuilt partial unique index guards again: a household cannot get a second head
    with gifu.engine.connect() as conn:
        hid = conn.execute(sa.select(st.resident.c.household_id).where(st.resident.c.relationship == "世帯主")).first()
        other = conn.execute(
            sa.select(st.resident.c.id).where(
                st.resident.c.household_id == hid[0], st.resident.c.relationship != "世帯主"
            )
        ).first()
    if other is not None:
        with pytest.raises(sa.exc.IntegrityError), gifu.engine.begin() as conn:
            conn.execute(st.resident.update().where(st.resident.c.id == other[0]).values(relationship="世帯主"))


def test_cli_import_reports_bad_rows_with_exit_code_2(home: Home, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"SEKISHO_HOME": str(home.root)} | ({"SEKISHO_DB": home.db_url} if home.db_url else {})
    if home.namespace:
        env["SEKISHO_DB_NAMESPACE"] = home.namespace
    assert runner.invoke(app, ["registry", "init", "-m", GIFU], env=env).exit_code == 0
    bad = _write_csv(tmp_path / "bad.csv", [person(), person(household="x", birth_date="昭和64年1月8日")])
    result = runner.invoke(app, ["registry", "import", str(bad), "-m", GIFU], env=env)
    assert result.exit_code == 2
    assert "line 3: birth_date" in result.output
    assert "昭和64年1月8日" not in result.output  # the value itself is never echoed
    good = _write_csv(tmp_path / "good.csv", [person()])
    result = runner.invoke(app, ["registry", "import", str(good), "-m", GIFU, "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 1


def _stored(svc: RegisterService) -> list[tuple[object, ...]]:
    """Every resident row as stored, without what is random or sequential (ids, handles, roots, times)."""
    skip = {"id", "handle", "root", "household_id", "created_at", "updated_at", "batch_id"}
    cols = [c for c in st.resident.c if c.name not in skip]
    with svc.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(*cols)).all())


@pytest.mark.parametrize("parts", [1, 2])
def test_a_shift_jis_csv_from_excel_imports_like_its_utf8_original(
    home: Home, tmp_path: Path, synth_file: Path, parts: int
) -> None:
    """Excel in Japan saves CSV as CP932 (Shift_JIS with Windows' extensions), CRLF line ends: a clerk's file."""
    text = synth_file.read_text(encoding="utf-8")
    sjis = tmp_path / "excel.csv"
    sjis.write_bytes(text.replace("\n", "\r\n").encode("cp932"))
    assert bulk.file_facts(sjis)[2] == bulk.CP932
    assert bulk.file_facts(synth_file)[2] == bulk.UTF8
    stored = []
    for path, suffix in ((synth_file, "u"), (sjis, "s")):
        h = Home(root=tmp_path / suffix, db_url=home.db_url, namespace=home.namespace + suffix)
        h.root.mkdir()
        svc = create_register(h, GIFU, today=lambda: TODAY)
        assert svc.import_file(path, parts=parts).rows == 3000
        stored.append(_stored(svc))
        svc.engine.dispose()
    assert stored[0] == stored[1]


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("binary.csv", b"\x80\x81\xff\xfe not text\n", "is neither UTF-8 nor Shift_JIS (CP932) text"),
        ("sjis.jsonl", '{"family_name": "髙橋"}\n'.encode("cp932"), "is not UTF-8 text (JSON Lines must be UTF-8)"),
    ],
)
def test_a_file_in_another_encoding_is_refused_whole_with_one_line(
    home: Home, tmp_path: Path, synth_file: Path, name: str, payload: bytes, message: str
) -> None:
    runner = CliRunner()
    env = {"SEKISHO_HOME": str(home.root)} | ({"SEKISHO_DB": home.db_url} if home.db_url else {})
    if home.namespace:
        env["SEKISHO_DB_NAMESPACE"] = home.namespace
    assert runner.invoke(app, ["registry", "init", "-m", GIFU], env=env).exit_code == 0
    path = tmp_path / name
    # a CSV: a good header and good rows first, so that only the encoding check can refuse it
    head = b"" if name.endswith(".jsonl") else synth_file.read_bytes()[:2000].rsplit(b"\n", 1)[0] + b"\n"
    path.write_bytes(head + payload)
    result = runner.invoke(app, ["registry", "import", str(path), "-m", GIFU], env=env)
    assert result.exit_code == 2
    assert result.output.strip() == f"sekisho: error: file: {message}"
    svc = open_register(home, GIFU)
    assert _counts(svc)["reg_resident"] == 0
    svc.engine.dispose()
