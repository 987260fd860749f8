"""Database engines and migrations, the same code on SQLite and PostgreSQL.

Each bounded context owns its tables (one SQLAlchemy ``MetaData`` in its ``store.py``) and its Alembic
migrations (``sekisho/<context>/migrations``, with a version table of its own), so that a context's storage
can move to another database without touching the others.  A party opens the contexts it runs with
:func:`open_party_db`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from sekisho.config import Home
from sekisho.errors import InvalidInput, Unavailable

__all__ = ["create_engine_for", "is_postgres", "migrate", "open_party_db"]

# contexts already brought up to date, per engine object: keyed by the engine itself (weakly), not by id() and
# URL — on PostgreSQL every party shares one URL (the schema is a connect argument), and a freed engine's id() is
# reused, which made a new party's engine look migrated and its tables missing
_migrated: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()
_migrate_lock = threading.Lock()


def is_postgres(engine: Engine | sa.Connection) -> bool:
    return engine.dialect.name == "postgresql"


def _sqlite_engine(url: sa.URL) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (the documented recipe
        # for correct SAVEPOINT and locking behaviour), and make every commit durable.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front: two procedures never deadlock upgrading a read lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


#: libpq options every PostgreSQL session of a party starts with
PG_SESSION_UTC = "-c timezone=UTC"


def _postgres_engine(url: sa.URL, schema: str | None) -> Engine:
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername != "postgresql+psycopg":
        raise InvalidInput("PostgreSQL is supported through psycopg 3 only (postgresql+psycopg://)", field="db")
    # timestamps come back in UTC whatever the server's TimeZone setting: what a party prints or signs must not
    # depend on where its database server runs
    connect_args: dict[str, Any] = {"options": PG_SESSION_UTC}
    if schema:
        # every connection of this party sees only its own schema
        connect_args["options"] += f" -c search_path={schema}"
        bootstrap = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with bootstrap.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        except sa.exc.OperationalError as exc:
            raise Unavailable("cannot connect to the PostgreSQL server", field="db") from exc
        except sa.exc.IntegrityError:
            pass  # a concurrent CREATE SCHEMA IF NOT EXISTS won the race
        finally:
            bootstrap.dispose()
    return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def create_engine_for(url: str, *, schema: str | None = None) -> Engine:
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise InvalidInput("not a SQLAlchemy database URL", field="db") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        return _postgres_engine(parsed, schema)
    raise InvalidInput("only sqlite:/// and postgresql+psycopg:// databases are supported", field="db")


def migrate(engine: Engine, context: str) -> None:
    """Bring one context's tables to the newest migration (idempotent, cheap when already current)."""
    from alembic import command
    from alembic.config import Config

    with _migrate_lock:
        done = _migrated.setdefault(engine, set())
        if context in done:
            return
        cfg = Config()
        cfg.set_main_option("script_location", f"sekisho.{context}:migrations")
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            cfg.attributes["context"] = context
            command.upgrade(cfg, "head")
        done.add(context)


def open_party_db(home: Home, party: str, contexts: Iterable[str]) -> Engine:
    """The engine of one party's database, migrated for the contexts that party runs."""
    engine = create_engine_for(home.party_db_url(party), schema=home.party_schema(party))
    for context in contexts:
        migrate(engine, context)
    return engine
