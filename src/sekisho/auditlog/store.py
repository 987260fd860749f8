"""The access log's tables, and the queries on them.

The log party keeps every leaf (its entry and its leaf hash, ``log_leaf``), every *full* tile (``log_tile``:
256 hashes of one level and their root) and every checkpoint it signed.  Partial tiles are never stored: level 0
is read from ``log_leaf`` and level L > 0 from the roots of the level L-1 tiles, so nothing stored ever changes
and a batch writes one COPY of leaves plus one row per tile it completes.

The witness (run by the watchdog, in the watchdog's database) keeps the last checkpoint it cosigned per log
and the alerts it raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from sekisho.errors import IntegrityError
from sekisho.transparency.tiles import TILE_WIDTH, TileRef

metadata = sa.MetaData()

leaf = sa.Table(
    "log_leaf",
    metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("entry", sa.LargeBinary, nullable=False),
)

tile = sa.Table(
    "log_tile",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hashes", sa.LargeBinary, nullable=False),  # 256 * 32 bytes
    sa.Column("root", sa.LargeBinary(32), nullable=False),  # MTH of the 256 hashes: one hash of the level above
)

checkpoint = sa.Table(
    "log_checkpoint",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),  # signed by the log
    sa.Column("witnessed_note", sa.Text, nullable=True),  # with the witnesses' cosignatures
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("witnessed_at", sa.DateTime(timezone=True), nullable=True),
)

witness_state = sa.Table(
    "log_witness_state",
    metadata,
    sa.Column("origin", sa.String(255), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

alert = sa.Table(
    "log_alert",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("origin", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),  # fork | rollback | inconsistent | bad-signature | ...
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=True),
    sa.Column("evidence", sa.Text, nullable=True),  # the offending note, kept as proof of misbehaviour
)
sa.Index("log_alert_at", alert.c.at)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- leaves and tiles -----------------------------------------------------------------------------------


def log_size(conn: sa.Connection) -> int:
    """One past the highest stored index (gaps are found by verification, not here)."""
    top = conn.execute(sa.select(sa.func.max(leaf.c.idx))).scalar()
    return 0 if top is None else int(top) + 1


def leaf_hashes(conn: sa.Connection, start: int, end: int) -> list[bytes]:
    rows = conn.execute(
        sa.select(leaf.c.idx, leaf.c.leaf_hash).where(leaf.c.idx >= start, leaf.c.idx < end).order_by(leaf.c.idx)
    ).all()
    _check_contiguous([r[0] for r in rows], start, end, "log_leaf")
    return [bytes(r[1]) for r in rows]


def find_leaf_hashes(conn: sa.Connection, wanted: set[bytes], start: int, *, chunk: int = 50_000) -> dict[bytes, int]:
    """Where the leaves with these hashes are, looking from index ``start`` to the end (a retry's scan: the
    log keeps no index by hash, so the caller bounds the range with the smallest index the entry can have)."""
    found: dict[bytes, int] = {}
    while len(found) < len(wanted):
        rows = conn.execute(
            sa.select(leaf.c.idx, leaf.c.leaf_hash).where(leaf.c.idx >= start).order_by(leaf.c.idx).limit(chunk)
        ).all()
        for idx, h in rows:
            if bytes(h) in wanted:
                found.setdefault(bytes(h), int(idx))
        if len(rows) < chunk:
            break
        start = int(rows[-1][0]) + 1
    return found


def entries(conn: sa.Connection, start: int, end: int) -> list[bytes]:
    rows = conn.execute(
        sa.select(leaf.c.idx, leaf.c.entry).where(leaf.c.idx >= start, leaf.c.idx < end).order_by(leaf.c.idx)
    ).all()
    _check_contiguous([r[0] for r in rows], start, end, "log_leaf")
    return [bytes(r[1]) for r in rows]


def tile_roots(conn: sa.Connection, level: int, start: int, end: int) -> list[bytes]:
    rows = conn.execute(
        sa.select(tile.c.idx, tile.c.root)
        .where(tile.c.level == level, tile.c.idx >= start, tile.c.idx < end)
        .order_by(tile.c.idx)
    ).all()
    _check_contiguous([r[0] for r in rows], start, end, "log_tile")
    return [bytes(r[1]) for r in rows]


def _check_contiguous(found: Sequence[int], start: int, end: int, table: str) -> None:
    if len(found) != end - start or (found and (found[0] != start or found[-1] != end - 1)):
        missing = next((start + i for i, idx in enumerate(found) if idx != start + i), start + len(found))
        raise IntegrityError(f"row missing at index {missing}", field=table)


def leaf_page(conn: sa.Connection, start: int, limit: int) -> list[tuple[int, bytes, bytes]]:
    """Up to ``limit`` rows (idx, leaf_hash, entry) from ``start`` on, in index order, on the raw DBAPI cursor:
    full verification reads every row, and SQLAlchemy's row objects would double its cost."""
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    dbapi: Any = conn.connection.dbapi_connection
    cur = dbapi.cursor()
    try:
        cur.execute(
            f"SELECT idx, leaf_hash, entry FROM log_leaf WHERE idx >= {mark} ORDER BY idx LIMIT {mark}",  # noqa: S608
            (start, limit),
        )
        rows: list[tuple[int, bytes, bytes]] = cur.fetchall()
        return rows
    finally:
        cur.close()


