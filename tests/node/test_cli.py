"""`sekisho serve/up/status/down` refuse what they cannot do with one line and the error's exit code."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sekisho.config import Home

from .procs import env_for, sekisho_cmd


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sekisho_cmd(*args, "--home", str(home)),
        env=env_for(Home(root=home)),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_input_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = run(home, "serve", "municipality", "--name", "212017")  # wrong check digit
    assert out.returncode == 2
    assert "check digit" in out.stderr
    out = run(home, "serve", "registry")
    assert out.returncode == 2
    out = run(home, "up", "--municipalities", "212016,212016")
    assert out.returncode == 2
    assert not home.exists()


def test_status_and_down_without_a_network_say_so(tmp_path: Path) -> None:
    for command in ("status", "down"):
        out = run(tmp_path, command)
        assert out.returncode == 5
        assert "no network is running" in out.stderr
