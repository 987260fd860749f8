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
from sekisho.node.registers import create_register, open_register
from sekisho.policy.pia import load_pia
from sekisho.policy.service import Watchdog
from sekisho.pseudonyms.service import init_network


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
        return json.loads(result.stdout) if "--json" in args else result.output

    return run


def test_create_enroll_lookup_notices_export(cli: Any, home: Home, tmp_path: Path) -> None:
    # a register loaded before the agencies: two residents
    reg = create_register(home, GIFU)
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

    reg = open_register(home, GIFU)
    reg.death(a.handle, died_on="2026-11-18")
    reg.engine.dispose()
    # the agency pulls its feed from its cursor on: the death once, then nothing new
    assert cli("agency", "pull-notices", "pension", "--json") == {"new": 1, "municipalities": {GIFU: 1}}
    assert cli("agency", "pull-notices", "pension", "-m", GIFU, "--json") == {"new": 0, "municipalities": {GIFU: 0}}
    notices = cli("agency", "notices", "pension", "--json")
    assert [(n["kind"], n["pseudonym"], n["items"]) for n in notices] == [("died", mine, {"death": "2026-11-18"})]
    assert [n["kind"] for n in cli("agency", "notices", "tax", "--json")] == ["died"]
    assert cli("agency", "notices", "pension", "--json") == notices  # delivered once


def _runner(home: Home) -> Any:
    env = {
        "SEKISHO_PASSPHRASE": PASSPHRASE.decode(),
        "SEKISHO_DB": home.db_url or "",
        "SEKISHO_DB_NAMESPACE": home.namespace,
        "SEKISHO_HOME": str(home.root),
    }

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args), env=env)
        return getattr(result.exception, "exit_code", result.exit_code) or 0, result.output

    return run


def test_create_defaults_to_the_approved_pias_purposes_and_to_basis_and_pia(
    cli: Any, home: Home, tmp_path: Path
) -> None:
    """Issue 9 items 17 and 20: `sekisho agency create pension` (README) failed for want of --purpose, and the
    default items were the whole legal-basis row even where the approved PIA is narrower."""
    made = cli("agency", "create", "pension", "--json")
    assert sorted(made["purposes"]) == ["pension.benefit", "pension.contribution"]

    # a bank whose PIA asks for less than its legal basis (bank.kyc: name, birth_date, sex, address)
    source = Path(str(resources.files("sekisho.policy.data").joinpath("pias/samplebank.yaml")))
    narrow = tmp_path / "samplebank.yaml"
    narrow.write_text(
        source.read_text(encoding="utf-8").replace("items: [name, birth_date, sex, address]", "items: [name, address]"),
        encoding="utf-8",
    )
    wd = Watchdog.open(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    pia = load_pia(narrow)
    wd.submit_pia(pia, by="agency-officer")
    wd.approve_pia(pia.id, by="wd-officer-1")
    wd.engine.dispose()
    made = cli("agency", "create", "samplebank", "--json")
    assert made["purposes"] == {"bank.kyc": ["name", "address"]}

    run = _runner(home)
    code, out = run("agency", "create", "kyokai-kenpo")  # no approved PIA: nothing to take the purpose from
    assert code == 2 and "purpose" in out and len(out.strip().splitlines()) == 1


def test_items_beyond_the_register_name_the_list_and_a_lookup_beyond_the_pia_is_refused(cli: Any, home: Home) -> None:
    """Issue 9 item 17: `--item household` said "must name items this register releases" without the list;
    `agency lookup` beyond the PIA exited 0 with status refused and no reason, while enroll exited 3."""
    reg = create_register(home, GIFU)
    a = reg.add(person())
    reg.engine.dispose()
    cli("registry", "join-network", "-m", GIFU)
    cli("agency", "create", "tax", "--purpose", "tax.assessment")
    run = _runner(home)
    code, out = run(
        "agency",
        "enroll",
        "tax",
        "-m",
        GIFU,
        "--purpose",
        "tax.assessment",
        "--handle",
        a.handle,
        "--item",
        "household",
    )
    assert code == 2 and "name, kana, birth_date" in out, out
    code, out = run(
        "agency", "enroll", "tax", "-m", GIFU, "--purpose", "tax.assessment", "--handle", a.handle, "--item", "sex"
    )
    assert code == 3 and "item-not-allowed:sex" in out, out
    cli("agency", "enroll", "tax", "-m", GIFU, "--purpose", "tax.assessment", "--handle", a.handle)
    out = home.root / "tax.csv"
    cli("agency", "export", "tax", "--out", str(out))
    [row] = list(csv.DictReader(out.open(encoding="utf-8")))
    code, text = run(
        "agency", "lookup", "tax", "--pseudonym", row["pseudonym"], "--purpose", "tax.assessment", "--item", "sex"
    )
    assert code == 3 and "item-not-allowed:sex" in text, text
    assert len(text.strip().splitlines()) == 1
