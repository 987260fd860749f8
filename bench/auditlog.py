"""The access log: durable appends with group commit, against raw binary COPY and raw SHA-256, measured in the
same run; the p99 wait for an acknowledgement; inclusion proofs at 10,000,000 leaves; full verification.

    python -m bench auditlog                      # everything, SQLite and (if SEKISHO_PG_URL is set) PostgreSQL
    python -c 'import bench.auditlog as b; b.main(["--quick"])'   # a short run while developing
    python -m bench auditlog --tiny               # a smoke run (tests/bench): every figure, a few hundred entries
    python -m bench auditlog --http-only          # only the appends through a real `sekisho log serve` process
                                                  # (one request per entry, and coalesced into /append/batch)

Appends are acknowledged only after their batch's commit (synchronous_commit=on / synchronous=FULL); the
appenders are asyncio tasks on the writer's event loop (the way ``sekisho log serve`` runs), each sending one
canonical entry at a time and waiting for its receipt.  The baseline writes the very same rows (index, leaf
hash, entry) into an identical table with one binary COPY in one transaction (PostgreSQL) or one executemany in
one transaction (SQLite), alternated with ours round after round in the same run (each into a fresh table); every
figure is the median of ``--repeat`` (at least 3) rounds, printed with the machine's load.

Through HTTP, the same appends go to a real ``sekisho log serve`` process (uvicorn, the log's app) over
keep-alive connections, one per appender, from a minimal asyncio client in this process (HTTP/1.1 written and
read by hand, so that the client's own cost stays small beside the server's); its rounds alternate with the same
baseline.  ``--server-http h11`` serves the same app with uvicorn's pure-Python HTTP parser and the standard
asyncio loop, for the comparison with httptools and uvloop.  The same appenders are also measured coalesced by the
client into ``POST /append/batch`` requests over ``--batch-senders`` connections (each taking everything queued,
as :class:`sekisho.auditlog.batch.Coalescer` does for a party's threads); ``--batch-senders 0`` skips that figure.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from bench._fair import MIN_ROUNDS, load
from sekisho.auditlog import batch, store
from sekisho.auditlog.keys import init_keys
from sekisho.auditlog.service import LogService
from sekisho.config import Home
from sekisho.storage import create_engine_for, open_party_db
from sekisho.transparency import merkle
from sekisho.transparency.entry import AccessRecordBuilder, derive_commitment_key, validate_encoded
from sekisho.transparency.tiles import TileState

PASS = b"bench"
ACTORS = [("agency", "pension"), ("agency", "tax"), ("municipality", "131016"), ("clerk", "271004")]
PURPOSES = ["pension.benefit", "tax.assessment", "certificate.residence", "counter.enquiry"]
ITEMS = [["address", "name"], ["address", "birth_date", "name", "sex"], ["name"], ["address"]]


def make_entries(n: int) -> list[bytes]:
    rng = random.Random(1)
    keys = [derive_commitment_key(os.urandom(32)) for _ in range(64)]
    out = []
    for i in range(n):
        kind, actor = ACTORS[i % len(ACTORS)]
        out.append(
            AccessRecordBuilder()
            .actor(kind, actor, terminal=f"t-{rng.randrange(500)}")
            .action("identity-confirmation", purpose=PURPOSES[i % len(PURPOSES)], legal_basis="jukiho-30-9")
            .items(ITEMS[rng.randrange(len(ITEMS))])
            .decision("allow", ["ok"])
            .build(keys[rng.randrange(len(keys))])
            .entry_bytes()
        )
    return out


class Db:
    """A throw-away home on SQLite (files in a temporary directory) or PostgreSQL (schemas dropped after)."""

    def __init__(self, pg_url: str | None) -> None:
        self.pg_url = pg_url
        self.dir = Path(tempfile.mkdtemp(prefix="sekisho-bench-"))
        self.namespace = f"bench{uuid.uuid4().hex[:8]}_" if pg_url else ""
        self.home = Home(root=self.dir, db_url=pg_url, namespace=self.namespace)
        init_keys(self.home, PASS)
        self.name = "PostgreSQL" if pg_url else "SQLite"

    def fresh_home(self, tag: str) -> Home:
        """A new home with an empty log (its own schema or file), set up as `log init` does."""
        home = Home(root=self.dir / tag, db_url=self.pg_url, namespace=f"{self.namespace}{tag}_")
        home.root.mkdir()
        init_keys(home, PASS)
        open_party_db(home, "log", ["auditlog"], create=True).dispose()
        return home

    def fresh_log(self, tag: str) -> LogService:
        """A new, empty log (its own home: its own schema or file)."""
        return LogService.open(self.fresh_home(tag), secret=PASS)

    def baseline_engine(self, tag: str) -> sa.Engine:
        """An empty database (a new file, or a new schema) with the log's tables."""
        home = Home(root=self.dir / tag, db_url=self.pg_url, namespace=f"{self.namespace}{tag}_")
        home.root.mkdir()
        return open_party_db(home, "log", ["auditlog"], create=True)

    def drop(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)  # the SQLite files (hundreds of MB at full size), the keys
        if not self.pg_url:
            return
        engine = create_engine_for(self.pg_url)
        with engine.begin() as conn:
            schemas = conn.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": self.namespace + "%"}
            ).scalars()
            for schema in list(schemas):
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


