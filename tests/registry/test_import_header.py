"""The header of an import file is checked once, before any row: an unknown (misspelt) column is refused by
name with the nearest known one, a missing column is reported once — not once per row."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from sekisho.cli import app
from sekisho.config import Home
from sekisho.errors import ErrorList, InvalidInput
from sekisho.protocols.import_format import IMPORT_COLUMNS
from sekisho.registry import store as st
from sekisho.registry.service import RegisterService

from .conftest import GIFU, person


def _csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            w.writerow([row.get(k, "") for k in header])
    return path


def _residents(svc: RegisterService) -> int:
    with svc.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(st.resident)).scalar_one())


def _people(n: int) -> list[dict[str, str]]:
    return [
        person(household=f"h{i}", given_name="健" + "一二三四五六七八九"[i % 9], katagaki="コーポ岐阜201号")
        for i in range(n)
    ]


@pytest.mark.parametrize("parts", [1, 2])
def test_a_misspelt_optional_column_is_refused_by_name(gifu: RegisterService, tmp_path: Path, parts: int) -> None:
    header = ["katagki" if c == "katagaki" else c for c in IMPORT_COLUMNS]
    path = _csv(tmp_path / "typo.csv", header, [{**r, "katagki": r["katagaki"]} for r in _people(20)])
    with pytest.raises(ErrorList) as exc:
        gifu.import_file(path, parts=parts)
    assert exc.value.lines() == ["line 1: katagki: is not a column of the import format (did you mean katagaki?)"]
    assert _residents(gifu) == 0


def test_an_unknown_column_without_a_near_name_and_a_repeated_one(gifu: RegisterService, tmp_path: Path) -> None:
    header = [*IMPORT_COLUMNS, "memo", "sex", "\u202eevil"]
    path = _csv(tmp_path / "extra.csv", header, _people(3))
    with pytest.raises(ErrorList) as exc:
        gifu.import_file(path, parts=1)
    assert exc.value.lines() == [
        "line 1: memo: is not a column of the import format",
        "line 1: sex: the column appears twice",
        "line 1: '\\u202eevil': is not a column of the import format",
    ]


@pytest.mark.parametrize("parts", [1, 2])
def test_a_missing_required_column_is_reported_once(gifu: RegisterService, tmp_path: Path, parts: int) -> None:
    header = [c for c in IMPORT_COLUMNS if c != "birth_date"]
    path = _csv(tmp_path / "nobirth.csv", header, _people(300))
    with pytest.raises(ErrorList) as exc:
        gifu.import_file(path, parts=parts)
    assert exc.value.lines() == ["line 1: birth_date: the required column is missing"]


@pytest.mark.parametrize("parts", [1, 2])
def test_a_missing_column_some_rows_need_is_reported_once(gifu: RegisterService, tmp_path: Path, parts: int) -> None:
    """Furigana are required of Japanese residents only: a file may lack the column if it has none."""
    header = [c for c in IMPORT_COLUMNS if c != "given_name_kana"]
    path = _csv(tmp_path / "nokana.csv", header, _people(300))
    with pytest.raises(ErrorList) as exc:
        gifu.import_file(path, parts=parts)
    assert exc.value.lines() == ["line 1: given_name_kana: the column is missing, and some rows need it"]
    assert _residents(gifu) == 0


def test_a_jsonl_line_with_an_unknown_key(gifu: RegisterService, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    good = person()
    bad = {k if k != "katagaki" else "katagki": v for k, v in person(household="b").items()}
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in (good, bad)) + "\n", encoding="utf-8")
    with pytest.raises(ErrorList) as exc:
        gifu.import_file(path)
    assert exc.value.lines() == ["line 2: katagki: is not a column of the import format (did you mean katagaki?)"]


def test_cli_refuses_a_misspelt_column_in_a_few_lines(home: Home, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"SEKISHO_HOME": str(home.root)} | ({"SEKISHO_DB": home.db_url} if home.db_url else {})
    if home.namespace:
        env["SEKISHO_DB_NAMESPACE"] = home.namespace
    assert runner.invoke(app, ["registry", "init", "-m", GIFU], env=env).exit_code == 0
    header = [c for c in IMPORT_COLUMNS if c != "sex"]
    path = _csv(tmp_path / "nosex.csv", header, _people(500))
    result = runner.invoke(app, ["registry", "import", str(path), "-m", GIFU], env=env)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "sekisho: error: the header row does not match the import format; nothing was written",
        "  line 1: sex: the required column is missing",
    ]


def test_an_unknown_item_of_one_record_is_refused_by_name(gifu: RegisterService) -> None:
    """The same rule for one record (`registry add --item KEY=VALUE`, the API): no item is dropped silently."""
    row = person()
    row["katagki"] = row.pop("katagaki")
    row.pop("household")
    with pytest.raises(InvalidInput) as exc:
        gifu.add(row)
    assert str(exc.value) == "katagki: is not a column of the import format (did you mean katagaki?)"
    assert _residents(gifu) == 0
