"""`sekisho demo` runs its narrated scenario, then starts every party as an OS process, shows requests to them
and stops them; with --keep they serve until Ctrl-C, which stops every one of them."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from sekisho.config import Home

from .procs import PASSPHRASE, Running, get, pid_alive, start, wait_gone

pytestmark = pytest.mark.slow

#: lines of the narrated scenario that must still be shown (one per part of it)
SCENARIO = [
    "1. The catalogue of local governments",
    "Importing 2,000 synthetic residents",
    "the search for 高橋 also finds variant spellings",
    "exactly one active record",
    "平成31年5月1日",
    "identity confirmation by the tax office",
    "the PKI revokes the card: OCSP revoked",
    "Who looked at me?",
    "`sekisho log verify`",
]


def test_demo_keep_serves_the_parties_until_ctrl_c(tmp_path: Path) -> None:
    home = Home(root=tmp_path / "demo")  # the demo is SQLite only: it makes its own home
    running: Running = start(home, "demo", "--keep", extra_env={"COLUMNS": "200"})
    running.wait_for("  serving until Ctrl-C")
    data = running.run_file()
    assert data["state"] == "ready"
    parties = data["parties"]
    assert len(parties) == 11
    for party in parties:
        assert pid_alive(party["pid"])
        assert get(party["url"] + "/health", home.root).json()["party"] == party["party"]
    running.proc.send_signal(signal.SIGINT)
    assert running.proc.wait(timeout=120) == 0
    assert wait_gone([p["pid"] for p in parties]) == []
    assert not (home.root / "run" / "network.json").exists()
    running.wait_for("  home: ")  # the summary's last line, after the parties stopped
    # compared without white space: Rich wraps long lines where it likes
    text = _squeeze("".join(running.lines))
    for line in SCENARIO:
        assert _squeeze(line) in text, line
    # what the processes were asked, over mutual TLS and HTTPS
    assert _squeeze("10 of 10 answer ok") in text
    assert _squeeze("agency/tax confirms a person's identity through the processes") in text
    assert _squeeze("municipality, the access record in the log's process first): found, items") in text
    assert _squeeze("entries committed to them") in text
    assert _squeeze("(OCSP over HTTPS) about the card: revoked (cessationOfOperation), revoked") in text
    assert _squeeze("asks the locator directly, skipping T1 and T2: 403") in text
    assert _squeeze("processes: 11 parties, one OS process each") in text
    # the shell exported its own SEKISHO_PASSPHRASE (tests/node/procs.env_for): the demo sealed its keys with it
    from sekisho.auditlog.keys import load_log_signer
    from sekisho.demo import DEMO_PASSPHRASE
    from sekisho.errors import SekishoError

    assert load_log_signer(home, PASSPHRASE.encode()) is not None
    with pytest.raises(SekishoError):
        load_log_signer(home, DEMO_PASSPHRASE)


def _squeeze(text: str) -> str:
    return "".join(text.split())
