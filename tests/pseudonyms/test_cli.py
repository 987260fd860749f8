"""`sekisho network init`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sekisho.cli import app
from sekisho.config import Home
from sekisho.pep.keys import load_network, open_registry_key

from .conftest import PASSPHRASE


def test_network_init_sets_up_every_party_and_prints_no_secret(home: Home) -> None:
    env = {
        "SEKISHO_PASSPHRASE": PASSPHRASE.decode(),
        "SEKISHO_DB": home.db_url or "",
        "SEKISHO_DB_NAMESPACE": home.namespace,
    }
    result = CliRunner().invoke(app, ["network", "init", "--home", str(home.root), "--json"], env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    network = load_network(home.root)
    assert out["network_id"] == network.network_id
    for path in out["key_files"].values():
        assert (home.root / path).exists()
    registry = open_registry_key(home, passphrase=PASSPHRASE)
    assert registry.secret.to_bytes().hex() not in result.output
    # a second init refuses, with one line and the conflict exit code
    again = CliRunner().invoke(app, ["network", "init", "--home", str(home.root)], env=env)
    # (Typer's runner reports the Exit raised by the error mapper as an exception; its code is what a shell sees)
    assert getattr(again.exception, "exit_code", again.exit_code) == 2
    assert "network.json exists" in again.output


def test_network_init_prompts_for_a_passphrase(home: Home) -> None:
    env = {"SEKISHO_PASSPHRASE": "", "SEKISHO_DB": home.db_url or "", "SEKISHO_DB_NAMESPACE": home.namespace}
    result = CliRunner().invoke(app, ["network", "init", "--home", str(home.root)], env=env, input="pw\npw\n")
    assert result.exit_code == 0, result.output
    assert "set up" in result.output
    assert open_registry_key(home, passphrase=b"pw").domain == "registry"
