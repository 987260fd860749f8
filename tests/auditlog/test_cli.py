"""`sekisho log …` end to end: init, checkpoint, proof, tail, alerts, verify (exit 4 on a tampered log)."""

from __future__ import annotations

import base64
import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from sekisho.auditlog.keys import LogConfig
from sekisho.auditlog.service import LogService
from sekisho.cli import app
from sekisho.config import Home
from sekisho.transparency import merkle
from sekisho.transparency.checkpoint import verify_witnessed_checkpoint

from .conftest import make_entry

PASS = "a long enough passphrase"


@pytest.fixture
def run(home: Home, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SEKISHO_PASSPHRASE", PASS)
    monkeypatch.setenv("SEKISHO_DB_NAMESPACE", home.namespace)
    runner = CliRunner()
    base = ["--home", str(home.root)] + (["--db", home.db_url] if home.db_url else [])

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, [*args, *base])
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_log_commands(home: Home, run) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run("log", "init", "--origin", "log.sekisho.test/v1")
    assert code == 0
    assert "log.sekisho.test/v1+" in out
    assert "PRIVATE" not in out
    key_file = (home.root / "log" / "log-key.pem").read_text()
    assert "ENCRYPTED PRIVATE KEY" in key_file  # encrypted at rest
    svc = LogService.open(home)
    entries = [make_entry() for _ in range(30)]
    svc.append_many(entries)
    svc.close()

    code, note, _ = run("log", "checkpoint")
    assert code == 0
    config = LogConfig.load(home)
    cp = verify_witnessed_checkpoint(note, config.vkey, config.witnesses)
    assert cp.size == 30

    code, out, _ = run("log", "proof", "--index", "7")
    assert code == 0
    bundle = json.loads(out)
    proof = [base64.b64decode(p) for p in bundle["proof"]]
    merkle.verify_inclusion(7, 30, merkle.hash_leaf(entries[7]), proof, cp.root_hash)
    assert bundle["checkpoint"] == note

    code, out, _ = run("log", "tail", "-n", "3")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [x["index"] for x in lines] == [27, 28, 29]

    code, out, _ = run("log", "verify", "--json")
    assert code == 0
    assert json.loads(out)["size"] == 30

    code, out, _ = run("log", "alerts")
    assert (code, out) == (0, "")

    svc = LogService.open(home)
    with svc.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM log_leaf WHERE idx = 12"))
    svc.close()
    code, _, err = run("log", "verify")
    assert code == 4
    assert "index 12" in err


def test_wrong_passphrase_is_refused(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    assert run("log", "init")[0] == 0
    monkeypatch.setenv("SEKISHO_PASSPHRASE", "not it")
    code, _, err = run("log", "checkpoint")
    assert code == 3
    assert "passphrase" in err
