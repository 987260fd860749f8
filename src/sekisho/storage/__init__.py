"""Database engines and migrations, the same code on SQLite and PostgreSQL.

Each bounded context owns its tables (one SQLAlchemy ``MetaData`` in its ``store.py``) and its Alembic
migrations (``sekisho/<context>/migrations``, with a version table of its own), so that a context's storage
can move to another database without touching the others.  A party opens the contexts it runs with
:func:`open_party_db`; only its set-up (``create=True``) may create its database.

Locking on SQLite (WAL): a transaction opened with ``begin()`` — a procedure, which may write — takes the write
lock up front (``BEGIN IMMEDIATE``); a read on ``connect()`` (autobegin) is a plain deferred ``BEGIN``, a snapshot
that never waits for a writer.  A procedure waits at most :data:`BUSY_TIMEOUT` seconds for the write lock.

Every database failure a party cannot act on — busy, damaged, missing, disk full, read-only, server unreachable —
becomes :class:`~sekisho.errors.Unavailable` naming the party, here, once for every engine (``handle_error``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from sekisho.config import Home
from sekisho.errors import InvalidInput, SekishoError, Unavailable

__all__ = ["BUSY_TIMEOUT", "PartyNotSetUp", "create_engine_for", "is_postgres", "migrate", "open_party_db"]

#: seconds a procedure waits for another process's write lock on a SQLite party before it gives up (exit 5);
#: ``SEKISHO_BUSY_TIMEOUT`` overrides it
BUSY_TIMEOUT = 30.0

#: the command that sets each kind of party up (named in "not set up" errors)
_SET_UP_BY = {
    "municipality": "sekisho registry init",
    "t1": "sekisho network init",
    "t2": "sekisho network init",
    "locator": "sekisho network init",
    "log": "sekisho log init",
    "watchdog": "sekisho log init",
    "pki": "sekisho pki init",
    "agency": "sekisho agency create",
}


class PartyNotSetUp(Unavailable):
    """A party's database does not exist here: its set-up command creates it, nothing else does."""

    def __init__(self, party: str, where: str) -> None:
        hint = _SET_UP_BY.get(party.split("/", 1)[0])
        super().__init__(f"has no database {where}" + (f" (run `{hint}` first)" if hint else ""), field=party)
        self.party = party


def _busy_timeout() -> float:
    try:
        value = float(os.environ.get("SEKISHO_BUSY_TIMEOUT", BUSY_TIMEOUT))
    except ValueError:
        raise InvalidInput("must be a number of seconds", field="SEKISHO_BUSY_TIMEOUT") from None
    if not 0 <= value <= 3600:
        raise InvalidInput("must be between 0 and 3600 seconds", field="SEKISHO_BUSY_TIMEOUT")
    return value


# contexts already brought up to date, per engine object: keyed by the engine itself (weakly), not by id() and
# URL — on PostgreSQL every party shares one URL (the schema is a connect argument), and a freed engine's id() is
# reused, which made a new party's engine look migrated and its tables missing
_migrated: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()
_migrate_lock = threading.Lock()


def is_postgres(engine: Engine | sa.Connection) -> bool:
    return engine.dialect.name == "postgresql"


class _SqliteConnection(sa.Connection):
    """Knows whether its transaction began implicitly (a read on ``connect()``) or by ``begin()``."""

    _sekisho_autobegin = False

    def _autobegin(self) -> None:
        self._sekisho_autobegin = True
        try:
            super()._autobegin()
        finally:
            self._sekisho_autobegin = False


