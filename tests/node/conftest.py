"""Fixtures for networks of real processes (see procs.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from sekisho.config import Home

from .procs import PG_URL


@pytest.fixture(scope="module")
def net_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    namespace = f"t{uuid.uuid4().hex[:10]}_" if PG_URL else ""
    home = Home(root=tmp_path_factory.mktemp("node") / "home", db_url=PG_URL, namespace=namespace)
    home.root.mkdir()
    yield home
    if PG_URL:
        engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            for schema in list(
                conn.execute(
                    sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": namespace + "%"}
                ).scalars()
            ):
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()
