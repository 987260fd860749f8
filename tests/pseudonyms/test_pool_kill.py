"""The process pool that makes PPs in bulk (`registry join-network`, imports into a joined register) dies with
the process that started it: SIGKILLed, its pool workers would otherwise wait on the pool's queue for ever,
holding copies of its open files and database connections."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from procs import HAS_PROC, alive, wait_children, wait_gone

pytestmark = pytest.mark.skipif(not HAS_PROC, reason="reads process parents from /proc")

BOUND = 60.0

_CHILD = """
import os
from sekisho.pep.flows import new_polymorphic_pseudonyms_batch
from sekisho.pep.operations import person_point
key = person_point(os.urandom(32))  # any point serves as a public key here
new_polymorphic_pseudonyms_batch([os.urandom(32) for _ in range(200_000)], key, workers=2)
"""


def test_pool_workers_die_with_a_killed_parent() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        workers = wait_children(proc.pid, 2, BOUND)
        assert len(workers) == 2, "the pool never started"
        proc.send_signal(signal.SIGKILL)
        proc.wait(BOUND)
        assert wait_gone(workers, BOUND), "a pool worker outlived its killed parent"
    finally:
        for pid in [proc.pid, *workers]:  # only what this test started, by pid
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait(BOUND)
