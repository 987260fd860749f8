"""Throw-away homes for tests: on PostgreSQL a home's parties' schemas carry a prefix unique to it, dropped when
the test ends (on SQLite the files go with the temporary directory)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from sekisho.config import Home
from sekisho.storage import create_engine_for

PG_URL = os.environ.get("SEKISHO_TEST_DB") or None


def new_namespace() -> str:
    return f"t{uuid.uuid4().hex[:10]}_" if PG_URL else ""


def drop_namespace(namespace: str) -> None:
    """Drop every PostgreSQL schema whose name starts with ``namespace`` (nothing on SQLite)."""
    if not PG_URL or not namespace:
        return
    engine = create_engine_for(PG_URL)
    with engine.begin() as conn:
        schemas = conn.execute(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": namespace + "%"}
        ).scalars()
        for schema in list(schemas):
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    engine.dispose()


@contextlib.contextmanager
def session_home(root: Path, passphrase: bytes) -> Iterator[Home]:
    """A throw-away home at ``root`` (its own PostgreSQL schemas when the suite runs on PostgreSQL) with
    ``SEKISHO_PASSPHRASE`` set for the parties' key files meanwhile; both undone afterwards."""
    old = os.environ.get("SEKISHO_PASSPHRASE")
    os.environ["SEKISHO_PASSPHRASE"] = passphrase.decode()
    namespace = new_namespace()
    home = Home(root=root, db_url=PG_URL, namespace=namespace)
    home.root.mkdir()
    try:
        yield home
    finally:
        if old is None:
            os.environ.pop("SEKISHO_PASSPHRASE", None)
        else:
            os.environ["SEKISHO_PASSPHRASE"] = old
        drop_namespace(namespace)
