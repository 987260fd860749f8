"""An import is idempotent and keeps the one-live-record rule: a file already imported (same SHA-256) is refused
naming its batch — the clerk whose import was killed after its commit, before its success line, runs it again —
and a person is refused when the file repeats them or the register already has them live."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from typer.testing import CliRunner

from sekisho.cli import app
from sekisho.config import Home
from sekisho.errors import Conflict, ErrorList
from sekisho.registry import store as st
from sekisho.registry.service import RegisterService, party_of
from sekisho.storage import create_engine_for
from sekisho.synth.residents import COLUMNS

from .conftest import GIFU, person


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        w.writeheader()
        for row in rows:
            w.writerow({k: row.get(k, "") for k in COLUMNS})
    return path


def _count(svc: RegisterService, table: sa.Table) -> int:
    with svc.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


_BORN_2008 = {
    "birth_date": "平成20年1月1日",
    "became_resident_on": "平成20年1月1日",
    "address_set_on": "平成20年1月1日",
}


def _family(household: str, given: list[tuple[str, str]]) -> list[dict[str, str]]:
    head = person(household=household, given_name=given[0][0], given_name_kana=given[0][1])
    rest = [
        person(household=household, relationship="子", given_name=g, given_name_kana=k, **_BORN_2008)
        for g, k in given[1:]
    ]
    return [head, *rest]


def _distinct(n: int) -> list[dict[str, str]]:
    """``n`` households of a head and a child, every person distinct."""

    def name(i: int, kanji: str, kana: str) -> tuple[str, str]:
        return kanji + "".join("十一二三四五六七八九"[int(d)] for d in str(i)), kana + "".join(
            "ジイニサシゴロナハク"[int(d)] for d in str(i)
        )

    return [r for i in range(n) for r in _family(f"h{i}", [name(i, "健", "ケン"), name(i, "花", "ハナ")])]


@pytest.mark.parametrize("parts", [1, 2])
def test_the_same_file_twice_is_refused_naming_the_batch(gifu: RegisterService, tmp_path: Path, parts: int) -> None:
    path = _csv(tmp_path / "a.csv", _distinct(10))
    first = gifu.import_file(path, parts=parts)
    assert first.rows == 20
    with pytest.raises(Conflict) as exc:
        gifu.import_file(path, parts=parts)
    assert str(exc.value) == f"file: this file was imported already (batch {first.batch_id}); nothing was written"
    assert _count(gifu, st.resident) == 20
    assert _count(gifu, st.batch) == 1


def test_the_cli_refuses_a_second_run_of_a_committed_import(home: Home, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"SEKISHO_HOME": str(home.root)} | ({"SEKISHO_DB": home.db_url} if home.db_url else {})
    if home.namespace:
        env["SEKISHO_DB_NAMESPACE"] = home.namespace
    assert runner.invoke(app, ["registry", "init", "-m", GIFU], env=env).exit_code == 0
    path = _csv(tmp_path / "a.csv", [person()])
    done = runner.invoke(app, ["registry", "import", str(path), "-m", GIFU, "--json"], env=env)
    assert done.exit_code == 0, done.output
    batch = json.loads(done.stdout)["batch"]
    again = runner.invoke(app, ["registry", "import", str(path), "-m", GIFU], env=env)
    assert again.exit_code == 2
    assert (
        again.stderr == f"sekisho: error: file: this file was imported already (batch {batch}); nothing was written\n"
    )


@pytest.mark.parametrize("parts", [1, 2])
def test_a_person_twice_in_one_file_is_refused(gifu: RegisterService, tmp_path: Path, parts: int) -> None:
    rows = _distinct(30)
    rows.insert(5, dict(rows[3]))  # line 7 repeats line 5 (same household)
    rows.append(rows[0] | {"household": "elsewhere"})  # a head of their own, in another household (and worker)
    rows.append(rows[1] | {"household": "elsewhere", "family_name": "高橋", "relationship": "子"})  # 髙 → 高
    path = _csv(tmp_path / "twice.csv", rows)
    with pytest.raises(ErrorList) as exc:
        gifu.import_file(path, parts=parts)
    assert exc.value.lines() == [
        "line 7: person: repeats the person of line 5 (same name, birth date, sex and address)",
        "line 63: person: repeats the person of line 2 (same name, birth date, sex and address)",
        "line 64: person: repeats the person of line 3 (same name, birth date, sex and address)",
    ]
    assert _count(gifu, st.resident) == 0


@pytest.mark.parametrize("parts", [1, 2])
def test_a_person_already_live_in_the_register_is_refused(gifu: RegisterService, tmp_path: Path, parts: int) -> None:
    gifu.import_file(_csv(tmp_path / "first.csv", _distinct(3)), parts=parts)
    known = _distinct(3)[3]  # the child of the second household
    moved = known | {"household": "n", "relationship": "世帯主", "katagaki": "コーポ岐阜201号"}  # 方書 aside
    new = person(household="n", relationship="子", given_name="新", given_name_kana="シン", katagaki="コーポ岐阜201号")
    with pytest.raises(ErrorList) as exc:
        gifu.import_file(_csv(tmp_path / "second.csv", [moved, new | _BORN_2008]), parts=parts)
    assert exc.value.lines() == [
        "line 2: person: already has a live record in this register (same name, birth date, sex and address)"
    ]
    assert _count(gifu, st.resident) == 6
    # at another address, or born on another day, it is another person
    elsewhere = moved | {"block": "4丁目1番1号"}
    other_day = moved | {"household": "m", "birth_date": "平成19年12月31日"}
    assert gifu.import_file(_csv(tmp_path / "third.csv", [elsewhere, other_day]), parts=parts).rows == 2


def test_in_process_rows_follow_the_same_rules(gifu: RegisterService) -> None:
    digest = hashlib.sha256(b"rows").hexdigest()
    gifu.import_rows(enumerate([person()], start=2), source_sha256=digest)
    with pytest.raises(Conflict):
        gifu.import_rows(enumerate([person(given_name="別")], start=2), source_sha256=digest)
    with pytest.raises(ErrorList) as exc:
        gifu.import_rows(enumerate([person(household="z")], start=2), source_sha256=hashlib.sha256(b"x").hexdigest())
    assert [(line, e.field) for line, e in exc.value.errors] == [(2, "person")]


def _upgrade(engine: sa.Engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", "sekisho.registry:migrations")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["context"] = "registry"
        command.upgrade(cfg, revision)


def _batch(engine: sa.Engine, sha: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            st.batch.insert().values(kind="import", source_sha256=sha, rows=1, actor="c", recorded_at=datetime.now(UTC))
        )


def test_the_migration_adds_the_rule_and_refuses_a_register_already_doubled(home: Home) -> None:
    party = party_of(GIFU)
    (home.root / party).mkdir(parents=True, exist_ok=True)  # what the party's init does
    engine = create_engine_for(home.party_db_url(party), schema=home.party_schema(party))
    _upgrade(engine, "0005")
    _batch(engine, "a" * 64)
    _batch(engine, "a" * 64)
    with pytest.raises(RuntimeError, match=r"batches 1 and 2 imported the same file"):
        _upgrade(engine, "head")
    with engine.begin() as conn:
        conn.execute(st.batch.delete().where(st.batch.c.id == 2))
    _upgrade(engine, "head")
    with pytest.raises(sa.exc.IntegrityError):
        _batch(engine, "a" * 64)
    engine.dispose()
