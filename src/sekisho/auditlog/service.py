"""The log party's procedures: append (through the sequencer), proofs, tiles, checkpoints, full verification."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sekisho.auditlog import store
from sekisho.auditlog.keys import (
    DEFAULT_ORIGIN,
    DEFAULT_WITNESS,
    LOG_PARTY,
    WITNESS_PARTY,
    LogConfig,
    WitnessConfig,
    init_keys,
    load_log_signer,
)
from sekisho.auditlog.sequencer import Sequencer
from sekisho.auditlog.witness import StaleOldSize, WitnessClient
from sekisho.config import Home
from sekisho.errors import IntegrityError, InvalidInput, NotFound, Unavailable
from sekisho.storage import open_party_db
from sekisho.transparency import merkle
from sekisho.transparency.checkpoint import Checkpoint, open_checkpoint
from sekisho.transparency.entry import LogEntry, validate_encoded
from sekisho.transparency.log import AppendReceipt
from sekisho.transparency.note import Note, Signer, b64, parse_note, parse_signature_lines
from sekisho.transparency.tiles import (
    ENTRIES,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileHashSource,
    TileRef,
    TileState,
    encode_bundle,
    level_count,
)

CONTEXT = "auditlog"


def init_parties(
    home: Home, secret: bytes, *, origin: str = DEFAULT_ORIGIN, witness_name: str = DEFAULT_WITNESS
) -> tuple[LogConfig, WitnessConfig]:
    """Create the log's and the watchdog's keys (encrypted with ``secret``) and both parties' tables."""
    configs = init_keys(home, secret, origin=origin, witness_name=witness_name)
    for party in (LOG_PARTY, WITNESS_PARTY):
        open_party_db(home, party, [CONTEXT], create=True).dispose()
    return configs


class LogDiverges(IntegrityError):
    """The stored log is not the log that was signed: ``index`` is the first leaf where it diverges.

    When an attacker rewrote an entry, its leaf hash and its tiles consistently, only the signed checkpoints
    remain to catch it; then ``index`` is a lower bound and ``before`` the first checkpoint size that fails.
    """

    kind = "log-diverges"

    def __init__(self, message: str, *, index: int, before: int | None = None) -> None:
        where = f"at index {index}" if before is None else f"between index {index} and {before}"
        super().__init__(f"the log diverges {where}: {message}", field="log")
        self.index = index
        self.before = before


@dataclass(frozen=True, slots=True)
class VerifyReport:
    size: int
    checkpoints: int
    cosigned: int
    latest_checkpoint: int
    unsigned_tail: int  # entries appended after the latest checkpoint
    seconds: float


class _ConnTiles:
    """A TileReader inside a transaction already open (SQLite allows one writer: do not open another)."""

    def __init__(self, conn: sa.Connection, cache: _TileCache | None = None) -> None:
        self._conn = conn
        self._cache = cache

    def read_tiles(self, refs: Sequence[TileRef]) -> dict[TileRef, bytes]:
        if self._cache is None:
            return store.read_tiles(self._conn, refs)
        out, missing = self._cache.get_many(refs)
        if missing:
            fetched = store.read_tiles(self._conn, missing)
            self._cache.put_many(fetched)
            out.update(fetched)
        return out


class _TileCache:
    """Recently read tiles.  Every tile resource is immutable (a partial tile is the first W hashes of its full
    tile), so caching is always correct; only full verification bypasses it, reading the database itself."""

    def __init__(self, max_tiles: int = 4096) -> None:  # at most 32 MiB
        self._tiles: OrderedDict[TileRef, bytes] = OrderedDict()
        self._max = max_tiles
        self._lock = threading.Lock()

    def get_many(self, refs: Sequence[TileRef]) -> tuple[dict[TileRef, bytes], list[TileRef]]:
        out: dict[TileRef, bytes] = {}
        missing: list[TileRef] = []
        with self._lock:
            for ref in refs:
                data = self._tiles.get(ref)
                if data is None:
                    missing.append(ref)
                else:
                    self._tiles.move_to_end(ref)
                    out[ref] = data
        return out, missing

    def put_many(self, tiles: dict[TileRef, bytes]) -> None:
        with self._lock:
            self._tiles.update(tiles)
            while len(self._tiles) > self._max:
                self._tiles.popitem(last=False)


