"""Helpers for tests of real processes: `sekisho up` and `sekisho serve` as a user starts them, over real sockets."""

from __future__ import annotations

import json
import os
import queue
import signal
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from sekisho.config import Home

PG_URL = os.environ.get("SEKISHO_TEST_DB") or None
PASSPHRASE = "node-test-passphrase"
#: generous: a loaded 2-core machine starts a dozen Python processes slowly
START_TIMEOUT = 240.0


def sekisho_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from sekisho.cli import main; main()", *args]


@dataclass
class Running:
    """A `sekisho up` or `sekisho serve` process and what it printed."""

    proc: subprocess.Popen[str]
    home: Home
    env: dict[str, str]
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def start_reading(self) -> None:
        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, prefix: str, timeout: float = START_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None or time.monotonic() > deadline:
                err = self.proc.stderr.read() if self.proc.stderr and line is None else ""
                pytest.fail(f"no line starting {prefix!r}; printed: {''.join(self.lines)} {err}")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def run_file(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.home.root / "run" / "network.json").read_text())
        return data

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def wait_gone(pids: list[int], timeout: float = 60.0) -> list[int]:
    """The PIDs still alive after ``timeout`` seconds (bounded wait, polled)."""
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if pid_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if pid_alive(p)]
    return alive


def ca_context(root: Path) -> ssl.SSLContext:
    """Trusts the organisation CA `sekisho up` wrote under ``root``; presents no client certificate."""
    return ssl.create_default_context(cafile=str(root / "run" / "ca.crt"))


def get(url: str, root: Path) -> httpx.Response:
    """A GET without a client certificate (the public paths: /health, the PKI's, the log's, the watchdog's)."""
    return httpx.get(url, timeout=10.0, trust_env=False, verify=ca_context(root))


def party_client(root: Path, party: str, peer: str, *, signed: bool = False) -> httpx.Client:
    """A client as ``party`` (its certificate from the home) to ``peer`` (its address from the run file)."""
    from sekisho.node.transport import Peers

    return Peers(root, party).client(peer, signed=signed)


def env_for(home: Home) -> dict[str, str]:
    env = dict(os.environ)
    env["SEKISHO_PASSPHRASE"] = PASSPHRASE
    env["SEKISHO_HOME"] = str(home.root)
    env.pop("SEKISHO_DB", None)
    if home.db_url:
        env["SEKISHO_DB"] = home.db_url  # `up` takes it as its --db-url-template
        env["SEKISHO_DB_NAMESPACE"] = home.namespace
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def start(home: Home, *args: str, extra_env: dict[str, str] | None = None) -> Running:
    env = {**env_for(home), **(extra_env or {})}
    proc = subprocess.Popen(
        sekisho_cmd(*args, "--home", str(home.root)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    running = Running(proc, home, env)
    running.start_reading()
    return running
