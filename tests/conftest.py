"""Shared fixtures.  Every test that touches a database runs on SQLite by default and on PostgreSQL when
``SEKISHO_TEST_DB`` holds a PostgreSQL URL (``make test`` runs the suite both ways; see scripts/with-postgres).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from homes import drop_namespace, new_namespace
from sekisho.config import Home

PG_URL = os.environ.get("SEKISHO_TEST_DB") or None


def pytest_report_header(config: pytest.Config) -> str:
    return f"sekisho database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite (files per party)'}"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    """A fresh network home; on PostgreSQL its parties' schemas are unique to this test and dropped after."""
    namespace = new_namespace()
    h = Home(root=tmp_path / "home", db_url=PG_URL, namespace=namespace)
    h.root.mkdir()
    yield h
    drop_namespace(namespace)


@pytest.fixture
def on_postgres() -> bool:
    return PG_URL is not None


def _hypothesis_profiles() -> None:
    from hypothesis import Phase, settings

    # hypothesis' own defaults (also on CI, where hypothesis would otherwise load its "ci" profile), without the
    # 200 ms deadline per example: on a slow, shared machine any example can stall past it, and that fails the test
    # (DeadlineExceeded, or "Unreliable test timings" when the replay is fast).  No test here asserts a duration.
    sekisho = settings(settings.get_profile("default"), deadline=None)
    settings.register_profile("sekisho", sekisho)
    # HYPOTHESIS_PROFILE=debug: report the first failure without spending minutes shrinking it
    settings.register_profile("debug", sekisho, phases=[Phase.explicit, Phase.reuse, Phase.generate], print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "sekisho"))


_hypothesis_profiles()
