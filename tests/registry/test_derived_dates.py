"""A date the clerk typed once is reported once: a newborn's 住民となった年月日 and 住所を定めた年月日 are its birth
date, and `registry add` without --address-set-on uses --became-resident-on; a bad source date is not reported
again under the names of dates the clerk never typed."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sekisho.cli import app
from sekisho.config import Home
from sekisho.errors import InvalidInput
from sekisho.registry.service import RegisterService

from .conftest import GIFU, person


@pytest.mark.parametrize(
    ("born", "message"),
    [
        ("昭和99年13月1日", "birth_date: the month must be between 1 and 12"),
        ("令和7年頃", "birth_date: a complete date (year, month and day) is required"),
        ("2030-01-01", "birth_date: is in the future"),
    ],
)
def test_a_bad_birth_date_of_a_newborn_is_reported_once(gifu: RegisterService, born: str, message: str) -> None:
    head = gifu.add(person())
    child = {
        k: v
        for k, v in person(given_name="花子", given_name_kana="ハナコ", sex="女", relationship="子").items()
        if k in _CHILD
    }
    with pytest.raises(InvalidInput) as exc:
        gifu.birth(child | {"birth_date": born}, household=head.household)
    assert str(exc.value) == message


_CHILD = ("family_name", "given_name", "family_name_kana", "given_name_kana", "sex", "relationship")


def test_cli_add_reports_a_bad_date_once_under_the_option_typed(home: Home) -> None:
    runner = CliRunner()
    env = {"SEKISHO_HOME": str(home.root)} | ({"SEKISHO_DB": home.db_url} if home.db_url else {})
    if home.namespace:
        env["SEKISHO_DB_NAMESPACE"] = home.namespace
    assert runner.invoke(app, ["registry", "init", "-m", GIFU], env=env).exit_code == 0
    args = ["registry", "add", "-m", GIFU, "--family-name", "山田", "--given-name", "太郎"]
    args += ["--family-kana", "ヤマダ", "--given-kana", "タロウ", "--birth-date", "昭和50年1月1日", "--sex", "男"]
    args += ["--town", "今沢町", "--block", "1番地", "--became-resident-on", "2020-13-01"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2
    assert result.stderr == "sekisho: error: became_resident_on: the month must be between 1 and 12\n"
    typed = runner.invoke(app, [*args[:-1], "2020-01-01", "--address-set-on", "2020-13-01"], env=env)
    assert typed.stderr == "sekisho: error: address_set_on: the month must be between 1 and 12\n"