# --- the figures ------------------------------------------------------------------------------------------


def hash_rate(entries: list[bytes]) -> float:
    sha = hashlib.sha256
    started = time.perf_counter()
    for e in entries:
        sha(b"\x00" + e).digest()
    return len(entries) / (time.perf_counter() - started)


def validation_rate(entries: list[bytes]) -> float:
    """Entries per second through the check every append makes (the v1 schema), one core."""
    started = time.perf_counter()
    for e in entries:
        validate_encoded(e)
    return len(entries) / (time.perf_counter() - started)


def baseline_rate(db: Db, rows: list[tuple[int, bytes, bytes]], tag: str) -> float:
    """The same rows, one binary COPY (PostgreSQL) or one executemany (SQLite), one transaction."""
    engine = db.baseline_engine(tag)
    try:
        with engine.connect() as conn:
            dbapi: Any = conn.connection.dbapi_connection
            started = time.perf_counter()
            with conn.begin():
                if db.pg_url:
                    with dbapi.cursor() as cur, cur.copy(store.PG_COPY_LEAVES) as copy:
                        copy.set_types(["int8", "bytea", "bytea"])
                        for row in rows:
                            copy.write_row(row)
                else:
                    cur = dbapi.cursor()
                    cur.executemany("INSERT INTO log_leaf (idx, leaf_hash, entry) VALUES (?, ?, ?)", rows)
                    cur.close()
            return len(rows) / (time.perf_counter() - started)
    finally:
        engine.dispose()


