"""The README's commands run as written, in order, on a fresh home (issue 9, item 20).

Each ``sh`` block after "## Using it" is split into command lines and run one by one as a subprocess shell, as a
new user would type them from the checkout.  Placeholders are filled from the preceding commands' ``--json``
output, the way the README tells the reader to: ``H`` from the search's hits, ``TOKEN`` from the move-out.
Long-running commands (``serve``, ``up``) are started, waited for until they say they are ready, and stopped
(``serve`` by SIGTERM, ``up`` by the README's own ``sekisho down``); each must exit 0.  A command added to the
README that does not work fails this test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue

import pytest

from sekisho.config import Home
from sekisho.protocols.handles import parse_handle

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
WAIT = 180.0  # an upper bound for a party to come up on a loaded machine, not a measured duration

pytestmark = pytest.mark.slow


def readme_commands() -> list[str]:
    """The command lines of every ``sh`` block from "## Using it" to the next section."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Using it") :]
    section = section[: section.index("\n## ", 1)]
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        lines += [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]
    return lines


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lines(proc: subprocess.Popen[str]) -> Queue[str]:
    q: Queue[str] = Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            q.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return q


def _wait_for(q: Queue[str], pattern: str, proc: subprocess.Popen[str]) -> str:
    seen: list[str] = []
    while True:
        try:
            line = q.get(timeout=WAIT)
        except Empty:
            proc.kill()
            pytest.fail(f"no line matching {pattern!r}; printed: {''.join(seen)}")
        seen.append(line)
        if re.search(pattern, line):
            return line


class Session:
    """A user's shell: the environment ``export`` and ``activate`` change, and the placeholders learned so far."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env
        self.values: dict[str, str] = {}
        self.background: dict[str, subprocess.Popen[str]] = {}

    def fill(self, line: str) -> str:
        def sub(m: re.Match[str]) -> str:
            name = m.group(0)
            assert name in self.values, f"placeholder {name} used before a command gave it: {line}"
            return self.values[name]

        return re.sub(r"(?<![\w-])(H|TOKEN)(?![\w-])", sub, line.split(" #")[0])

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", line],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert out.returncode == 0, f"README command failed ({out.returncode}): {line}\n{out.stdout}\n{out.stderr}"
        return out

    def step(self, raw: str) -> None:
        if raw == ". .venv/bin/activate":
            # the checkout's virtual environment; here, the one running the tests
            assert (BIN / "sekisho").exists()
            self.env["PATH"] = f"{BIN}{os.pathsep}{self.env['PATH']}"
            return
        line = self.fill(raw)
        if line.startswith("export "):
            for assignment in shlex.split(line)[1:]:
                key, _, value = assignment.partition("=")
                self.env[key] = value
            return
        words = shlex.split(line)
        if words[:2] == ["sekisho", "serve"]:
            self.serve(line)
            return
        if words[:2] == ["sekisho", "up"]:
            self.up(line)
            return
        out = self.run(line)
        if words[:3] == ["sekisho", "registry", "search"]:
            # the README: H is a hit who is not a household's head (with --json: its handle)
            hits = json.loads(self.run(line + " --json").stdout)
            movable = [h for h in hits if h["relationship"] != "世帯主"]
            assert movable, "the README's search finds no resident who can move alone"
            self.values["H"] = movable[0]["handle"]
        if "--json" in words:
            doc = json.loads(out.stdout)
            if isinstance(doc, dict) and "transfer" in doc and doc["transfer"]:
                self.values["TOKEN"] = doc["transfer"]
        if words[:2] == ["sekisho", "down"]:
            up = self.background.pop("up")
            assert up.wait(timeout=WAIT) == 0

    def serve(self, line: str) -> None:
        # a port of its own: the README's fixed port may be taken on a shared test machine
        line = re.sub(r"--port \d+", f"--port {_free_port()}", line)
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {line}"],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = _wait_for(_lines(proc), r"serving \S+ on (https://\S+)", proc)
        url = re.search(r"(https://\S+)", ready)
        assert url
        # every party speaks TLS with a certificate from the organisation CA (`--init` issued it)
        ca = ssl.create_default_context(cafile=str(Path(self.env["SEKISHO_HOME"]) / "run" / "ca.crt"))
        with urllib.request.urlopen(url.group(1) + "/health", timeout=WAIT, context=ca) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT) == 0

    def up(self, line: str) -> None:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {line}"],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _wait_for(_lines(proc), r"^ready: ", proc)
        self.background["up"] = proc

    def close(self) -> None:
        for proc in self.background.values():
            proc.kill()
            proc.wait()


@pytest.fixture
def session(home: Home) -> Iterator[Session]:
    cwd = home.root.parent / "checkout"
    cwd.mkdir()
    # the README's paths are relative to the checkout (the PIAs under src/)
    (cwd / "src").symlink_to(ROOT / "src")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKISHO_")}
    env |= {"SEKISHO_HOME": str(home.root), "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "80", "HOME": str(cwd)}
    if home.db_url:
        env |= {"SEKISHO_DB": home.db_url, "SEKISHO_DB_NAMESPACE": home.namespace}
    s = Session(cwd, env)
    yield s
    s.close()


def test_readme_commands_run_as_written(session: Session) -> None:
    commands = readme_commands()
    # the blocks this test exists for are there (an empty extraction would pass vacuously)
    assert any(c.startswith("sekisho registry move-in") for c in commands)
    assert any(c.startswith("sekisho serve") for c in commands)
    for line in commands:
        session.step(line)
    assert not session.background, "a long-running command was left running"


def test_example_handles_are_valid() -> None:
    """The example handle in the README, the docs and the handle error message passes its own check."""
    texts = [README.read_text(encoding="utf-8"), (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")]
    with pytest.raises(Exception) as exc:
        parse_handle("x")
    texts.append(str(exc.value))
    examples = [h for t in texts for h in re.findall(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{3}\b", t)]
    assert len(examples) >= 3
    for example in examples:
        assert parse_handle(example) == example
