"""Kill the appending process at random points (SIGKILL, a real subprocess), restart, verify: nothing that was
acknowledged is lost, there is no gap and no duplicate, and the tree still verifies."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from sekisho.auditlog.service import LogService
from sekisho.auditlog.witness import Witness
from sekisho.config import Home
from sekisho.transparency import merkle

from .conftest import checkpoint_and_witness

CHILD = Path(__file__).with_name("crash_child.py")


def test_kill_restart_verify(log_home: Home, log_service: LogService, witness: Witness, tmp_path: Path) -> None:
    ack_file = tmp_path / "acks"
    rng = random.Random(os.getpid())
    args = [str(log_home.root), log_home.db_url or "-", log_home.namespace, str(ack_file)]
    for _ in range(4):
        child = subprocess.Popen(
            [sys.executable, str(CHILD), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "ready\n", child.stderr.read() if child.stderr else ""
        time.sleep(rng.uniform(0.05, 0.6))
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        # a checkpoint between crashes: the log after the next crash must still extend it
        checkpoint_and_witness(log_service, witness)

    acked: dict[int, str] = {}
    for line in ack_file.read_text().splitlines():
        index, leaf = line.split()
        assert acked.setdefault(int(index), leaf) == leaf, "one index acknowledged for two entries"
    assert len(acked) > 20, "the children appended almost nothing"
    with log_service.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT idx, leaf_hash, entry FROM log_leaf ORDER BY idx")).all()
    stored = {int(r[0]): bytes(r[1]) for r in rows}
    # no gap: indices are exactly 0..n-1
    assert sorted(stored) == list(range(len(stored)))
    # nothing acknowledged was lost (or changed)
    for index, leaf in acked.items():
        assert stored[index].hex() == leaf
    # no duplicate: every entry is distinct (each has a fresh record id and nonce)
    assert len({bytes(r[2]) for r in rows}) == len(rows)
    assert all(merkle.hash_leaf(bytes(r[2])) == bytes(r[1]) for r in rows)
    report = log_service.verify(check_entries=True)
    assert report.size == len(rows)
    assert report.checkpoints >= 1
