"""The bulk import's write path: a whole validated file in one transaction, without going row by row through
SQLAlchemy (which costs several times the database's own insert rate).

SQLite gets one ``executemany`` per table; PostgreSQL gets binary ``COPY``.  History rows (one per resident,
kind ``registered``) are written by the database itself with ``INSERT … SELECT`` from the batch just loaded.
Values are converted with the dialect's own bind processors, so a row written here reads back exactly like
one written through SQLAlchemy.
"""

from __future__ import annotations

import base64
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sekisho.errors import InvalidInput, SekishoError
from sekisho.jp import text as jp_text
from sekisho.registry import store as st
from sekisho.registry.model import _ALPHABET, HEAD, EventKind, Status, format_handle
from sekisho.registry.validate import ResidentItems
from sekisho.storage import is_postgres

if TYPE_CHECKING:
    from sekisho.registry.service import ImportResult

RESIDENT_COLUMNS = (
    "id",
    "handle",
    "root",
    "status",
    "version",
    "household_id",
    "relationship",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "kana_confirmed",
    "former_family_name",
    "former_family_name_kana",
    "alias_name",
    "alias_name_kana",
    "alphabet_name",
    "birth_date",
    "sex",
    "nationality",
    "foreign_items",
    "postal_code",
    "address_code",
    "town",
    "block",
    "katagaki",
    "became_resident_on",
    "address_set_on",
    "filed_on",
    "previous_address",
    "honseki",
    "hittousha",
    "benefits",
    "moving_out",
    "name_key",
    "kana_key",
    "created_at",
    "updated_at",
    "batch_id",
)

_PG_TYPES = {
    sa.Integer: "int4",
    sa.BigInteger: "int8",
    sa.LargeBinary: "bytea",
    sa.Boolean: "bool",
    sa.Date: "date",
    sa.DateTime: "timestamptz",
}


def household_errors(valid: Sequence[tuple[int, str, ResidentItems]]) -> list[tuple[int, SekishoError]]:
    """Each household of the file has exactly one head and one address."""
    by_key: dict[str, list[tuple[int, ResidentItems]]] = defaultdict(list)
    for line, key, items in valid:
        by_key[key].append((line, items))
    errors: list[tuple[int, SekishoError]] = []
    for members in by_key.values():
        heads = [line for line, items in members if items.relationship == HEAD]
        if not heads:
            errors.append((members[0][0], InvalidInput("the household has no head (世帯主)", field="household")))
        for line in heads[1:]:
            errors.append((line, InvalidInput("the household already has a head (世帯主)", field="relationship")))
        address = next((items.address for _, items in members if items.relationship == HEAD), members[0][1].address)
        for line, items in members:
            if items.address != address:
                errors.append((line, InvalidInput("differs from the household's address", field="address")))
    return errors


def bulk_handles(n: int, prefix: str = "") -> list[str]:
    """``n`` random handles (the format of :func:`sekisho.registry.model.new_handle`), made in bulk."""
    # base32 of 7 random bytes gives 11.2 symbols; the 10 taken per handle carry 50 uniformly random bits
    raw = os.urandom(7 * n)
    table = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET)
    encoded = base64.b32encode(raw).decode().translate(table)
    out = []
    seen: set[str] = set()
    for i in range(n):
        start = i * 56 // 5 + 1  # skip the symbol that may straddle the previous handle's bytes
        handle = format_handle(encoded[start : start + 10], prefix)
        if handle in seen:  # a collision within the batch: draw again
            handle = bulk_handles(1, prefix)[0]
        seen.add(handle)
        out.append(handle)
    return out


@lru_cache(maxsize=1 << 16)
def _search_key(text: str) -> str:
    return jp_text.search_key(text)


def _processors(conn: Connection) -> dict[str, Callable[[Any], Any]]:
    dialect = conn.dialect
    procs: dict[str, Callable[[Any], Any]] = {}
    for name in RESIDENT_COLUMNS:
        proc = st.resident.c[name].type.bind_processor(dialect)
        if proc is not None:
            procs[name] = proc
    return procs


