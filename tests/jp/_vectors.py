"""Reads the conformance vectors under tests/jp/vectors/ (CSV, ``#`` lines are comments)."""

from __future__ import annotations

import csv
from pathlib import Path

VECTORS = Path(__file__).parent / "vectors"


def rows(name: str) -> list[list[str]]:
    with (VECTORS / name).open(encoding="utf-8") as f:
        return [r for r in csv.reader(line for line in f if not line.startswith("#"))]


def records(name: str) -> list[dict[str, str]]:
    with (VECTORS / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))
