"""Bulk import of synthetic residents into one municipal register, beside the raw load of the same rows.

    python -m bench register_import            # 1,000,000 rows (make bench)
    python bench/register_import.py --rows 200000
    python -m bench register_import --tiny     # a smoke run (tests/bench): a few hundred rows, fresh files

For each database the same file is imported through ``RegisterService.import_file`` (validation, handles,
roots, history rows, one transaction) and, in the same run, the very rows it stored are loaded again into a
fresh copy of the same tables the raw way — ``executemany`` in one transaction on SQLite, binary ``COPY`` with
psycopg 3 on PostgreSQL — with the same index handling as ours (at ``bulk.DEFER_INDEXES_FROM`` rows or more: drop
the secondary indexes, load, rebuild them, all in the one transaction).  Ours and raw alternate, round after round
(``--rounds``, at least 3), each into fresh tables; the medians are compared and the ratio is ours ÷ raw.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench._fair import alternate, load
from sekisho.config import Home
from sekisho.node.registers import create_register
from sekisho.registry import bulk
from sekisho.registry import store as st
from sekisho.registry.service import RegisterService
from sekisho.storage import open_party_db
from sekisho.synth.residents import generate_file

GIFU = "212016"


def _synth(rows: int, workdir: Path) -> Path:
    path = workdir / f"gifu-{rows}.csv"
    if not path.exists():
        t = time.perf_counter()
        generate_file(path, municipality=GIFU, count=rows, seed=1, as_of=date(2026, 11, 1))
        el = time.perf_counter() - t
        print(f"synthetic file: {rows:,} rows in {el:.1f} s ({rows / el:,.0f} rows/s)", flush=True)
    return path


def _ours(home: Home, path: Path, parts: int | None, *, network: bool = False) -> tuple[float, RegisterService]:
    if network:
        # with the network's keys present, every imported record also gets its PP = Enc_Y(P)
        from sekisho.pseudonyms.service import init_network

        home.root.mkdir(parents=True, exist_ok=True)
        init_network(home, passphrase=b"bench", scrypt_n=2**14)
    svc = create_register(home, GIFU)
    t = time.perf_counter()
    result = svc.import_file(path, parts=parts)
    el = time.perf_counter() - t
    assert result.rows > 0
    return el, svc


def _stored(svc: RegisterService) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with svc.engine.connect() as conn:
        households = [tuple(r) for r in conn.execute(sa.select(*[st.household.c[c] for c in bulk.HOUSEHOLD_COLUMNS]))]
        residents = [tuple(r) for r in conn.execute(sa.select(*[st.resident.c[c] for c in bulk.RESIDENT_COLUMNS]))]
    return households, residents


def _deferred(rows: int) -> list[sa.Index]:
    """The indexes ours drops and rebuilds for a load of this many rows into an empty register (bulk.Writer)."""
    if rows < bulk.DEFER_INDEXES_FROM:
        return []
    indexes = {str(ix.name): ix for ix in st.resident.indexes}
    return [indexes[name] for name in bulk._DEFERRABLE]


def _raw_sqlite(home: Home, households: list[tuple[Any, ...]], residents: list[tuple[Any, ...]]) -> float:
    engine = open_party_db(home, "municipality/212016", ["registry"], create=True)
    engine.dispose()
    import sqlite3

    db = home.party_dir("municipality/212016") / "party.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    # the same rows as the stored ones, converted the way the driver stores them
    dialect = sa.create_engine("sqlite://").dialect
    procs = [st.resident.c[c].type.bind_processor(dialect) for c in bulk.RESIDENT_COLUMNS]
    hprocs = [st.household.c[c].type.bind_processor(dialect) for c in bulk.HOUSEHOLD_COLUMNS]
    res = [tuple(p(v) if p and v is not None else v for p, v in zip(procs, r, strict=True)) for r in residents]
    hh = [tuple(p(v) if p and v is not None else v for p, v in zip(hprocs, r, strict=True)) for r in households]
    marks = ", ".join("?" * len(bulk.RESIDENT_COLUMNS))
    deferred = _deferred(len(res))
    rebuild = [str(sa.schema.CreateIndex(ix).compile(dialect=dialect)) for ix in deferred]
    t = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for ix in deferred:
        conn.execute(f"DROP INDEX {ix.name}")
    conn.executemany("INSERT INTO reg_household (id, handle, created_at) VALUES (?, ?, ?)", hh)
    conn.executemany(f"INSERT INTO reg_resident ({', '.join(bulk.RESIDENT_COLUMNS)}) VALUES ({marks})", res)
    for ddl in rebuild:
        conn.execute(ddl)
    conn.execute("COMMIT")
    el = time.perf_counter() - t
    conn.close()
    return el


def _raw_postgres(home: Home, households: list[tuple[Any, ...]], residents: list[tuple[Any, ...]]) -> float:
    engine = open_party_db(home, "municipality/212016", ["registry"], create=True)
    deferred = _deferred(len(residents))
    with engine.begin() as conn:
        t = time.perf_counter()
        for ix in deferred:
            conn.exec_driver_sql(f"DROP INDEX {ix.name}")
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur:  # type: ignore[union-attr]
            with cur.copy(f"COPY reg_household ({', '.join(bulk.HOUSEHOLD_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(bulk._pg_types(st.household, bulk.HOUSEHOLD_COLUMNS))
                for r in households:
                    cp.write_row(r)
            with cur.copy(f"COPY reg_resident ({', '.join(bulk.RESIDENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(bulk._pg_types(st.resident, bulk.RESIDENT_COLUMNS))
                for r in residents:
                    cp.write_row(r)
        for ix in deferred:
            ix.create(conn)
    el = time.perf_counter() - t  # the commit is inside: `begin()` commits on leaving the block
    engine.dispose()
    return el


def _drop_schemas(url: str, namespace: str) -> None:
    from sekisho.storage import create_engine_for

    engine = create_engine_for(url)
    with engine.begin() as conn:
        for schema in (
            conn.execute(sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": namespace + "%"})
            .scalars()
            .all()
        ):
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    engine.dispose()


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="bench/register_import.py")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--parts", type=int, default=None, help="preparing processes (default: one per core)")
    ap.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where synthetic files are kept between runs (default: $TMP/sekisho-bench)",
    )
    ap.add_argument(
        "--network-rows",
        type=int,
        default=200_000,
        help="also import this many rows into a register that has joined the network (PPs made at import); 0: skip",
    )
    ap.add_argument("--rounds", type=int, default=3, help="alternated rounds of ours and raw (median; at least 3)")
    ap.add_argument("--tiny", action="store_true", help="a smoke run: 300 rows, 100 with the network, fresh files")
    args = ap.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.tiny:
            args.rows, args.network_rows = 300, 100
            if args.workdir is None:  # not the shared cache: a smoke run must not depend on an earlier run's files
                args.workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sekisho-bench-")))
        if args.workdir is None:
            args.workdir = Path(tempfile.gettempdir()) / "sekisho-bench"
        args.workdir.mkdir(parents=True, exist_ok=True)
        _run(args)


def _run(args: argparse.Namespace) -> None:
    path = _synth(args.rows, args.workdir)
    pg_url = os.environ.get("SEKISHO_PG_URL")
    results: list[tuple[str, int, float, float]] = []
    print(f"before: {load()}", flush=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        counter = iter(range(10**6))

        def pair(label: str, file: Path, *, pg: bool = False, network: bool = False) -> None:
            """Ours then raw, into fresh tables each time, alternating for the rounds; medians of each."""
            stored: list[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = []
            ns = f"b{uuid.uuid4().hex[:8]}_"

            def home(kind: str) -> Home:
                root = Path(tmp) / f"{kind}{next(counter)}"
                return Home(root=root, db_url=pg_url, namespace=f"{ns}{root.name}") if pg else Home(root=root)

            def ours() -> float:
                el, svc = _ours(home("ours"), file, args.parts, network=network)
                stored.append(_stored(svc))
                svc.engine.dispose()
                return el

            def raw() -> float:
                households, residents = stored[-1]  # the very rows ours stored in this round
                if pg:
                    return _raw_postgres(home("raw"), households, residents)
                return _raw_sqlite(home("raw"), households, residents)

            try:
                ours_t, raw_t = alternate(args.rounds, ours, raw)
            finally:
                if pg and pg_url:
                    _drop_schemas(pg_url, ns)
            n = len(stored[-1][1])
            if network:
                assert all(r[3] is not None for r in stored[-1][1]), "every imported record has its PP"
            results.append((label, n, ours_t, raw_t))
            print(f"{label}: ours {n / ours_t:,.0f} rows/s, raw {n / raw_t:,.0f} rows/s ({load()})", flush=True)

        pair("SQLite", path)
        if pg_url:
            pair("PostgreSQL", path, pg=True)
        else:
            print("SEKISHO_PG_URL not set: PostgreSQL skipped (make bench starts one)", file=sys.stderr)
        if args.network_rows:
            pair("SQLite + PP", _synth(args.network_rows, args.workdir), network=True)
    print()
    print(
        "raw = executemany in one transaction (SQLite), binary COPY (PostgreSQL), same rows, same index handling "
        f"(drop, load, rebuild from {bulk.DEFER_INDEXES_FROM:,} rows); "
        f"medians of {max(args.rounds, 3)} alternated rounds"
    )
    print(f"after: {load()}")
    print(f"{'database':<12} {'rows':>10} {'ours rows/s':>12} {'raw rows/s':>12} {'ratio':>6}")
    for name, n, ours_t, raw_t in results:
        print(f"{name:<12} {n:>10,} {n / ours_t:>12,.0f} {n / raw_t:>12,.0f} {raw_t / ours_t:>6.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