def read_tiles(conn: sa.Connection, refs: Sequence[TileRef]) -> dict[TileRef, bytes]:
    """Tile bytes: full tiles from ``log_tile``; partial ones from leaves (level 0) or the level below's roots."""
    out: dict[TileRef, bytes] = {}
    full = [r for r in refs if r.full and r.level >= 0]
    if full:
        rows = conn.execute(
            sa.select(tile.c.level, tile.c.idx, tile.c.hashes).where(
                sa.tuple_(tile.c.level, tile.c.idx).in_([(r.level, r.index) for r in full])
            )
        ).all()
        got = {(int(r[0]), int(r[1])): bytes(r[2]) for r in rows}
        for r in full:
            data = got.get((r.level, r.index))
            if data is None:
                raise IntegrityError(f"tile {r.path} is missing", field="log_tile")
            out[r] = data
    for r in refs:
        if r.full or r.level < 0:
            continue
        start = r.index * TILE_WIDTH
        if r.level == 0:
            out[r] = b"".join(leaf_hashes(conn, start, start + r.width))
        else:
            out[r] = b"".join(tile_roots(conn, r.level - 1, start, start + r.width))
    return out


# --- the hot path: one batch of leaves in one transaction, on the raw DBAPI connection --------------------

Tile = tuple[int, int, bytes, bytes]  # level, index, 256 hashes, root

_SQLITE_LEAF = "INSERT INTO log_leaf (idx, leaf_hash, entry) VALUES (?, ?, ?)"
_SQLITE_TILE = "INSERT INTO log_tile (level, idx, hashes, root) VALUES (?, ?, ?, ?)"
PG_COPY_LEAVES = "COPY log_leaf (idx, leaf_hash, entry) FROM STDIN (FORMAT BINARY)"
PG_INSERT_TILE = "INSERT INTO log_tile (level, idx, hashes, root) VALUES (%s, %s, %s, %s)"


def write_batch_sqlite(
    dbapi: Any, start: int, hashes: Sequence[bytes], data: Sequence[bytes], tiles: Sequence[Tile]
) -> None:
    cur = dbapi.cursor()
    try:
        cur.executemany(_SQLITE_LEAF, zip(range(start, start + len(data)), hashes, data, strict=True))
        if tiles:
            cur.executemany(_SQLITE_TILE, tiles)
    finally:
        cur.close()


def write_batch_postgres(
    dbapi: Any, start: int, hashes: Sequence[bytes], data: Sequence[bytes], tiles: Sequence[Tile]
) -> None:
    with dbapi.cursor() as cur:
        # binary COPY: the cheapest way into PostgreSQL, ~1 µs of Python per row
        with cur.copy(PG_COPY_LEAVES) as copy:
            copy.set_types(["int8", "bytea", "bytea"])
            write = copy.write_row
            for row in zip(range(start, start + len(data)), hashes, data, strict=True):
                write(row)
        if tiles:
            cur.executemany(PG_INSERT_TILE, tiles)


# --- checkpoints --------------------------------------------------------------------------------------


def latest_checkpoint(conn: sa.Connection, *, witnessed: bool) -> Any:
    q = sa.select(checkpoint).order_by(checkpoint.c.size.desc()).limit(1)
    if witnessed:
        q = q.where(checkpoint.c.witnessed_note.is_not(None))
    return conn.execute(q).first()


def checkpoint_at(conn: sa.Connection, size: int) -> Any:
    return conn.execute(sa.select(checkpoint).where(checkpoint.c.size == size)).first()


def all_checkpoints(conn: sa.Connection) -> list[Any]:
    return list(conn.execute(sa.select(checkpoint).order_by(checkpoint.c.size)).all())


def insert_checkpoint(conn: sa.Connection, *, size: int, root_hash: bytes, note: str) -> None:
    conn.execute(checkpoint.insert().values(size=size, root_hash=root_hash, note=note, issued_at=utcnow()))


def set_witnessed(conn: sa.Connection, *, size: int, witnessed_note: str) -> None:
    conn.execute(
        checkpoint.update()
        .where(checkpoint.c.size == size)
        .values(witnessed_note=witnessed_note, witnessed_at=utcnow())
    )


# --- the witness's state (watchdog database) -----------------------------------------------------------


def witness_state_for_update(conn: sa.Connection, origin: str) -> Any:
    q = sa.select(witness_state).where(witness_state.c.origin == origin)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()  # check-and-update atomically (tlog-witness: no rollback by racing requests)
    return conn.execute(q).first()


def save_witness_state(conn: sa.Connection, *, origin: str, size: int, root_hash: bytes, note: str, new: bool) -> None:
    values = {"size": size, "root_hash": root_hash, "note": note, "updated_at": utcnow()}
    if new:
        conn.execute(witness_state.insert().values(origin=origin, **values))
    else:
        conn.execute(witness_state.update().where(witness_state.c.origin == origin).values(**values))


def insert_alert(
    conn: sa.Connection, *, origin: str, kind: str, detail: str, size: int | None, evidence: str | None
) -> None:
    conn.execute(
        alert.insert().values(at=utcnow(), origin=origin, kind=kind, detail=detail, size=size, evidence=evidence)
    )


def alerts(conn: sa.Connection, *, limit: int = 100) -> list[Any]:
    return list(conn.execute(sa.select(alert).order_by(alert.c.id.desc()).limit(limit)).all())