def append_run(db: Db, entries: list[bytes], *, total: int, concurrency: int, warmup: int, tag: str) -> dict[str, Any]:
    svc = db.fresh_log(tag)
    latencies: list[float] = []

    async def appender(worker: int, count: int, record: bool) -> None:
        append = svc.append_async
        clock = time.perf_counter
        n = len(entries)
        for i in range(count):
            t = clock()
            await append(entries[(worker * 7919 + i) % n])
            if record:
                latencies.append(clock() - t)

    async def run() -> dict[str, Any]:
        seq = await svc.start()
        # where the time goes: the seconds the writer spends in the database (COPY/executemany, then the commit's
        # fsync), against the wall clock; the rest is Python on the loop (validation, futures, hashing, tiles)
        backend: Any = seq._backend
        write = backend.write
        in_db = [0.0]

        async def timed_write(*a: Any) -> None:
            t = time.perf_counter()
            try:
                await write(*a)
            finally:
                in_db[0] += time.perf_counter() - t

        backend.write = timed_write
        per = max(1, warmup // concurrency)
        await asyncio.gather(*(appender(w, per, False) for w in range(concurrency)))
        batches0, entries0 = seq.batches, seq.entries
        per = max(1, total // concurrency)
        gc.collect()
        in_db[0] = 0.0
        started = time.perf_counter()
        await asyncio.gather(*(appender(w, per, True) for w in range(concurrency)))
        elapsed = time.perf_counter() - started
        commits = max(1, seq.batches - batches0)
        batch = (seq.entries - entries0) / commits
        await svc.stop()
        return {
            "rate": per * concurrency / elapsed,
            "batch": batch,
            "db_share": in_db[0] / elapsed,
            "commit_ms": in_db[0] / commits * 1e3,
            "python_us": (elapsed - in_db[0]) / (per * concurrency) * 1e6,
        }

    try:
        result = asyncio.run(run())
    finally:
        svc.close()
    latencies.sort()
    result["p50_ms"] = latencies[len(latencies) // 2] * 1e3
    result["p99_ms"] = latencies[int(len(latencies) * 0.99)] * 1e3
    result["concurrency"] = concurrency
    return result


# --- through HTTP: a real `sekisho log serve` process ----------------------------------------------------------

_SERVE_H11 = (
    "import sys, uvicorn\n"
    "from sekisho.auditlog.api import create_app\n"
    "from sekisho.auditlog.service import LogService\n"
    "from sekisho.config import Home\n"
    "svc = LogService.open(Home.from_env())\n"
    "uvicorn.run(create_app(svc), host='127.0.0.1', port=int(sys.argv[1]), log_level='warning', access_log=False,\n"
    "            http='h11', loop='asyncio')\n"
    "svc.close()\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(home: Home, *, impl: str) -> tuple[subprocess.Popen[bytes], int]:
    """`sekisho log serve` on a free port of 127.0.0.1 (or, with impl h11, the same app on h11 and asyncio)."""
    port = _free_port()
    env = {**os.environ, "SEKISHO_HOME": str(home.root), "SEKISHO_DB_NAMESPACE": home.namespace}
    if home.db_url:
        env["SEKISHO_DB"] = home.db_url
    if impl == "h11":
        cmd = [sys.executable, "-c", _SERVE_H11, str(port)]
    else:
        cmd = [sys.executable, "-c", "from sekisho.cli import main; main()", "log", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"log serve exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("log serve did not listen within 60 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # uvicorn's graceful shutdown: the log finishes its queued appends
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _http_appender(port: int, requests: list[bytes], latencies: list[float] | None, errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    clock = time.perf_counter
    try:
        for req in requests:
            t = clock()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if status != 200:
                errors.append(status)
            if latencies is not None:
                latencies.append(clock() - t)
    finally:
        writer.close()


def http_run(
    db: Db, entries: list[bytes], *, total: int, concurrency: int, warmup: int, tag: str, impl: str
) -> dict[str, Any]:
    """Durable appends through a real log server over HTTP/1.1 keep-alive, one connection per appender."""
    home = db.fresh_home(tag)
    proc, port = start_server(home, impl=impl)
    n = len(entries)
    reqs = [
        b"POST /append HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/octet-stream\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(e), e)
        for e in entries
    ]
    latencies: list[float] = []
    errors: list[int] = []

    def plan(worker: int, count: int) -> list[bytes]:
        return [reqs[(worker * 7919 + i) % n] for i in range(count)]

    async def run() -> dict[str, Any]:
        per = max(1, warmup // concurrency)
        await asyncio.gather(*(_http_appender(port, plan(w, per), None, errors) for w in range(concurrency)))
        per = max(1, total // concurrency)
        plans = [plan(w, per) for w in range(concurrency)]
        gc.collect()
        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(_http_appender(port, p, latencies, errors) for p in plans))
        elapsed = time.perf_counter() - started
        return {
            "rate": per * concurrency / elapsed,
            "client_share": (time.process_time() - cpu) / elapsed,
        }

    try:
        result = asyncio.run(run())
    finally:
        stop_server(proc)
    if errors:
        raise RuntimeError(f"{len(errors)} appends refused over HTTP (first status {errors[0]})")
    latencies.sort()
    result["p50_ms"] = latencies[len(latencies) // 2] * 1e3
    result["p99_ms"] = latencies[int(len(latencies) * 0.99)] * 1e3
    return result


def http_batch_run(
    db: Db, entries: list[bytes], *, total: int, concurrency: int, warmup: int, tag: str, senders: int
) -> dict[str, Any]:
    """The same appenders through a real log server, coalesced by the client: each appender queues its entry and
    waits for its receipt; ``senders`` keep-alive connections each take everything queued (at most
    ``batch.MAX_BATCH``) into one ``POST /append/batch`` and hand each appender its receipt after the commit —
    what a party's node does with the access records of the requests it serves at once."""
    home = db.fresh_home(tag)
    proc, port = start_server(home, impl="auto")
    n = len(entries)
    latencies: list[float] = []
    requests = [0]

    async def run() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        pending: list[tuple[bytes, asyncio.Future[int]]] = []
        wake = asyncio.Event()
        done = [False]

        async def sender() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                while True:
                    if not pending:
                        if done[0]:
                            return
                        wake.clear()
                        await wake.wait()
                        continue
                    group = pending[: batch.MAX_BATCH]
                    del pending[: batch.MAX_BATCH]
                    body = batch.encode_entries([e for e, _ in group])
                    writer.write(
                        b"POST /append/batch HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: %s\r\n"
                        b"content-length: %d\r\n\r\n%s" % (batch.MEDIA_TYPE.encode(), len(body), body)
                    )
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line[:15].lower() == b"content-length:":
                            length = int(line[15:])
                    answer = await reader.readexactly(length)
                    requests[0] += 1
                    if int(head[9:12]) != 200:
                        for _, fut in group:
                            fut.set_exception(RuntimeError(f"HTTP {head[9:12].decode()}"))
                        continue
                    indices = orjson.loads(answer)["indices"]
                    for i, (_, fut) in enumerate(group):
                        fut.set_result(indices[i])
            finally:
                writer.close()

        async def appender(worker: int, count: int, record: bool) -> None:
            clock = time.perf_counter
            for i in range(count):
                t = clock()
                fut: asyncio.Future[int] = loop.create_future()
                pending.append((entries[(worker * 7919 + i) % n], fut))
                wake.set()
                await fut
                if record:
                    latencies.append(clock() - t)

        async def phase(per: int, record: bool) -> None:
            done[0] = False
            tasks = [asyncio.create_task(sender()) for _ in range(senders)]
            await asyncio.gather(*(appender(w, per, record) for w in range(concurrency)))
            done[0] = True
            wake.set()
            await asyncio.gather(*tasks)

        await phase(max(1, warmup // concurrency), False)
        per = max(1, total // concurrency)
        gc.collect()
        requests[0] = 0
        cpu = time.process_time()
        started = time.perf_counter()
        await phase(per, True)
        elapsed = time.perf_counter() - started
        return {
            "rate": per * concurrency / elapsed,
            "client_share": (time.process_time() - cpu) / elapsed,
            "per_request": per * concurrency / max(1, requests[0]),
        }

    try:
        result = asyncio.run(run())
    finally:
        stop_server(proc)
    latencies.sort()
    result["p50_ms"] = latencies[len(latencies) // 2] * 1e3
    result["p99_ms"] = latencies[int(len(latencies) * 0.99)] * 1e3
    return result


def bulk_load(svc: LogService, leaves: Iterator[bytes], n: int, *, chunk: int = 65536) -> None:
    """Build a log of n leaves quickly (not through the append path): one transaction per chunk of rows."""
    state = TileState()
    postgres = svc.engine.dialect.name == "postgresql"
    with svc.engine.connect() as conn:
        dbapi: Any = conn.connection.dbapi_connection
        buf: list[bytes] = []
        for i, e in enumerate(leaves, 1):
            buf.append(e)
            if len(buf) == chunk or i == n:
                hashes = [hashlib.sha256(b"\x00" + x).digest() for x in buf]
                start = state.size
                tiles = state.append(hashes)
                with conn.begin():
                    if postgres:
                        store.write_batch_postgres(dbapi, start, hashes, buf, tiles)
                    else:
                        store.write_batch_sqlite(dbapi, start, hashes, buf, tiles)
                buf = []
            if i == n:
                break


def proof_timing(svc: LogService, size: int, count: int) -> dict[str, float]:
    rng = random.Random(3)
    root = svc.root(size=size)
    times: list[float] = []
    for _ in range(count):
        index = rng.randrange(size)
        started = time.perf_counter()
        proof = svc.inclusion_proof(index=index, size=size)
        times.append(time.perf_counter() - started)
        leaf = svc.entries(start=index, end=index + 1)[0]
        merkle.verify_inclusion(index, size, merkle.hash_leaf(leaf), proof, root)
    cons: list[float] = []
    for _ in range(count // 4 or 1):
        old = rng.randrange(1, size)
        started = time.perf_counter()
        proof = svc.consistency_proof(old=old, new=size)
        cons.append(time.perf_counter() - started)
        merkle.verify_consistency(old, size, svc.root(size=old), root, proof)
    times.sort()
    return {
        "inclusion_mean_ms": statistics.fmean(times) * 1e3,
        "inclusion_p99_ms": times[int(len(times) * 0.99)] * 1e3,
        "consistency_mean_ms": statistics.fmean(cons) * 1e3,
    }


def verify_timing(svc: LogService, entries: list[bytes], n: int) -> float:
    """Seconds per million leaves for `sekisho log verify` (rehash every entry, compare tiles and checkpoints)."""
    bulk_load(svc, (entries[i % len(entries)] for i in range(n)), n)
    svc.issue_checkpoint()
    report = svc.verify()
    assert report.size == n
    return report.seconds / n * 1e6


# --- the run ----------------------------------------------------------------------------------------------


def _print(line: str = "") -> None:
    print(line, flush=True)


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="bench.auditlog")
    p.add_argument("--quick", action="store_true", help="small sizes, for development")
    p.add_argument("--appends", type=int, default=200_000, help="measured appends per configuration")
    p.add_argument("--concurrency", type=int, nargs="+", default=[64, 256, 1024])
    p.add_argument("--big", type=int, default=10_000_000, help="leaves of the tree for the proof timing")
    p.add_argument("--verify", type=int, default=1_000_000, help="leaves for the verification timing")
    p.add_argument("--repeat", type=int, default=3, help="alternated rounds per configuration (median; at least 3)")
    p.add_argument("--no-sqlite", action="store_true")
    p.add_argument("--big-sqlite", action="store_true", help="also build the big tree on SQLite")
    p.add_argument("--tiny", action="store_true", help="a smoke run: every figure on a few hundred entries")
    p.add_argument("--no-http", action="store_true", help="skip the appends through `sekisho log serve`")
    p.add_argument("--http-only", action="store_true", help="only the appends through `sekisho log serve`")
    p.add_argument(
        "--batch-senders",
        type=int,
        default=2,
        help="connections of the coalescing client (POST /append/batch); 0 skips that figure",
    )
    p.add_argument(
        "--server-http",
        choices=["auto", "h11"],
        default="auto",
        help="auto: `sekisho log serve` as shipped (httptools and uvloop); h11: the same app on uvicorn's "
        "pure-Python parser and the asyncio loop",
    )
    args = p.parse_args(argv)
    distinct, warmup, proofs = 20_000, 20_000, 200
    if args.quick:
        args.appends, args.concurrency, args.big, args.verify, args.repeat = 40_000, [256], 300_000, 100_000, 1
    if args.tiny:
        args.appends, args.concurrency, args.big, args.verify, args.repeat = 200, [8], 1_000, 300, 3
        args.big_sqlite, distinct, warmup, proofs = True, 100, 16, 8

    entries = make_entries(distinct)
    gc.freeze()  # the benchmark's own data need not be scanned by every collection
    pg_url = os.environ.get("SEKISHO_PG_URL") or None
    dbs = ([] if args.no_sqlite else [None]) + ([pg_url] if pg_url else [])
    if not pg_url:
        _print("SEKISHO_PG_URL is not set: PostgreSQL skipped (make bench sets it)")

    hashes_per_s = hash_rate(entries * 5)
    validate_rate = validation_rate(entries)
    _print(f"raw SHA-256 leaf hashing: {hashes_per_s:,.0f} leaves/s (one core, {len(entries[0])}-byte entries)")
    rows = [
        (i, hashlib.sha256(b"\x00" + entries[i % len(entries)]).digest(), entries[i % len(entries)])
        for i in range(args.appends)
    ]
    for url in dbs:
        db = Db(url)
        try:
            _print(f"\n-- {db.name} --")
            what = "binary COPY" if url else "executemany"
            for c in args.concurrency:
                # baseline and ours alternate within the run, so that a neighbour's burst hits both alike
                bases: list[float] = []
                runs: list[dict[str, Any]] = []
                https: list[dict[str, Any]] = []
                batched: list[dict[str, Any]] = []
                for i in range(max(args.repeat, MIN_ROUNDS)):
                    bases.append(baseline_rate(db, rows, f"copy{c}r{i}"))
                    if not args.http_only:
                        runs.append(
                            append_run(db, entries, total=args.appends, concurrency=c, warmup=warmup, tag=f"c{c}r{i}")
                        )
                    if not args.no_http:
                        https.append(
                            http_run(
                                db,
                                entries,
                                total=args.appends,
                                concurrency=c,
                                warmup=warmup,
                                tag=f"h{c}r{i}",
                                impl=args.server_http,
                            )
                        )
                    if not args.no_http and args.batch_senders > 0:
                        batched.append(
                            http_batch_run(
                                db,
                                entries,
                                total=args.appends,
                                concurrency=c,
                                warmup=warmup,
                                tag=f"b{c}r{i}",
                                senders=args.batch_senders,
                            )
                        )
                base = statistics.median(bases)
                _print(f"baseline, raw {what} of the same rows, one transaction: {base:,.0f} rows/s ({load()})")
                if runs:
                    r = sorted(runs, key=lambda x: x["rate"])[len(runs) // 2]
                    p99 = statistics.median(x["p99_ms"] for x in runs)
                    _print(
                        f"durable appends, {c:>4} concurrent appenders: {r['rate']:,.0f}/s "
                        f"= {r['rate'] / base:.2f} x {what}, {r['rate'] / hashes_per_s:.3f} x SHA-256; "
                        f"ack p50 {r['p50_ms']:.1f} ms, p99 {p99:.1f} ms; mean batch {r['batch']:.0f} "
                        f"(medians of {len(runs)} alternated rounds; {load()})"
                    )
                    _print(
                        f"  where the time goes: {r['db_share']:.0%} of the wall clock in the database "
                        f"({r['commit_ms']:.1f} ms per batch: rows, then the commit's fsync; one commit per batch), "
                        f"{r['python_us']:.1f} us per append outside it (validation {1e6 / validate_rate:.1f} us, "
                        f"SHA-256 {1e6 / hashes_per_s:.1f} us, the rest futures, the hand-off and tiles)"
                    )
                if https:
                    h = sorted(https, key=lambda x: x["rate"])[len(https) // 2]
                    impl = "h11 + asyncio" if args.server_http == "h11" else "as shipped"
                    _print(
                        f"durable appends over HTTP (`sekisho log serve`, {impl}), {c:>4} connections: "
                        f"{h['rate']:,.0f}/s = {h['rate'] / base:.2f} x {what}; ack p50 {h['p50_ms']:.1f} ms, "
                        f"p99 {statistics.median(x['p99_ms'] for x in https):.1f} ms; the client took "
                        f"{h['client_share']:.0%} of a core (medians of {len(https)} alternated rounds; {load()})"
                    )
                if batched:
                    h = sorted(batched, key=lambda x: x["rate"])[len(batched) // 2]
                    _print(
                        f"durable appends over HTTP, {c:>4} appenders coalesced by the client into "
                        f"POST /append/batch over {args.batch_senders} connections: {h['rate']:,.0f}/s "
                        f"= {h['rate'] / base:.2f} x {what}; ack p50 {h['p50_ms']:.1f} ms, "
                        f"p99 {statistics.median(x['p99_ms'] for x in batched):.1f} ms; "
                        f"{h['per_request']:.0f} entries per request; the client took {h['client_share']:.0%} "
                        f"of a core (medians of {len(batched)} alternated rounds; {load()})"
                    )
            if args.verify > 0 and not args.http_only:
                svc = db.fresh_log("verify")
                try:
                    per_m = verify_timing(svc, entries, args.verify)
                    _print(f"full verification ({args.verify:,} leaves): {per_m:.1f} s per million leaves")
                finally:
                    svc.close()
            if (url or args.big_sqlite) and args.big > 0 and not args.http_only:
                svc = db.fresh_log("big")
                try:
                    started = time.perf_counter()
                    bulk_load(svc, (i.to_bytes(8, "big") for i in range(args.big)), args.big)
                    built = time.perf_counter() - started
                    t = proof_timing(svc, args.big, proofs)
                    _print(
                        f"tree of {args.big:,} leaves (bulk-loaded in {built:.0f} s): inclusion proof "
                        f"{t['inclusion_mean_ms']:.2f} ms mean, {t['inclusion_p99_ms']:.2f} ms p99; "
                        f"consistency proof {t['consistency_mean_ms']:.2f} ms mean"
                    )
                finally:
                    svc.close()
        finally:
            db.drop()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
