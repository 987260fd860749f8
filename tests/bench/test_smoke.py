"""Every benchmark in bench/ runs, at a tiny size, on every ``make test`` (on SQLite, and on PostgreSQL in the
PostgreSQL pass): ``make bench`` once stopped at bench/pki.py on an API that had changed months before, and no
later benchmark ran.  Only that each one finished and printed its ratio line is asserted, never a figure: timings
belong to ``make bench`` and docs/benchmarks.md, not to tests."""

from __future__ import annotations

import math
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sekisho

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("SEKISHO_TEST_DB") or None
DB = "PostgreSQL" if PG_URL else "SQLite"

# the line(s) of each benchmark's report that carry its ratio (ours ÷ baseline measured in the same run), on DB;
# a new benchmark fails here until its ratio line is named
RATIO_LINES: dict[str, list[str]] = {
    "auditlog": [
        rf"^durable appends, .*/s = (?P<ratio>\d+\.\d+) x {'binary COPY' if PG_URL else 'executemany'}",
        rf"^durable appends over HTTP .*/s = (?P<ratio>\d+\.\d+) x {'binary COPY' if PG_URL else 'executemany'}",
        rf"^durable appends over HTTP, .* POST /append/batch .*/s = (?P<ratio>\d+\.\d+) x "
        rf"{'binary COPY' if PG_URL else 'executemany'}",
    ],
    "certificates": [
        rf"^certificate of residence, PDF \(PAdES B-LT\), {DB}\s.*vs raw (?P<ratio>\d+\.\d\d)",
        rf"^certificate of residence, JSON \(JWS\), {DB}\s.*vs raw (?P<ratio>\d+\.\d\d)",
    ],
    "confirmation": [
        rf"^confirmations/s, singles, {DB} = (?P<ratio>\d+\.\d+) x bound$",
        rf"^confirmations/s, batches of \d+, {DB} = (?P<ratio>\d+\.\d\d) x bound$",
    ],
    "credentials_anon": [
        r"^anon\.present\s.*ratio (?P<ratio>\d+\.\d\d)",
        r"^anon\.verify\s.*ratio (?P<ratio>\d+\.\d\d)",
        r"^card logins/s, full .*ratio (?P<ratio>\d+\.\d+)$",
        r"^card logins/s, pseudonym path only .*ratio (?P<ratio>\d+\.\d\d)$",
    ],
    "credentials": [
        r"^SD-JWT VC issuance, batch of 20 .*vs raw (?P<ratio>\d+\.\d\d)",
        r"^SD-JWT VC presentation, .*vs raw (?P<ratio>\d+\.\d\d)",
        r"^SD-JWT VC verification .*vs raw (?P<ratio>\d+\.\d\d)",
    ],
    "enrolment": [rf"^enrolments/s end to end, 1 process, {DB}\s.*\s(?P<ratio>\d+\.\d\d)$"],
    "frames": [r"^batch of 100, encode \+ decode: base64-in-JSON / frame = (?P<ratio>\d+\.\d\d)$"],
    "network": [
        rf"^confirmations/s, singles, {DB} = (?P<ratio>\d+\.\d\d) x bare chain requests/s$",
        rf"^confirmations/s, batches of \d+, {DB} = (?P<ratio>\d+\.\d\d) x bare chain requests/s$",
    ],
    "pki": [
        r"^OCSP response \(parse \+ status \+ build \+ sign\)\s.*vs raw sign (?P<ratio>\d+\.\d\d)",
        rf"^issuance\.issue, authentication \({DB}, .*vs raw sign (?P<ratio>\d+\.\d\d)",
        rf"^status\.ocsp_respond \({DB}, .*vs raw sign (?P<ratio>\d+\.\d\d)",
    ],
    "pseudonyms": [rf"^conversions/s, 1 core, services on {DB}\s.*\s(?P<ratio>\d+\.\d\d)$"],
    "register_import": [rf"^{DB}\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+(?P<ratio>\d+\.\d\d)$"],
}


def _benchmarks() -> list[str]:
    # the same discovery as `python -m bench` (bench/__main__.py)
    return sorted(m.name for m in pkgutil.iter_modules([str(ROOT / "bench")]) if not m.name.startswith("_"))


def test_every_benchmark_is_smoke_tested() -> None:
    assert _benchmarks(), "no benchmarks found in bench/"
    assert sorted(RATIO_LINES) == _benchmarks(), "name each benchmark's ratio line in RATIO_LINES"


@pytest.mark.slow
@pytest.mark.parametrize("name", _benchmarks())
def test_benchmark_runs_at_a_tiny_size(name: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKISHO_")}
    env.update(
        # the sekisho this test runs against (a worktree's src, or the installed one), and the bench package
        PYTHONPATH=os.pathsep.join([str(Path(sekisho.__file__).resolve().parents[1]), str(ROOT)]),
        TMPDIR=str(tmp_path),  # every file a benchmark makes, this test's to remove
    )
    if PG_URL:
        env["SEKISHO_PG_URL"] = PG_URL
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard only, far above a tiny run on a loaded machine
        check=False,
    )
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    assert f"(bench/{name}.py took " in result.stdout, report
    lines = result.stdout.splitlines()
    for pattern in RATIO_LINES.get(name, []):
        found = [m for m in (re.search(pattern, line) for line in lines) if m]
        assert found, f"no line matches {pattern!r}\n{report}"
        assert all(math.isfinite(float(m["ratio"])) for m in found)
    assert "Traceback" not in result.stderr, report
