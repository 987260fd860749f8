"""Durable sequencing with group commit: many appenders, one writer, one transaction per batch.

An append is acknowledged only after the transaction holding it has committed (``synchronous=FULL`` on SQLite,
PostgreSQL's default ``synchronous_commit=on``), so an acknowledged entry survives a crash.  A batch is one
transaction — leaves by binary ``COPY`` (PostgreSQL) or ``executemany`` (SQLite), plus the tiles the batch
completes — so a crash mid-batch leaves the log as it was before the batch: no gap, no duplicate.  Indices are
assigned by the writer from the committed size, so they are dense and in commit order.

Why it is fast: the writer is a coroutine on the appenders' own event loop.  While one batch is in the database
(COPY, then the commit's fsync) the loop runs the appenders, which queue the next batch; so the batch grows with
the load and each entry costs a future, a SHA-256 and a COPY row, with no thread handoff and no GIL contention.
Threads (and code without an event loop) append through the same writer: :meth:`Sequencer.start_in_thread`
gives it a private loop, and :meth:`Sequencer.append` blocks on it.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import hashlib
import threading
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from sekisho.auditlog import store
from sekisho.errors import Conflict, SekishoError, Unavailable
from sekisho.storage import PG_SESSION_UTC
from sekisho.transparency.log import AppendReceipt
from sekisho.transparency.tiles import TILE_WIDTH, TileState, level_count

_sha256 = hashlib.sha256
_ADVISORY_LOCK = "SELECT pg_try_advisory_lock(hashtext('sekisho.auditlog.sequencer:' || current_schema()))"


def load_state(conn: sa.Connection, size: int) -> TileState:
    """The partial tile of every level of a tree of ``size`` leaves, from the stored leaves and tiles."""
    partials: list[list[bytes]] = []
    level = 0
    while level_count(size, level) > 0:
        count = level_count(size, level)
        start = (count // TILE_WIDTH) * TILE_WIDTH
        if level == 0:
            partials.append(store.leaf_hashes(conn, start, count))
        else:
            partials.append(store.tile_roots(conn, level - 1, start, count))
        level += 1
    return TileState(size, partials)


def _load(engine: Engine) -> TileState:
    try:
        with engine.connect() as conn:
            return load_state(conn, store.log_size(conn))
    except sa.exc.OperationalError as exc:
        raise Unavailable("cannot reach the log database", field="db") from exc


# --- backends: how one batch reaches the database ----------------------------------------------------------


class ForeignAppend(Conflict):
    """Another writer appended to the log since this one read its state (on SQLite, where nothing but the write
    lock keeps a second writer out: e.g. a command run on the home while the log's own process serves it)."""


class _SqliteBackend:
    """executemany in one ``BEGIN IMMEDIATE`` transaction, on a thread of its own (sqlite3 blocks)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="auditlog-sqlite")
        self._conn: sa.Connection | None = None

    async def open(self) -> None:
        pass

    def _write(self, start: int, hashes: list[bytes], entries: list[bytes], tiles: list[store.Tile]) -> None:
        if self._conn is None:
            self._conn = self._engine.connect()
        conn = self._conn
        try:
            with conn.begin():
                # BEGIN IMMEDIATE holds the write lock: check that nobody else appended since the state was read
                top = conn.exec_driver_sql("SELECT max(idx) FROM log_leaf").scalar()
                if (0 if top is None else top + 1) != start:
                    raise ForeignAppend("another process appended to this log", field="log")
                store.write_batch_sqlite(conn.connection.dbapi_connection, start, hashes, entries, tiles)
        except (sa.exc.OperationalError, Unavailable) as exc:
            conn.close()
            self._conn = None
            if isinstance(exc, Unavailable):  # already named the party and the rule (sekisho.storage)
                raise
            raise Unavailable("the log database refused the append", field="db") from exc

    async def write(self, start: int, hashes: list[bytes], entries: list[bytes], tiles: list[store.Tile]) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._write, start, hashes, entries, tiles)

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._pool, _close)
        self._pool.shutdown(wait=True)


class _PostgresBackend:
    """Binary COPY on an asyncio psycopg connection (taken through SQLAlchemy's asyncio engine)."""

    def __init__(self, engine: Engine) -> None:
        with engine.connect() as conn:
            search_path = conn.exec_driver_sql("SHOW search_path").scalar()
        self._aengine = create_async_engine(
            engine.url,
            connect_args={"options": f"{PG_SESSION_UTC} -c search_path={search_path}"},
            poolclass=sa.pool.NullPool,
        )
        self._conn: AsyncConnection | None = None

    async def open(self) -> None:
        if self._conn is not None:
            return
        try:
            conn = await self._aengine.connect()
        except sa.exc.OperationalError as exc:
            raise Unavailable("cannot reach the log database", field="db") from exc
        # one writer per log: a second sequencer would race for the same indices
        if not (await conn.exec_driver_sql(_ADVISORY_LOCK)).scalar():
            await conn.close()
            raise Conflict("another process is already appending to this log", field="log")
        await conn.commit()
        self._conn = conn

    async def write(self, start: int, hashes: list[bytes], entries: list[bytes], tiles: list[store.Tile]) -> None:
        await self.open()
        conn = self._conn
        assert conn is not None
        try:
            # the psycopg connection under SQLAlchemy's: its own BEGIN (implicit) and COMMIT cost one round trip
            # less than SQLAlchemy's asyncio transaction
            raw: Any = (await conn.get_raw_connection()).driver_connection
            async with raw.cursor() as cur:
                async with cur.copy(store.PG_COPY_LEAVES) as copy:
                    copy.set_types(["int8", "bytea", "bytea"])
                    # format rows with the (C) formatter and await only when a 32 KiB chunk is ready: the same
                    # bytes as copy.write_row, without a coroutine per row
                    fmt = copy.formatter
                    for row in zip(range(start, start + len(entries)), hashes, entries, strict=True):
                        if chunk := fmt.write_row(row):
                            await copy.write(chunk)
                if tiles:
                    await cur.executemany(store.PG_INSERT_TILE, tiles)
            await raw.commit()
        except Exception as exc:
            # the connection may be gone (or the commit's outcome unknown): start again from a new one
            await self._drop()
            if isinstance(exc, SekishoError):
                raise
            raise Unavailable("the log database refused the append", field="db") from exc

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken: closing is best effort
                await conn.close()

    async def close(self) -> None:
        await self._drop()
        await self._aengine.dispose()


# --- the sequencer ---------------------------------------------------------------------------------------

#: sequencers running on threads of their own, stopped at interpreter exit if their owner did not close them:
#: a daemon thread killed at exit would leave its loop's writer task pending ("Task was destroyed but it is
#: pending!" on stderr after a command that appended)
_THREADED: set[Sequencer] = set()
_THREADED_LOCK = threading.Lock()


@atexit.register
def _close_threaded() -> None:
    with _THREADED_LOCK:
        running = list(_THREADED)
    for seq in running:
        with contextlib.suppress(Exception):  # exiting anyway: every append was awaited by its caller
            seq.close()


_Pending = list[tuple[bytes, "asyncio.Future[AppendReceipt]"]]
_PendingMany = list[tuple[Sequence[bytes], "asyncio.Future[list[AppendReceipt]]"]]


class Sequencer:
    """One writer per log.  Create with :meth:`start_here` (inside an event loop) or :meth:`start_in_thread`."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop, thread: threading.Thread | None) -> None:
        self._engine = engine
        self.loop = loop
        self._thread = thread
        self._backend: _PostgresBackend | _SqliteBackend = (
            _PostgresBackend(engine) if engine.dialect.name == "postgresql" else _SqliteBackend(engine)
        )
        self._state = TileState()
        self._pending: _Pending = []
        self._pending_many: _PendingMany = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        #: committed batches and entries since start (the benchmark reports the mean batch)
        self.batches = 0
        self.entries = 0

    @classmethod
    async def start_here(cls, engine: Engine) -> Sequencer:
        """A sequencer whose writer runs on the current event loop (a server, an asyncio benchmark)."""
        seq = cls(engine, asyncio.get_running_loop(), None)
        await seq._start()
        return seq

    @classmethod
    def start_in_thread(cls, engine: Engine) -> Sequencer:
        """A sequencer with a private event loop in a daemon thread, for blocking callers."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="auditlog-sequencer", daemon=True)
        thread.start()
        try:
            seq = asyncio.run_coroutine_threadsafe(cls._create(engine, loop, thread), loop).result()
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            raise
        with _THREADED_LOCK:
            _THREADED.add(seq)
        return seq

    @classmethod
    async def _create(cls, engine: Engine, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> Sequencer:
        seq = cls(engine, loop, thread)
        await seq._start()
        return seq

    async def _start(self) -> None:
        await self._backend.open()
        # read the committed state only once this writer holds the log (the advisory lock on PostgreSQL)
        self._state = await self.loop.run_in_executor(None, _load, self._engine)
        self._task = self.loop.create_task(self._run())

    # --- appenders ---

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    async def append_async(self, entry: bytes) -> AppendReceipt:
        """Append one entry; resolves when it is durable."""
        if not self._on_loop():
            fut = asyncio.run_coroutine_threadsafe(self.append_async(entry), self.loop)
            return await asyncio.wrap_future(fut)
        return await self.submit(entry)

    def submit(self, entry: bytes) -> asyncio.Future[AppendReceipt]:
        """Queue one entry from the sequencer's own loop; the future resolves when it is durable.

        (A plain function returning the future: the hot path then costs one coroutine frame, the caller's.)
        """
        if self._closing:
            raise Unavailable("the log is shutting down", field="log")
        fut: asyncio.Future[AppendReceipt] = self.loop.create_future()
        self._pending.append((entry, fut))
        self._wake.set()
        return fut

    async def append_many_async(self, entries: Sequence[bytes]) -> list[AppendReceipt]:
        """Append entries with consecutive indices, in one transaction."""
        if not self._on_loop():
            fut = asyncio.run_coroutine_threadsafe(self.append_many_async(entries), self.loop)
            return await asyncio.wrap_future(fut)
        if self._closing:
            raise Unavailable("the log is shutting down", field="log")
        if not entries:
            return []
        fut_: asyncio.Future[list[AppendReceipt]] = self.loop.create_future()
        self._pending_many.append((list(entries), fut_))
        self._wake.set()
        return await fut_

    def append(self, entry: bytes) -> AppendReceipt:
        """Append one entry from a thread; block until it is durable."""
        self._not_on_loop()
        return asyncio.run_coroutine_threadsafe(self.append_async(entry), self.loop).result()

    def append_many(self, entries: Sequence[bytes]) -> list[AppendReceipt]:
        self._not_on_loop()
        return asyncio.run_coroutine_threadsafe(self.append_many_async(entries), self.loop).result()

    def _not_on_loop(self) -> None:
        if self._on_loop():
            raise Conflict("a blocking append inside the log's event loop would deadlock; await it", field="log")

    @property
    def size(self) -> int:
        """The committed size (every index below it is durable)."""
        return self._state.size

    def root(self) -> tuple[int, bytes]:
        state = self._state  # replaced, never mutated, after a commit: a consistent snapshot
        return state.size, state.root()

    async def aclose(self) -> None:
        """Finish the queued appends, then stop (call on the sequencer's loop)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self._backend.close()

    def close(self) -> None:
        if self._on_loop():
            raise Conflict("close a sequencer from its loop with `await aclose()`", field="log")
        with _THREADED_LOCK:
            _THREADED.discard(self)
        if self.loop.is_closed() or not self.loop.is_running():
            return  # its loop has ended: nothing is queued any more (every append awaited on that loop)
        asyncio.run_coroutine_threadsafe(self.aclose(), self.loop).result()
        if self._thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()

    # --- the writer ---

    async def _run(self) -> None:
        while True:
            if not self._pending and not self._pending_many:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            # Everything queued goes into one batch.  (Splitting bursts into two alternating halves, so that one
            # half is validated and queued while the other commits, measured slower on two shared cores: the
            # database needs the other core during the commit.)
            singles, self._pending = self._pending, []
            manys, self._pending_many = self._pending_many, []
            entries = [e for e, _ in singles]
            for group, _ in manys:
                entries.extend(group)
            start = self._state.size
            try:
                # one drain, one transaction: a failure then means "none of these", never "some"
                try:
                    hashes = await self._commit(entries)
                except ForeignAppend:
                    # nothing of this batch was written: continue from what is stored now, once (the entries get
                    # the next free indices; the other writer's stay where it put them)
                    self._state = await self.loop.run_in_executor(None, _load, self._engine)
                    start = self._state.size
                    hashes = await self._commit(entries)
            except Exception as exc:  # every waiter must hear about it
                await self._fail(singles, manys, exc)
                continue
            for i, (_, fut) in enumerate(singles):
                if not fut.done():  # a cancelled appender: its entry is in the log all the same
                    fut.set_result(AppendReceipt(start + i, hashes[i]))
            pos = len(singles)
            for group, many in manys:
                if not many.done():
                    many.set_result([AppendReceipt(start + pos + j, hashes[pos + j]) for j in range(len(group))])
                pos += len(group)

    async def _commit(self, entries: list[bytes]) -> list[bytes]:
        sha = _sha256
        hashes = [sha(b"\x00" + e).digest() for e in entries]
        state = self._state.copy()
        start = state.size
        tiles = state.append(hashes)
        await self._backend.write(start, hashes, entries, tiles)
        self._state = state  # only now: a failed batch leaves the old state in place
        self.batches += 1
        self.entries += len(entries)
        return hashes

    async def _fail(self, singles: _Pending, manys: _PendingMany, exc: Exception) -> None:
        error: Exception = (
            exc if isinstance(exc, SekishoError) else Unavailable("the log could not commit the append", field="log")
        )
        if error is not exc:
            error.__cause__ = exc
        # the commit may have failed after the server committed: start again from what is stored
        with contextlib.suppress(Exception):  # still down: the next batch fails and retries the reload
            self._state = await self.loop.run_in_executor(None, _load, self._engine)
        for _, fut in singles:
            if not fut.done():
                fut.set_exception(error)
        for _, many in manys:
            if not many.done():
                many.set_exception(error)
