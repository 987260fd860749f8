"""A network home set up the way the README sets one up, with the `sekisho` commands a user types, for the tests
that then run the flows against `sekisho up` (tests/node/test_flows_multiprocess.py).

Everything here writes through the command line in processes of its own (no test-only shortcut into a service):
a register of 岐阜市 with a few synthetic residents, the key ceremony, the log and its witness, the pension
agency and the PKI with their approved PIAs, and the residents' cards issued at the counter.  It runs before
`sekisho up`, while no party process holds the log.
"""

from __future__ import annotations

import csv
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sekisho.config import Home

from .procs import env_for, sekisho_cmd

CODE = "212016"
MUNI = f"municipality/{CODE}"
AGENCY = "pension"
PURPOSE = "pension.benefit"
RESIDENTS = 24
AUTH_PIN = "1234"
SIGN_PIN = "PASS2026"
PIAS = Path(__file__).resolve().parents[2] / "src" / "sekisho" / "policy" / "data" / "pias"
#: a generous bound for one command on a loaded 2-core machine (not a measured duration)
COMMAND_TIMEOUT = 300


@dataclass
class Prepared:
    """What the set-up made: handles of residents who are not a household's head, and their cards."""

    home: Home
    handles: list[str] = field(default_factory=list)
    cards: dict[str, Path] = field(default_factory=dict)


def sekisho(
    home: Home, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """One `sekisho` command on ``home`` in a process of its own, as a user runs it."""
    result = subprocess.run(
        sekisho_cmd(*args),  # the home from SEKISHO_HOME
        env={**env_for(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        cwd=home.root,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"sekisho {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


def sekisho_json(home: Home, *args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(sekisho(home, *args, "--json", env=env).stdout)


def prepare(home: Home, *, cards: int = 2) -> Prepared:
    """The README's set-up on ``home``, then ``cards`` residents' cards issued at the counter."""
    out = Prepared(home)
    residents = home.root / "residents.csv"
    sekisho(home, "registry", "init", "-m", CODE)
    sekisho(home, "synth", "residents", "-m", CODE, "-n", str(RESIDENTS), "--seed", "1", "-o", str(residents))
    sekisho(home, "registry", "import", str(residents), "-m", CODE)
    sekisho(home, "network", "init")
    sekisho(home, "log", "init")
    sekisho(home, "registry", "join-network", "-m", CODE)
    for pia, agency in (("pension.yaml", AGENCY), ("pki.yaml", "pki")):
        registered = sekisho_json(home, "agency", "register", "--pia", str(PIAS / pia))
        assert registered["agency"] == agency
        sekisho(home, "pia", "approve", registered["id"], "--by", "watchdog-1")
    sekisho(home, "agency", "create", AGENCY)
    sekisho(home, "pki", "init")
    out.handles = _members(home, residents)
    for handle in out.handles[:cards]:
        path = home.root / f"{handle}.card"
        sekisho(
            home,
            "pki", "issue", "--municipality", CODE, "--handle", handle, "--card-out", str(path),
            env={"SEKISHO_CARD_PIN": AUTH_PIN, "SEKISHO_SIGNING_PIN": SIGN_PIN},
        )  # fmt: skip
        out.cards[handle] = path
    return out


def _members(home: Home, path: Path) -> list[str]:
    """Handles of residents who are not the head of their household (they may move or be enrolled alone)."""
    with path.open(encoding="utf-8", newline="") as f:
        names = {
            row["family_name"] for row in csv.DictReader(f) if row["relationship"] != "世帯主" and row["family_name"]
        }
    handles: list[str] = []
    for name in sorted(names):
        for hit in sekisho_json(home, "registry", "search", name, "-m", CODE):
            if hit["relationship"] != "世帯主" and hit["handle"] not in handles:
                handles.append(hit["handle"])
        if len(handles) >= 5:
            break
    assert len(handles) >= 5, "the synthetic register has too few household members"
    return handles
