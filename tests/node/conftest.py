"""Fixtures for networks of real processes (see procs.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from homes import drop_namespace, new_namespace
from sekisho.config import Home

from .procs import PG_URL


@pytest.fixture(scope="module")
def net_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    namespace = new_namespace()
    home = Home(root=tmp_path_factory.mktemp("node") / "home", db_url=PG_URL, namespace=namespace)
    home.root.mkdir()
    yield home
    drop_namespace(namespace)
