"""sekisho.wire is shared by every party, so it imports no party package — neither at module level (checked on the
real import graph, in a fresh interpreter) nor inside a function (checked on the source)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import sekisho.wire

PARTIES = ("registry", "policy", "pki", "auditlog", "agency", "locator", "pseudonyms")
ALLOWED = {"sekisho", "sekisho.errors", "sekisho.config", "sekisho.problems"}


def test_wire_loads_no_party_package() -> None:
    code = (
        "import sys, sekisho.wire.guard, sekisho.wire.tls, sekisho.wire.signatures, sekisho.wire.ratelimit;"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('sekisho'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert loaded, "nothing was imported"
    foreign = [m for m in loaded if not m.startswith("sekisho.wire") and m not in ALLOWED]
    assert foreign == []


def test_wire_source_names_no_party_package() -> None:
    imported: list[str] = []
    for path in Path(sekisho.wire.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.append(node.module)
    assert any(m.startswith("sekisho.wire") for m in imported)
    assert [m for m in imported if m.split(".")[:2] in [["sekisho", p] for p in PARTIES]] == []