def _sqlite_engine(url: sa.URL, party: str) -> Engine:
    timeout = _busy_timeout()
    engine = sa.create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False})
    # SQLAlchemy's own Connection class, subclassed (no public hook tells a read's autobegin from begin())
    engine._connection_cls = _SqliteConnection

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (the documented recipe
        # for correct SAVEPOINT and locking behaviour), and make every commit durable.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if getattr(conn, "_sekisho_autobegin", False):
            # a read: a WAL snapshot, which never waits for (nor blocks) a writer
            conn.exec_driver_sql("BEGIN")
        else:
            # a procedure: IMMEDIATE takes the write lock up front, so two procedures never deadlock upgrading
            # a read lock (an upgrade that finds the lock taken fails at once, without waiting)
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    _map_errors(engine, party, timeout)
    return engine


# primary SQLite result codes (https://sqlite.org/rescode.html) of failures that make a party unavailable
_SQLITE_FAILURES = {
    3: "no permission to use its database",  # SQLITE_PERM
    5: "its database is busy: another process holds its write lock (an import?); waited {timeout:g} s, "
    "try again when it is done",  # SQLITE_BUSY
    6: "its database is locked by another connection; try again",  # SQLITE_LOCKED
    8: "its database is read-only",  # SQLITE_READONLY
    10: "its database could not be read or written (I/O error)",  # SQLITE_IOERR
    11: "its database is damaged (malformed)",  # SQLITE_CORRUPT
    13: "the disk holding its database is full",  # SQLITE_FULL
    14: "its database cannot be opened (missing, or its directory is not accessible)",  # SQLITE_CANTOPEN
    15: "its database is busy (locking protocol); try again",  # SQLITE_PROTOCOL
    26: "its database file is not a SQLite database (damaged or overwritten)",  # SQLITE_NOTADB
}


def _unavailable(orig: BaseException, party: str, timeout: float, is_disconnect: bool) -> Unavailable | None:
    """The one-line error for a driver failure that is the database's, not the caller's; None for the rest."""
    if isinstance(orig, sqlite3.Error):
        rule = _SQLITE_FAILURES.get(getattr(orig, "sqlite_errorcode", -1) & 0xFF)
        return None if rule is None else Unavailable(rule.format(timeout=timeout), field=party)
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return None
    if isinstance(orig, psycopg.errors.ReadOnlySqlTransaction):
        return Unavailable("its database is read-only", field=party)
    if isinstance(orig, psycopg.errors.DiskFull):
        return Unavailable("the disk holding its database is full", field=party)
    if isinstance(orig, psycopg.errors.LockNotAvailable):
        return Unavailable("its database is busy: another session holds a lock it needs", field=party)
    if isinstance(orig, psycopg.OperationalError) and (is_disconnect or not getattr(orig, "sqlstate", None)):
        # no SQLSTATE: the client could not connect (refused, unknown host, bad password, server gone)
        return Unavailable("cannot reach its PostgreSQL server", field=party)
    if isinstance(orig, psycopg.OperationalError) and str(orig.sqlstate).startswith(("08", "53", "57", "58")):
        # connection exception, insufficient resources, operator intervention, system error
        return Unavailable(f"its PostgreSQL server failed ({type(orig).__name__})", field=party)
    return None


def _map_errors(engine: Engine, party: str, timeout: float) -> None:
    @sa.event.listens_for(engine, "handle_error")
    def _on_error(context: sa.engine.ExceptionContext) -> None:
        if context.is_pre_ping:  # the pool handles a dead pooled connection itself
            return
        orig = context.original_exception
        error: SekishoError | None = _unavailable(orig, party, timeout, context.is_disconnect)
        if error is None and type(orig).__module__.startswith("psycopg") and "NUL (0x00)" in str(orig):
            # text PostgreSQL cannot store (SQLite can): the caller's bad input, one rule for every text field
            error = InvalidInput("text may not contain NUL (0x00) characters", field="text")
        if error is not None:
            # the driver's message may quote the statement's parameters (personal data): keep only the chain
            raise error from context.sqlalchemy_exception


#: libpq options every PostgreSQL session of a party starts with
PG_SESSION_UTC = "-c timezone=UTC"


def _postgres_engine(url: sa.URL, schema: str | None, party: str, *, create: bool) -> Engine:
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername != "postgresql+psycopg":
        raise InvalidInput("PostgreSQL is supported through psycopg 3 only (postgresql+psycopg://)", field="db")
    # timestamps come back in UTC whatever the server's TimeZone setting: what a party prints or signs must not
    # depend on where its database server runs
    connect_args: dict[str, Any] = {"options": PG_SESSION_UTC}
    if schema:
        bootstrap = sa.create_engine(url, poolclass=sa.pool.NullPool)
        _map_errors(bootstrap, party, 0)
        try:
            with bootstrap.begin() as conn:
                if create:
                    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                elif not conn.execute(
                    sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"), {"s": schema}
                ).scalar():
                    raise PartyNotSetUp(party, f"in this PostgreSQL database (no schema {schema})")
        except sa.exc.IntegrityError:
            pass  # a concurrent CREATE SCHEMA IF NOT EXISTS won the race
        finally:
            bootstrap.dispose()
        # every connection of this party sees only its own schema
        connect_args["options"] += f" -c search_path={schema}"
    engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    _map_errors(engine, party, 0)
    return engine


def create_engine_for(url: str, *, schema: str | None = None, party: str = "db", create: bool = True) -> Engine:
    """An engine on ``url``; failures of the database name ``party``.  ``create=False``: the SQLite file or the
    PostgreSQL schema must exist already (it is opened, never made)."""
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            return _sqlite_engine(_sqlite_url(parsed, party, create=create), party)
        if backend == "postgresql":
            parsed.port  # noqa: B018  (a bad port is found here, not at the first connection)
            return _postgres_engine(parsed, schema, party, create=create)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise InvalidInput("not a SQLAlchemy database URL", field="db") from exc
    raise InvalidInput("only sqlite:/// and postgresql+psycopg:// databases are supported", field="db")


def _sqlite_url(url: sa.URL, party: str, *, create: bool) -> sa.URL:
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:") or url.query.get("uri"):
        return url  # an in-memory database, or a URI the caller wrote itself
    path = Path(database)
    if not create:
        if not path.is_file():
            raise PartyNotSetUp(party, f"at {path}")
    elif not path.parent.is_dir():
        raise InvalidInput("names a SQLite file in a directory that does not exist", field="db")
    else:
        return url
    # mode=rw: SQLite itself never creates the file (it may vanish between this check and a connection)
    return url.set(database=f"file:{path.as_posix()}?mode=rw", query={**url.query, "uri": "true"})


def migrate(engine: Engine, context: str) -> None:
    """Bring one context's tables to the newest migration (idempotent, cheap when already current).

    The version is read first in a snapshot: a database that is current is never write-locked, so opening a
    party does not wait for another process's long write (an import)."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with _migrate_lock:
        done = _migrated.setdefault(engine, set())
        if context in done:
            return
        cfg = Config()
        cfg.set_main_option("script_location", f"sekisho.{context}:migrations")
        heads = set(ScriptDirectory.from_config(cfg).get_heads())
        with engine.connect() as conn:
            version = MigrationContext.configure(conn, opts={"version_table": f"alembic_version_{context}"})
            current = set(version.get_current_heads())
        if current != heads:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                cfg.attributes["context"] = context
                command.upgrade(cfg, "head")
        done.add(context)


def open_party_db(home: Home, party: str, contexts: Iterable[str], *, create: bool = False) -> Engine:
    """The engine of one party's database, migrated for the contexts that party runs.

    Only the party's set-up passes ``create=True``: every other command opens a database that exists, and a
    party that was never set up (or whose directory is gone) is :class:`PartyNotSetUp`, with nothing created.
    """
    if create and not home.db_url:
        home.party_dir(party, create=True)
    engine = create_engine_for(home.party_db_url(party), schema=home.party_schema(party), party=party, create=create)
    try:
        for context in contexts:
            migrate(engine, context)
    except BaseException:
        engine.dispose()
        raise
    return engine
