"""`sekisho agency …` and `sekisho registry join-network`, end to end on the shipped policy."""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pep_network import FAST_N, GIFU, PASSPHRASE, person
from sekisho.cli import app
from sekisho.config import Home
from sekisho.policy.pia import load_pia
from sekisho.policy.service import Watchdog
from sekisho.pseudonyms.service import init_network
from sekisho.registry.service import RegisterService


@pytest.fixture
def cli(home: Home) -> Any:
    init_network(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    wd = Watchdog.open(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    for path in sorted(Path(str(resources.files("sekisho.policy.data").joinpath("pias"))).glob("*.yaml")):
        pia = load_pia(path)
        if pia.agency in ("pension", "tax"):
            wd.submit_pia(pia, by="agency-officer")
            wd.approve_pia(pia.id, by="wd-officer-1")
    wd.engine.dispose()
    env = {
        "SEKISHO_PASSPHRASE": PASSPHRASE.decode(),
        "SEKISHO_DB": home.db_url or "",
        "SEKISHO_DB_NAMESPACE": home.namespace,
        "SEKISHO_HOME": str(home.root),
    }

    def run(*args: str) -> Any:
        result = CliRunner().invoke(app, list(args), env=env)
        code = getattr(result.exception, "exit_code", result.exit_code)
        assert code == 0, result.output
        return json.loads(result.output) if "--json" in args else result.output

    return run


def test_create_enroll_lookup_notices_export(cli: Any, home: Home, tmp_path: Path) -> None:
    # a register loaded before the agencies: two residents
    reg = RegisterService.create(home, GIFU)
    a = reg.add(person(household="a"))
    reg.add(person(household="b", given_name="花子", given_name_kana="ハナコ", sex="女", block="3丁目5番1号"))
    reg.engine.dispose()
    assert cli("registry", "join-network", "-m", GIFU, "--json") == {
        "pseudonyms_made": 0,  # made at registration: the network existed
        "indexed": 2,
        "held_elsewhere": 0,
    }

    made = cli("agency", "create", "pension", "--purpose", "pension.benefit", "--json")
    assert made["purposes"]["pension.benefit"] == ["name", "kana", "birth_date", "sex", "address", "death", "moved"]
    cli("agency", "create", "tax", "--purpose", "tax.assessment", "--json")
    enrolled = cli("agency", "enroll", "pension", "-m", GIFU, "--purpose", "pension.benefit", "--all", "--json")
    assert enrolled["enrolled"] == 2
    assert cli("agency", "enroll", "tax", "-m", GIFU, "--purpose", "tax.assessment", "--handle", a.handle, "--json")[
        "items"
    ] == ["address", "birth_date", "death", "kana", "moved", "name"]

    out = tmp_path / "pension.csv"
    cli("agency", "export", "pension", "--out", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 2 and all(r["pseudonym"].startswith("sks1:pension:") for r in rows)
    with pytest.raises(AssertionError, match="sekisho: error: out: cannot be written"):
        cli("agency", "export", "pension", "--out", str(tmp_path / "no-such-dir" / "pension.csv"))
    assert "handle" not in rows[0]
    mine = next(r["pseudonym"] for r in rows if r["name"] == "髙橋\u3000健一")

    [answer] = cli("agency", "lookup", "pension", "--pseudonym", mine, "--purpose", "pension.benefit", "--json")
    assert answer["status"] == "found" and answer["items"]["birth_date"] == "1975-04-01"

    reg = RegisterService.open(home, GIFU)
    reg.death(a.handle, died_on="2026-11-18")
    reg.engine.dispose()
    notices = cli("agency", "notices", "pension", "--json")
    assert [(n["kind"], n["pseudonym"], n["items"]) for n in notices] == [("died", mine, {"death": "2026-11-18"})]
    assert [n["kind"] for n in cli("agency", "notices", "tax", "--json")] == ["died"]
    assert cli("agency", "notices", "pension", "--json") == notices  # delivered once
