"""A `registry import` killed mid-way (SIGKILL, the real command in a subprocess) takes its workers with it: no
worker is left blocked on a pipe or holding the caller's stdout, and the database sees the session end (on
PostgreSQL the killed transaction's table locks go away), so the register is usable at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from procs import HAS_PROC, alive, reaches_eof, wait_children, wait_gone
from sekisho.config import Home
from sekisho.node.registers import create_register
from sekisho.storage import create_engine_for
from sekisho.synth.residents import generate_file

from .conftest import GIFU

pytestmark = pytest.mark.skipif(not HAS_PROC, reason="reads process parents from /proc")

#: generous bound for a slow, shared machine: the workers must go at once, this only catches "never"
BOUND = 60.0


def _env(home: Home) -> dict[str, str]:
    env = dict(os.environ, SEKISHO_HOME=str(home.root))
    if home.db_url:
        env["SEKISHO_DB"] = home.db_url
    if home.namespace:
        env["SEKISHO_DB_NAMESPACE"] = home.namespace
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from sekisho.cli import main; main()", *args]


def _pg(home: Home, sql: str, **params: object) -> set[int]:
    engine = create_engine_for(home.db_url or "")
    try:
        with engine.connect() as conn:
            return {int(pid) for pid in conn.execute(sa.text(sql), params).scalars()}
    finally:
        engine.dispose()


def _holding_locks(home: Home) -> set[int]:
    """Server sessions (backend pids) holding a lock on a table of this test's register."""
    return _pg(
        home,
        "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE :ns AND l.pid <> pg_backend_pid()",
        ns=home.namespace + "%",
    )


def _sessions(home: Home, pids: set[int]) -> set[int]:
    return _pg(home, "SELECT pid FROM pg_stat_activity WHERE pid = ANY(:pids)", pids=list(pids))


@pytest.mark.parametrize("when", ["workers-started", "workers-sending"])
def test_a_killed_import_leaves_no_worker_and_no_lock(home: Home, tmp_path: Path, when: str) -> None:
    create_register(home, GIFU).engine.dispose()
    path = tmp_path / "big.csv"
    generate_file(path, municipality=GIFU, count=12_000, seed=11, as_of=date(2026, 11, 1))
    env = _env(home)
    proc = subprocess.Popen(
        _cli("registry", "import", str(path), "-m", GIFU),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    workers: set[int] = set()
    try:
        workers = wait_children(proc.pid, 2, BOUND)
        assert len(workers) == 2, "the import never started its two workers"
        if when == "workers-sending":
            time.sleep(0.5)  # well into the file: the workers are preparing and sending chunks
        sessions: set[int] = set()
        if home.db_url:  # the import's transaction holds its table locks while the workers prepare
            sessions = _holding_locks(home)
            assert sessions
        assert all(alive(w) for w in workers), "a worker finished before the kill: the file is too small"
        proc.send_signal(signal.SIGKILL)
        proc.wait(BOUND)
        # nothing holds the caller's stdout open (`import … | tee` would hang)
        assert proc.stdout is not None
        assert reaches_eof(proc.stdout.fileno(), BOUND), "the killed import's stdout is still held open"
        assert wait_gone(workers, BOUND), "an import worker outlived its killed parent"
        if home.db_url:
            deadline = time.monotonic() + BOUND
            while _sessions(home, sessions) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _sessions(home, sessions) == set(), "the killed import's session is still open (pg_stat_activity)"
            assert _holding_locks(home) == set()
        # the register answers at once, and nothing of the killed import was written
        search = subprocess.run(
            _cli("registry", "search", "タカハシ", "-m", GIFU, "--json"),
            env=env,
            capture_output=True,
            text=True,
            timeout=BOUND,
            check=False,
        )
        assert search.returncode == 0, search.stderr
        assert search.stdout.strip() == "[]"
    finally:
        for pid in [proc.pid, *workers]:  # only what this test started, by pid
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.stdout is not None:
            proc.stdout.close()
        proc.wait(BOUND)