class LogService:
    """The public access log.  Appends go through one :class:`Sequencer` per service (created on first use)."""

    def __init__(self, engine: Engine, *, config: LogConfig, signer: Signer | None = None) -> None:
        self.engine = engine
        self.config = config
        self._signer = signer
        self._sequencer: Sequencer | None = None
        self._starting: asyncio.Future[Sequencer] | None = None
        self._seq_lock = threading.Lock()
        self._tile_cache = _TileCache()
        self._known_size = 0

    @classmethod
    def open(cls, home: Home, *, secret: bytes | None = None) -> LogService:
        """The log party's service; with ``secret`` (the key passphrase) it can also sign checkpoints."""
        engine = open_party_db(home, LOG_PARTY, [CONTEXT])
        signer = load_log_signer(home, secret) if secret is not None else None
        return cls(engine, config=LogConfig.load(home), signer=signer)

    def close(self) -> None:
        """Stop the sequencer (finishing queued appends) and release the database."""
        with self._seq_lock:
            seq, self._sequencer = self._sequencer, None
        if seq is not None:
            seq.close()
        self.engine.dispose()

    async def stop(self) -> None:
        """Stop the sequencer (finishing queued appends), from any event loop; the service stays usable."""
        with self._seq_lock:
            seq, self._sequencer = self._sequencer, None
        if seq is not None:
            if seq.loop is asyncio.get_running_loop():
                await seq.aclose()
            else:
                await asyncio.to_thread(seq.close)

    async def aclose(self) -> None:
        """:meth:`close`, from an event loop."""
        await self.stop()
        self.engine.dispose()

    # --- appends ---

    @property
    def sequencer(self) -> Sequencer:
        """The log's single writer; started on a private thread when first used from blocking code."""
        with self._seq_lock:
            if self._sequencer is None:
                self._sequencer = Sequencer.start_in_thread(self.engine)
            return self._sequencer

    async def start(self) -> Sequencer:
        """Start the writer on the running event loop (a server's start-up; the fastest way to append)."""
        with self._seq_lock:
            if self._sequencer is not None:
                return self._sequencer
            if self._starting is None:
                self._starting = asyncio.get_running_loop().create_future()
                starter = True
            else:
                starter = False
            waiting = self._starting
        if not starter:
            return await asyncio.shield(waiting)
        try:
            seq = await Sequencer.start_here(self.engine)
        except BaseException as exc:
            with self._seq_lock:
                self._starting = None
            waiting.set_exception(exc)
            raise
        with self._seq_lock:
            self._sequencer, self._starting = seq, None
        waiting.set_result(seq)
        return seq

    def append(self, entry: bytes) -> AppendReceipt:
        """Append one canonical entry; returns when it is durable.  Refuses anything but a valid entry."""
        validate_encoded(entry)
        return self.sequencer.append(entry)

    def append_many(self, entries: Sequence[bytes]) -> list[AppendReceipt]:
        """Append entries in one transaction (consecutive indices); returns when they are durable."""
        for e in entries:
            validate_encoded(e)
        return self.sequencer.append_many(entries)

    def resend_many(self, entries: Sequence[bytes], *, not_before: int) -> list[AppendReceipt]:
        """Append entries whose earlier append may or may not have happened (the answer was lost), once.

        An entry already in the log at an index ``>= not_before`` (the sender's lower bound on where it can
        be: the log's size before the first attempt) gets that index back; the others are appended.  Access
        entries are unique (each carries its own nonce), so the same bytes at an index means the same record.
        The lookup runs before the append: a first attempt that is still queued in the writer when its retry
        arrives could land twice (a sender retries only after the first attempt failed, so in practice never).
        """
        for e in entries:
            validate_encoded(e)
        hashes = [merkle.hash_leaf(e) for e in entries]
        with self.engine.connect() as conn:
            found = store.find_leaf_hashes(conn, set(hashes), max(0, not_before))
        missing = [e for e, h in zip(entries, hashes, strict=True) if h not in found]
        appended = iter(self.sequencer.append_many(missing) if missing else [])
        return [AppendReceipt(index=found[h], leaf_hash=h) if h in found else next(appended) for h in hashes]

    async def resend_async(self, entry: bytes, *, not_before: int) -> AppendReceipt:
        """:meth:`resend_many` of one entry, from a coroutine (the HTTP append with ``not_before``)."""
        validate_encoded(entry)
        h = merkle.hash_leaf(entry)

        def lookup() -> dict[bytes, int]:
            with self.engine.connect() as conn:
                return store.find_leaf_hashes(conn, {h}, max(0, not_before))

        found = await asyncio.to_thread(lookup)
        if h in found:
            return AppendReceipt(index=found[h], leaf_hash=h)
        return await self.append_async(entry)

    async def append_async(self, entry: bytes) -> AppendReceipt:
        """Append from a coroutine; fastest on the loop the writer runs on (see :meth:`start`)."""
        validate_encoded(entry)
        seq = self._sequencer or await self.start()
        if seq.loop is asyncio.get_running_loop():
            return await seq.submit(entry)
        return await seq.append_async(entry)

    async def append_many_async(self, entries: Sequence[bytes]) -> list[AppendReceipt]:
        """:meth:`append_many` from a coroutine (``POST /append/batch``): consecutive indices, one transaction."""
        for e in entries:
            validate_encoded(e)
        seq = self._sequencer or await self.start()
        return await seq.append_many_async(entries)

    async def resend_many_async(self, entries: Sequence[bytes], *, not_before: int) -> list[AppendReceipt]:
        """:meth:`resend_many` from a coroutine (a retried ``POST /append/batch``): the lookup on a thread."""
        for e in entries:
            validate_encoded(e)
        hashes = [merkle.hash_leaf(e) for e in entries]

        def lookup() -> dict[bytes, int]:
            with self.engine.connect() as conn:
                return store.find_leaf_hashes(conn, set(hashes), max(0, not_before))

        found = await asyncio.to_thread(lookup)
        missing = [e for e, h in zip(entries, hashes, strict=True) if h not in found]
        appended = iter(await self.append_many_async(missing) if missing else [])
        return [AppendReceipt(index=found[h], leaf_hash=h) if h in found else next(appended) for h in hashes]

    # --- reads ---

    def size(self) -> int:
        with self.engine.connect() as conn:
            return store.log_size(conn)

    @contextlib.contextmanager
    def _tree(self, size: int) -> Iterator[TileHashSource]:
        """Tiles of the tree of ``size`` leaves, read on one connection and through the tile cache."""
        with self.engine.connect() as conn:
            if size < 0:
                raise NotFound("the log has no tree of that size", field="size")
            if size > self._known_size:  # the log only grows: ask the database only about a size not seen yet
                self._known_size = store.log_size(conn)
                if size > self._known_size:
                    raise NotFound("the log has no tree of that size", field="size")
            yield TileHashSource(_ConnTiles(conn, self._tile_cache))

    def root(self, *, size: int) -> bytes:
        with self._tree(size) as tiles:
            return merkle.tree_root(tiles, size)

    def inclusion_proof(self, *, index: int, size: int) -> list[bytes]:
        with self._tree(size) as tiles:
            return merkle.inclusion_proof(tiles, index, size)

    def consistency_proof(self, *, old: int, new: int) -> list[bytes]:
        with self._tree(new) as tiles:
            return merkle.consistency_proof(tiles, old, new)

    def entries(self, *, start: int, end: int) -> list[bytes]:
        with self.engine.connect() as conn:
            return store.entries(conn, start, end)

    def tail(self, *, count: int) -> list[tuple[int, bytes]]:
        with self.engine.connect() as conn:
            size = store.log_size(conn)
            start = max(0, size - count)
            return list(enumerate(store.entries(conn, start, size), start))

    def read_tiles(self, refs: Sequence[TileRef]) -> dict[TileRef, bytes]:
        with self.engine.connect() as conn:
            return store.read_tiles(conn, refs)

    def published_tile(self, ref: TileRef) -> bytes:
        """A tile or entry bundle as the tiles API serves it: only within the latest signed checkpoint."""
        published = self.latest_checkpoint(witnessed=False)
        size = Checkpoint.parse(parse_note(published).text).size if published else 0
        available = size if ref.level == ENTRIES else level_count(size, ref.level)
        if ref.index * TILE_WIDTH + ref.width > available:
            raise NotFound("no such tile in the published tree", field="tile")
        with self.engine.connect() as conn:
            if ref.level == ENTRIES:
                start = ref.index * TILE_WIDTH
                return encode_bundle(store.entries(conn, start, start + ref.width))
            return _ConnTiles(conn, self._tile_cache).read_tiles([ref])[ref]

    def proof_bundle(self, *, index: int, size: int | None = None) -> dict[str, Any]:
        """What a verifier needs for one entry: the entry, its inclusion proof and the checkpoint of that size."""
        with self.engine.connect() as conn:
            row = store.checkpoint_at(conn, size) if size is not None else store.latest_checkpoint(conn, witnessed=True)
        if size is None and row is None:
            raise NotFound("the log has no witnessed checkpoint yet", field="checkpoint")
        size = int(row.size) if size is None else size
        if index >= size:
            raise InvalidInput("the index must be smaller than the tree size", field="index")
        entry = self.entries(start=index, end=index + 1)[0]
        return {
            "index": index,
            "size": size,
            "leaf_hash": merkle.hash_leaf(entry).hex(),
            "entry": entry.decode(),
            "proof": [b64(p) for p in self.inclusion_proof(index=index, size=size)],
            "checkpoint": None if row is None else str(row.witnessed_note or row.note),
        }

    # --- checkpoints ---

    def issue_checkpoint(self) -> str:
        """Sign a checkpoint of the current tree (or return the latest, if the tree has not grown).

        Never signs a tree inconsistent with an earlier checkpoint (tlog-checkpoint, "Signatures"): the stored
        tree must still have the last signed root at the last signed size.
        """
        if self._signer is None:
            raise Unavailable("this log service has no signing key", field="key")
        with self.engine.begin() as conn:
            tiles = TileHashSource(_ConnTiles(conn))
            size = store.log_size(conn)
            last = store.latest_checkpoint(conn, witnessed=False)
            if last is not None:
                if size < last.size:
                    raise IntegrityError("the stored log is shorter than its last checkpoint", field="log")
                if merkle.tree_root(tiles, last.size) != bytes(last.root_hash):
                    raise IntegrityError("the stored log no longer matches its last checkpoint", field="log")
                if size == last.size:
                    return str(last.note)
            root = merkle.tree_root(tiles, size)
            body = Checkpoint(origin=self.config.origin, size=size, root_hash=root).body()
            note = Note(body, ()).with_lines(parse_signature_lines(self._signer.sign(body))).encode()
            store.insert_checkpoint(conn, size=size, root_hash=root, note=note)
            return note

    def latest_checkpoint(self, *, witnessed: bool = True) -> str | None:
        with self.engine.connect() as conn:
            row = store.latest_checkpoint(conn, witnessed=witnessed)
        if row is None:
            return None
        return str(row.witnessed_note if witnessed else row.note)

    def add_cosignatures(self, *, size: int, lines: str) -> str:
        """Attach witness cosignature lines (tlog-witness response body) to the checkpoint of ``size``."""
        sigs = parse_signature_lines(lines)
        with self.engine.begin() as conn:
            row = store.checkpoint_at(conn, size)
            if row is None:
                raise NotFound("no checkpoint of that size", field="size")
            base = parse_note(str(row.witnessed_note or row.note))
            note = base.with_lines(sigs).encode()
            # keep only what verifies: the log's signature and at least one trusted witness
            open_checkpoint(note, self.config.vkey, self.config.witnesses, min_witnesses=1)
            store.set_witnessed(conn, size=size, witnessed_note=note)
            return note

    def request_cosignatures(self, witness: WitnessClient) -> str:
        """Have a witness cosign the latest checkpoint (tlog-witness add-checkpoint, push); the witnessed note.

        The first guess of the witness's size is our latest witnessed checkpoint; a witness that remembers
        another size answers with it (409) and gets the consistency proof from there.
        """
        note = self.latest_checkpoint(witnessed=False)
        if note is None:
            raise NotFound("the log has not signed a checkpoint yet", field="checkpoint")
        size = Checkpoint.parse(parse_note(note).text).size
        last = self.latest_checkpoint(witnessed=True)
        old = Checkpoint.parse(parse_note(last).text).size if last else 0
        for _ in range(2):
            proof = self.consistency_proof(old=old, new=size) if old else []
            try:
                lines = witness.add_checkpoint(old_size=old, proof=proof, note=note)
                break
            except StaleOldSize as exc:
                if exc.size > size:
                    raise IntegrityError("the witness has seen a larger tree than this log", field="log") from None
                old = exc.size
        else:  # pragma: no cover - a witness that keeps changing its mind
            raise Unavailable("the witness did not settle on a size", field="witness")
        return self.add_cosignatures(size=size, lines=lines)

    # --- full verification ---

    def verify(
        self, *, check_entries: bool = False, page: int = 16384, progress: Callable[[int], None] | None = None
    ) -> VerifyReport:
        """Re-derive the whole tree from the stored entries and check it against everything stored and signed.

        Raises :class:`LogDiverges` (exit code 4) at the first index where the stored log departs from what was
        signed: a deleted, edited, reordered, inserted or truncated row.
        """
        started = time.perf_counter()
        cosigned = 0
        with self.engine.connect() as conn:
            checkpoints = store.all_checkpoints(conn)
        expected: list[tuple[int, bytes]] = []
        for row in checkpoints:
            cp = open_checkpoint(str(row.note), self.config.vkey, (), min_witnesses=0).checkpoint
            if cp.size != row.size or cp.root_hash != bytes(row.root_hash) or cp.origin != self.config.origin:
                raise IntegrityError(f"checkpoint row {row.size} does not match its signed note", field="checkpoint")
            if row.witnessed_note is not None:
                w = open_checkpoint(str(row.witnessed_note), self.config.vkey, self.config.witnesses, min_witnesses=1)
                if w.checkpoint != cp:
                    raise IntegrityError(f"the witnessed note of {row.size} is another checkpoint", field="checkpoint")
                cosigned += 1
            expected.append((cp.size, cp.root_hash))
        signed_size = expected[-1][0] if expected else 0

        state = TileState()
        cp_i = 0
        last_good = 0
        sha = hashlib.sha256
        while cp_i < len(expected) and expected[cp_i][0] == 0:
            cp_i += 1
        with self.engine.connect() as conn:
            next_idx = 0
            while True:
                rows = store.leaf_page(conn, next_idx, page)
                if not rows:
                    break
                hashes: list[bytes] = []
                for idx, stored_hash, data in rows:
                    i = next_idx + len(hashes)
                    if idx != i:
                        raise LogDiverges("an entry is missing", index=i)
                    data = bytes(data)
                    h = sha(b"\x00" + data).digest()
                    if h != bytes(stored_hash):
                        raise LogDiverges("the entry does not hash to its stored leaf hash", index=i)
                    if check_entries:
                        try:
                            LogEntry.decode(data)
                        except InvalidInput as exc:
                            raise LogDiverges(f"not a valid entry ({exc})", index=i) from None
                    hashes.append(h)
                # feed the page, stopping at each checkpoint size to compare roots
                pos = 0
                while pos < len(hashes):
                    stop = len(hashes)
                    if cp_i < len(expected):
                        stop = min(stop, expected[cp_i][0] - state.size + pos)
                    done = state.append(hashes[pos:stop])
                    self._compare_tiles(conn, done)
                    pos = stop
                    while cp_i < len(expected) and expected[cp_i][0] == state.size:
                        if state.root() != expected[cp_i][1]:
                            raise LogDiverges(
                                "the tree differs from the signed checkpoint", index=last_good, before=state.size
                            )
                        last_good = state.size
                        cp_i += 1
                next_idx += len(rows)
                if progress is not None:
                    progress(len(rows))
            stray = conn.execute(sa.select(sa.func.count()).select_from(store.tile).where(_beyond(state.size))).scalar()
        if state.size < signed_size:
            raise LogDiverges(f"the log is truncated (a checkpoint of size {signed_size} was signed)", index=state.size)
        if stray:
            raise IntegrityError("tiles are stored beyond the end of the log", field="log_tile")
        return VerifyReport(
            size=state.size,
            checkpoints=len(expected),
            cosigned=cosigned,
            latest_checkpoint=signed_size,
            unsigned_tail=state.size - signed_size,
            seconds=time.perf_counter() - started,
        )

    def _compare_tiles(self, conn: sa.Connection, done: list[tuple[int, int, bytes, bytes]]) -> None:
        if not done:
            return
        refs = [TileRef(level, index) for level, index, _, _ in done]
        try:
            stored = store.read_tiles(conn, refs)
        except IntegrityError:
            missing = next(r for r in refs if not _has_tile(conn, r))
            raise LogDiverges(f"tile {missing.path} is missing", index=_first_leaf(missing)) from None
        for (level, index, hashes, _root), ref in zip(done, refs, strict=True):
            have = stored[ref]
            if have != hashes:
                j = next(k for k in range(TILE_WIDTH) if have[k * 32 : k * 32 + 32] != hashes[k * 32 : k * 32 + 32])
                first = (index * TILE_WIDTH + j) << (TILE_HEIGHT * level)
                if level == 0:
                    raise LogDiverges("the leaf differs from the stored tile", index=first)
                raise LogDiverges(
                    f"a level-{level} tile hash differs", index=first, before=first + (1 << (TILE_HEIGHT * level))
                )


def _first_leaf(ref: TileRef) -> int:
    return (ref.index * TILE_WIDTH) << (TILE_HEIGHT * ref.level)


def _has_tile(conn: sa.Connection, ref: TileRef) -> bool:
    return (
        conn.execute(
            sa.select(store.tile.c.idx).where(store.tile.c.level == ref.level, store.tile.c.idx == ref.index)
        ).first()
        is not None
    )


def _beyond(size: int) -> Any:
    # a full tile (level, idx) exists only if (idx + 1) * 256**(level+1) <= size
    conds = []
    for level in range(0, 8):
        span = 1 << (TILE_HEIGHT * (level + 1))
        conds.append(sa.and_(store.tile.c.level == level, store.tile.c.idx >= size // span))
    conds.append(store.tile.c.level >= 8)
    return sa.or_(*conds)