def write(
    conn: Connection, valid: Sequence[tuple[int, str, ResidentItems]], *, source_sha256: str, actor: str
) -> ImportResult:
    from sekisho.registry.service import ImportResult

    pg = is_postgres(conn)
    now = st.utcnow()
    if pg:
        # ids are allocated here, in bulk: keep concurrent inserts out until the sequences are moved on
        conn.exec_driver_sql("LOCK TABLE reg_household, reg_resident, reg_history IN EXCLUSIVE MODE")
    batch_id = int(
        conn.execute(
            st.batch.insert().values(
                kind="import", source_sha256=source_sha256, rows=len(valid), actor=actor, recorded_at=now
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    )
    next_household = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(st.household.c.id), 0))).scalar_one()) + 1
    next_resident = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(st.resident.c.id), 0))).scalar_one()) + 1

    keys = list(dict.fromkeys(key for _, key, _ in valid))
    household_ids = {key: next_household + i for i, key in enumerate(keys)}
    hh_handles = bulk_handles(len(keys), prefix="H")
    handles = bulk_handles(len(valid))
    roots = os.urandom(32 * len(valid))

    procs = _processors(conn)
    p_date = procs.get("became_resident_on", _identity)
    p_ts = procs.get("created_at", _identity)
    p_bool = procs.get("kana_confirmed", _identity)
    ts = p_ts(now)
    false = p_bool(False)
    true = p_bool(True)
    active = Status.ACTIVE.value
    date_cache: dict[date, Any] = {}

    def d(value: date) -> Any:
        out = date_cache.get(value)
        if out is None:
            out = date_cache[value] = p_date(value)
        return out

    rows: list[tuple[Any, ...]] = []
    append = rows.append
    for i, (_, key, it) in enumerate(valid):
        a = it.address
        f = it.foreign
        append(
            (
                next_resident + i,
                handles[i],
                roots[32 * i : 32 * i + 32],
                active,
                1,
                household_ids[key],
                it.relationship,
                it.family_name,
                it.given_name,
                it.family_name_kana,
                it.given_name_kana,
                true if it.kana_confirmed else false,
                it.former_family_name,
                it.former_family_name_kana,
                it.alias_name,
                it.alias_name_kana,
                it.alphabet_name,
                it.birth_date.iso(),
                it.sex,
                it.nationality,
                _foreign_json(f) if f is not None else None,
                a.postal_code,
                a.municipality_code,
                a.town,
                a.block,
                a.katagaki,
                d(it.became_resident_on),
                d(it.address_set_on),
                d(it.filed_on),
                it.previous_address,
                it.honseki,
                it.hittousha,
                ",".join(sorted(it.benefits)) if it.benefits else "",
                false,
                _search_key(it.family_name + it.given_name + it.alphabet_name + it.alias_name),
                _search_key(it.family_name_kana + it.given_name_kana + it.alias_name_kana),
                ts,
                ts,
                batch_id,
            )
        )
    household_rows = [(household_ids[k], hh_handles[i], ts) for i, k in enumerate(keys)]

    if pg:
        _copy(conn, "reg_household", ("id", "handle", "created_at"), household_rows, st.household)
        _copy(conn, "reg_resident", RESIDENT_COLUMNS, rows, st.resident)
    else:
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cur.executemany("INSERT INTO reg_household (id, handle, created_at) VALUES (?, ?, ?)", household_rows)
        # column names are this module's constants, values are bound parameters
        columns, marks = ", ".join(RESIDENT_COLUMNS), ", ".join("?" * len(RESIDENT_COLUMNS))
        cur.executemany(f"INSERT INTO reg_resident ({columns}) VALUES ({marks})", rows)  # noqa: S608
        cur.close()

    # one history row per resident, written by the database from the rows just loaded
    r = st.resident.c
    conn.execute(
        st.history.insert().from_select(
            [
                "resident_id",
                "version",
                "kind",
                "event_date",
                "filed_on",
                "late",
                "recorded_at",
                "actor",
                "batch_id",
                "changes",
                "note",
            ],
            sa.select(
                r.id,
                sa.literal(1),
                sa.literal(EventKind.REGISTERED.value),
                r.became_resident_on,
                r.filed_on,
                sa.false(),
                sa.literal(now, st.history.c.recorded_at.type),
                sa.literal(actor),
                r.batch_id,
                sa.null(),
                sa.literal(""),
            ).where(r.batch_id == batch_id),
        )
    )
    if pg:
        for table in ("reg_household", "reg_resident"):
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            )
    return ImportResult(batch_id=batch_id, rows=len(rows), households=len(keys))


def _identity(value: Any) -> Any:
    return value


@lru_cache(maxsize=1 << 14)
def _foreign_json_cached(items: Any) -> str:
    import json

    return json.dumps(items.as_dict(), ensure_ascii=False)


def _foreign_json(items: Any) -> str:
    return _foreign_json_cached(items)


def _copy(conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], t: sa.Table) -> None:
    types = []
    for name in columns:
        col_type = type(t.c[name].type)
        pg = next((v for k, v in _PG_TYPES.items() if issubclass(col_type, k)), "text")
        types.append(pg)
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:  # type: ignore[union-attr]
        copy.set_types(types)
        write_row = copy.write_row
        for row in rows:
            write_row(row)
