"""A name that would display as another (bidi override, zero-width space), a lone combining mark or an emoji is
refused at every door — the CLI and an import file — with the field and the rule, never the value."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sekisho.cli import app
from sekisho.config import Home
from sekisho.errors import ErrorList
from sekisho.registry.service import RegisterService
from sekisho.synth.residents import COLUMNS

from .conftest import GIFU, person


def test_cli_refuses_a_right_to_left_override_in_a_name(home: Home) -> None:
    runner = CliRunner()
    env = {"SEKISHO_HOME": str(home.root)} | ({"SEKISHO_DB": home.db_url} if home.db_url else {})
    if home.namespace:
        env["SEKISHO_DB_NAMESPACE"] = home.namespace
    assert runner.invoke(app, ["registry", "init", "-m", GIFU], env=env).exit_code == 0
    args = ["registry", "add", "-m", GIFU, "--family-name", "山田\u202e", "--given-name", "太郎"]
    args += ["--family-kana", "ヤマダ", "--given-kana", "タロウ", "--birth-date", "昭和50年1月1日", "--sex", "男"]
    args += ["--town", "今沢町", "--block", "1番地", "--became-resident-on", "2020-01-01"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2
    assert result.stderr == "sekisho: error: family_name: a name must not contain bidirectional-text controls\n"


def test_an_import_refuses_hidden_characters_emoji_and_lone_marks(gifu: RegisterService, tmp_path: Path) -> None:
    rows = [
        person(household="a", family_name="\u202e田山"),
        person(household="b", given_name="健\u200b一"),
        person(household="c", given_name="\u0301"),
        person(household="d", given_name="健一😀"),
        person(household="e", given_name_kana="ケン\u202eイチ"),
        person(household="f", honseki="岐阜県岐阜市\u202e青柳町"),
        person(household="g", katagaki="コーポ\u200b201"),
        person(household="h", family_name="葛\U000e0100城", given_name="健八"),  # an IVS sequence: accepted
    ]
    path = tmp_path / "names.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        w.writeheader()
        w.writerows({k: r.get(k, "") for k in COLUMNS} for r in rows)
    with pytest.raises(ErrorList) as exc:
        gifu.import_file(path, parts=1)
    assert exc.value.lines() == [
        "line 2: family_name: a name must not contain bidirectional-text controls",
        "line 3: given_name: a name must not contain invisible or formatting characters",
        "line 4: given_name: a name must not contain a combining mark with no letter to combine with",
        "line 5: given_name: a name must not contain symbols or emoji",
        "line 6: given_name_kana: a reading must not contain bidirectional-text controls",
        "line 7: honseki: contains bidirectional-text controls or invisible characters",
        "line 8: address.katagaki: a 方書 must not contain bidirectional-text controls or invisible characters",
    ]
