"""Bulk import: a whole file validated and written in one transaction — or nothing.

Row by row through SQLAlchemy costs several times the database's own insert rate, so the import has its own
path, built from three pieces:

* :func:`prepare` validates a stream of rows and turns each valid one into the exact tuple the database
  stores (values converted with the dialect's own bind processors, so a row written here reads back exactly
  like one written through SQLAlchemy).  It checks households as it goes and reports every bad row with its
  line number and every rule it breaks.
* :func:`import_file` runs :func:`prepare` in forked worker processes, one per core, each taking the
  households whose key hashes to it (so a household's checks stay in one process), and streams their chunks
  to the writer while they work.
* :class:`Writer` loads the chunks (``executemany`` on SQLite, binary ``COPY`` on PostgreSQL), writes one
  history row per resident with ``INSERT … SELECT`` in the database, and — for a load larger than the table —
  drops the resident table's secondary indexes first and builds them once at the end, which is cheaper than
  maintaining them row by row.  Rebuilding the unique indexes re-checks them: a violation fails the whole
  import.

Nothing is written if any row is bad: the writer's transaction is rolled back.  A file is imported once (its
SHA-256 names the batch that imported it), and a person once: a row repeating another, or a person with a live
record in the register, is a bad row (docs/import-format.md).  Workers die with the process that forked them.
"""

from __future__ import annotations

import base64
import codecs
import csv
import gc
import hashlib
import json
import multiprocessing
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from multiprocessing.connection import Connection as MPConnection
from multiprocessing.connection import wait as mp_wait
from pathlib import Path
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sekisho.errors import Conflict, ErrorList, InvalidInput, SekishoError
from sekisho.forking import die_with_parent, orphaned
from sekisho.protocols.handles import ALPHABET, format_handle
from sekisho.protocols.import_format import IMPORT_COLUMNS
from sekisho.registry import store as st
from sekisho.registry.keys import kana_key, name_key
from sekisho.registry.model import HEAD, EventKind, Status
from sekisho.registry.validate import ResidentItems, RowErrors, unknown_column, validate_columns
from sekisho.storage import is_postgres

RESIDENT_COLUMNS = (
    "id",
    "handle",
    "root",
    "pp",
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
HOUSEHOLD_COLUMNS = ("id", "handle", "created_at")

_PG_TYPES = {
    sa.Integer: "int4",
    sa.BigInteger: "int8",
    sa.LargeBinary: "bytea",
    sa.Boolean: "bool",
    sa.Date: "date",
    sa.DateTime: "timestamptz",
}

#: rows per chunk a worker hands to the writer
CHUNK = 5_000
#: below this many rows a load keeps the indexes (rebuilding them would cost more than maintaining them)
DEFER_INDEXES_FROM = 20_000

Row = tuple[Any, ...]
Errors = list[tuple[int, SekishoError]]


# --- reading ------------------------------------------------------------------------------------------------


#: a source row: (line number, cells in header order — or None when the line is unreadable, with the reason)
SourceRow = tuple[int, list[str] | None, str]
#: the columns a row is laid out in when it does not come from a CSV header (JSONL, in-process rows)
STANDARD_HEADER: tuple[str, ...] = IMPORT_COLUMNS


#: the text encodings an import file may come in: UTF-8 (a BOM is skipped), and for CSV also Shift_JIS as
#: Windows writes it (CP932) — what Excel in Japan saves "CSV (comma delimited)" as, so what a clerk has
UTF8, CP932 = "utf-8-sig", "cp932"


def _is_jsonl(path: Path) -> bool:
    return path.suffix.lower() in (".jsonl", ".ndjson")


def read_file(path: Path, *, encoding: str = UTF8) -> tuple[list[str], Iterator[SourceRow]]:
    """The header and rows of a CSV (header row first) or JSONL import file, in ``encoding`` (from
    :func:`file_facts`).  An unreadable line comes out as a row without cells, so that it is reported with its
    line number like any bad row."""
    if _is_jsonl(path):
        return list(STANDARD_HEADER), _jsonl_rows(path)
    f = path.open(encoding=encoding, newline="")
    reader = csv.reader(f)
    try:
        header = _header(reader)
    except SekishoError:
        f.close()
        raise
    return header, _csv_rows(f, reader, len(header))


def check_file_header(path: Path, *, encoding: str = UTF8) -> None:
    """Refuse a file whose header is not the import format (:func:`check_header`) without reading its rows."""
    if not _is_jsonl(path):
        with path.open(encoding=encoding, newline="") as f:
            _header(csv.reader(f))


def _header(reader: Any) -> list[str]:
    header = [name.strip() for name in next(reader, None) or []]
    check_header(header)
    return header


#: columns every file must have, whoever its residents are (the others are required of some residents only:
#: furigana of Japanese residents, the residence card of foreign ones; a village may have no town names)
REQUIRED_COLUMNS: tuple[str, ...] = (
    "household",
    "relationship",
    "birth_date",
    "sex",
    "nationality",
    "block",
    "became_resident_on",
    "address_set_on",
)
#: the header's line in a CSV file (errors about a whole column are reported there, once)
HEADER_LINE = 1


class HeaderErrors(ErrorList):
    """The header row is not the import format: nothing is read."""

    def __init__(self, errors: list[tuple[int, SekishoError]]) -> None:
        super().__init__(errors)
        self.message = "the header row does not match the import format; nothing was written"


def check_header(header: Sequence[str]) -> None:
    """Refuse a header with an unknown column (a misspelt optional column would silently lose its values),
    a column twice, or without a column every row needs — once, from the header, not once per row."""
    known = set(IMPORT_COLUMNS)
    if not any(name in known for name in header):
        raise InvalidInput("has no header row with the import-format columns", field="file")
    errors: list[tuple[int, SekishoError]] = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            errors.append((HEADER_LINE, InvalidInput("the column appears twice", field=name)))
        elif not name:
            errors.append((HEADER_LINE, InvalidInput("a column has no name", field="header")))
        elif name not in known:
            errors.append((HEADER_LINE, unknown_column(name)))
        seen.add(name)
    errors.extend(
        (HEADER_LINE, InvalidInput("the required column is missing", field=name))
        for name in REQUIRED_COLUMNS
        if name not in seen
    )
    if errors:
        raise HeaderErrors(errors)


def _csv_rows(f: Any, reader: Any, width: int) -> Iterator[SourceRow]:
    with f:
        for cells in reader:
            if len(cells) != width:
                if any(c.strip() for c in cells):
                    yield reader.line_num, None, "columns"
                continue
            yield reader.line_num, cells, ""


def _jsonl_rows(path: Path) -> Iterator[SourceRow]:
    with path.open(encoding="utf-8-sig") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
            if not isinstance(obj, dict):
                yield n, None, "json"
                continue
            unknown = next((k for k in obj if k not in _STANDARD), None)
            if unknown is not None:  # a misspelt key would silently lose its value
                yield n, None, _UNKNOWN + unknown
                continue
            yield n, [_text(obj.get(k)) for k in STANDARD_HEADER], ""


_STANDARD = frozenset(STANDARD_HEADER)
#: the reason of a JSON line with a key that is not a column: this prefix and the key
_UNKNOWN = "unknown:"


def _unreadable(reason: str) -> SekishoError:
    if reason.startswith(_UNKNOWN):
        return unknown_column(reason.removeprefix(_UNKNOWN))
    if reason == "json":
        return InvalidInput("is not a JSON object", field="line")
    return InvalidInput("has the wrong number of columns", field="line")


def rows_from_mappings(rows: Iterable[tuple[int, Mapping[str, str]]]) -> Iterator[SourceRow]:
    """In-process rows (line number, mapping) as source rows in :data:`STANDARD_HEADER` order."""
    for line, row in rows:
        yield line, [_text(row.get(k)) for k in STANDARD_HEADER], ""


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


class FileFacts(NamedTuple):
    sha256: str
    lines: int
    encoding: str


def file_facts(path: Path) -> FileFacts:
    """SHA-256 of the file (recorded with the batch), its number of lines (for progress and planning) and its
    text encoding: UTF-8 when the whole file decodes as UTF-8, else CP932 when it decodes as that (CSV only).
    Decided before any row is read, so that a file in another encoding is refused whole, with one message."""
    digest = hashlib.sha256()
    lines = 0
    utf8 = codecs.getincrementaldecoder(UTF8)()
    is_utf8 = True
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                lines += chunk.count(b"\n")
                if is_utf8:
                    try:
                        utf8.decode(chunk)
                    except UnicodeDecodeError:
                        is_utf8 = False
        if is_utf8:
            try:
                utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                is_utf8 = False
        if is_utf8:
            return FileFacts(digest.hexdigest(), lines, UTF8)
        if not _is_jsonl(path) and _decodes(path, CP932):
            return FileFacts(digest.hexdigest(), lines, CP932)
    except OSError as exc:
        raise InvalidInput("cannot be read", field="file") from exc
    if _is_jsonl(path):
        raise InvalidInput("is not UTF-8 text (JSON Lines must be UTF-8)", field="file")
    raise InvalidInput("is neither UTF-8 nor Shift_JIS (CP932) text", field="file")


# --- preparing rows -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs to turn valid rows into stored rows without asking the database."""

    municipality: str
    today: date
    batch_id: int
    first_resident_id: int
    first_household_id: int
    parts: int
    recorded_at: datetime
    postgres: bool
    #: polymorphic pseudonyms for a list of roots, when the network exists (None: the register has not joined)
    pp_of_roots: Callable[[list[bytes]], list[bytes]] | None = None
    #: :func:`person_key` of every live record already in the register
    registered: frozenset[int] = frozenset()


@dataclass
class _Household:
    id: int
    first_line: int
    heads: list[int] = field(default_factory=list)
    members: list[tuple[int, Any]] = field(default_factory=list)  # (line, address)


def _partition(key: str, parts: int) -> int:
    return zlib.crc32(key.encode()) % parts


class _Converter:
    """Python values → the values the driver is given for each column type (ISO text on SQLite)."""

    def __init__(self, postgres: bool) -> None:
        if postgres:
            self.date: Callable[[date], Any] = _identity
            self.ts: Callable[[datetime], Any] = _identity
            self.bool: Callable[[bool], Any] = _identity
        else:
            dialect = sa.create_engine("sqlite://").dialect

            def bind(column: sa.Column[Any]) -> Callable[[Any], Any]:
                # the SQLite dialect's own type (the generic Date and DateTime have no bind processor): the text
                # SQLAlchemy writes for the column elsewhere, made here once per value instead of by sqlite3's
                # deprecated default adapters on every row (which wrote another text: '… 12:00:00+00:00')
                return column.type.dialect_impl(dialect).bind_processor(dialect) or _identity

            self.date = bind(st.resident.c.filed_on)
            self.ts = bind(st.resident.c.created_at)
            self.bool = bind(st.resident.c.moving_out)
        self._dates: dict[date, Any] = {}

    def d(self, value: date) -> Any:
        out = self._dates.get(value)
        if out is None:
            out = self._dates[value] = self.date(value)
        return out


#: (line, :func:`person_key`) of each valid row of a chunk
Persons = list[tuple[int, int]]


def person_key(name_key: str, birth_date: str, sex: str, municipality: str, town: str, block: str) -> int:
    """Who a record is, for the one-live-record rule at import (docs/import-format.md): the folded name (variant
    kanji, width and kana folded, as search folds them), the birth date, sex and the address without its 方書.
    Hashed (128 bits: no two people collide in practice) so that millions fit in memory."""
    text = "\x1f".join((name_key, birth_date, sex, municipality, town, block))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big")


class _People:
    """The one-live-record rule across a whole file (whatever worker a row went to) and against the register."""

    def __init__(self, registered: frozenset[int]) -> None:
        self.registered = registered
        self.first: dict[int, int] = {}
        self.repeated: dict[int, list[int]] = {}

    def see(self, persons: Persons) -> Errors:
        """Rows that are already in the register (said at once); repeats within the file wait for :meth:`repeats`,
        so that each is reported against the earliest line, whatever order the workers' chunks arrive in."""
        errors: Errors = []
        for line, key in persons:
            if key in self.registered:
                errors.append((line, Conflict(_REGISTERED, field="person")))
            first = self.first.setdefault(key, line)
            if first != line:
                self.repeated.setdefault(key, []).append(line)
        return errors

    def repeats(self) -> Errors:
        errors: Errors = []
        for key, lines in self.repeated.items():
            first = min(self.first[key], *lines)
            errors.extend(
                (line, InvalidInput(f"repeats the person of line {first} ({_SAME})", field="person"))
                for line in sorted({self.first[key], *lines} - {first})
            )
        return errors


_SAME = "same name, birth date, sex and address"
_REGISTERED = f"already has a live record in this register ({_SAME})"


def prepare(
    header: Sequence[str], rows: Iterable[SourceRow], plan: Plan
) -> Iterator[tuple[list[Row], list[Row], Errors]]:
    """Validate rows and yield chunks of (household rows, resident rows, errors), in this process.

    Once any error is found no more rows are built (nothing will be written), but validation goes on so that
    every bad row is reported.  Household checks (one head, one address) come with the last chunk, a person
    repeated within the file after it.
    """
    people = _People(plan.registered)
    for households, residents, errors, persons in _prepare(header, rows, plan):
        yield households, residents, errors + people.see(persons)
    if repeats := people.repeats():
        yield [], [], repeats


def _prepare(
    header: Sequence[str], rows: Iterable[SourceRow], plan: Plan, part: int = 0
) -> Iterator[tuple[list[Row], list[Row], Errors, Persons]]:
    """:func:`prepare` of the rows of partition ``part``, with each chunk's :data:`Persons` (the rule that a
    person is in the file once is checked where every partition's rows meet)."""
    conv = _Converter(plan.postgres)
    ts = conv.ts(plan.recorded_at)
    false, true = conv.bool(False), conv.bool(True)
    active = Status.ACTIVE.value
    households: dict[str, _Household] = {}
    state = {"residents": 0, "households": 0, "failed": False}
    stride = plan.parts

    hidx = list(header).index("household")
    absent = set(IMPORT_COLUMNS) - set(header)
    folded: set[str] = set()

    def build(batch: list[SourceRow]) -> tuple[list[Row], list[Row], Errors, Persons]:
        errors: Errors = []
        persons: Persons = []
        new_households: list[Row] = []
        out: list[Row] = []
        roots: list[bytes] = []
        cells = [c for _, c, _ in batch if c is not None]
        # one transpose turns the batch into columns (C speed), which is how validation reads it
        cols = dict(zip(header, (list(c) for c in zip(*cells, strict=True)), strict=True)) if cells else {}
        results = iter(validate_columns(cols, len(cells), municipality=plan.municipality, today=plan.today))
        for line, row, reason in batch:
            if row is None:
                errors.append((line, _unreadable(reason)))
                continue
            result = next(results)
            key = row[hidx].strip()
            if not key:
                errors.append((line, InvalidInput("is required", field="household")))
            if isinstance(result, RowErrors):
                for e in result.errors:
                    column = _column_of(e.field)
                    if column not in absent:
                        errors.append((line, e))
                    elif column not in folded:  # a column the file lacks: said once, from the header
                        folded.add(column)
                        errors.append((HEADER_LINE, InvalidInput(_ABSENT, field=column)))
                continue
            # the name key and the birth date's text serve both the person key and the stored row: made once
            nkey, born = name_key(result), result.birth_date.iso()
            a = result.address
            persons.append((line, person_key(nkey, born, result.sex, a.municipality_code, a.town, a.block)))
            if not key:
                continue
            hh = households.get(key)
            if hh is None:
                hh = households[key] = _Household(
                    id=plan.first_household_id + part + stride * state["households"], first_line=line
                )
                state["households"] += 1
                new_households.append((hh.id, _bulk_handle("H"), ts))
            if result.relationship == HEAD:
                hh.heads.append(line)
            hh.members.append((line, result.address))
            rid = plan.first_resident_id + part + stride * state["residents"]
            state["residents"] += 1
            root = os.urandom(32)
            roots.append(root)
            out.append(_row(result, nkey, born, rid, hh.id, root, plan.batch_id, ts, conv, active, true, false))
        if errors:
            state["failed"] = True
        if state["failed"]:
            return [], [], errors, persons  # nothing will be written: stop building
        if plan.pp_of_roots is not None and out:
            pps = plan.pp_of_roots(roots)
            out = [(r[0], r[1], r[2], pps[i], *r[4:]) for i, r in enumerate(out)]
        return new_households, out, errors, persons

    batch: list[SourceRow] = []
    for item in rows:
        cells = item[1]
        if stride > 1 and _partition(cells[hidx].strip() if cells is not None else "", stride) != part:
            continue
        batch.append(item)
        if len(batch) >= CHUNK:
            yield build(batch)
            batch = []
    last = build(batch) if batch else ([], [], [], [])
    tail: Errors = []
    for hh in households.values():
        tail.extend(_household_errors(hh))
    yield (last[0], last[1], last[2] + tail, last[3]) if not tail else ([], [], last[2] + tail, last[3])


_ABSENT = "the column is missing, and some rows need it"


def _column_of(field: str | None) -> str:
    return (field or "").removeprefix("address.")


def _household_errors(hh: _Household) -> Errors:
    errors: Errors = []
    if not hh.heads:
        errors.append((hh.first_line, InvalidInput("the household has no head (世帯主)", field="household")))
    for line in hh.heads[1:]:
        errors.append((line, InvalidInput("the household already has a head (世帯主)", field="relationship")))
    head_line = hh.heads[0] if hh.heads else hh.first_line
    address = next(a for line, a in hh.members if line == head_line)
    for line, a in hh.members:
        if a != address:
            errors.append((line, InvalidInput("differs from the household's address", field="address")))
    return errors


def _row(
    it: ResidentItems,
    nkey: str,
    born: str,
    rid: int,
    household_id: int,
    root: bytes,
    batch_id: int,
    ts: Any,
    conv: _Converter,
    active: str,
    true: Any,
    false: Any,
) -> Row:
    a = it.address
    f = it.foreign
    d = conv.d
    return (
        rid,
        _bulk_handle(""),
        root,
        None,
        active,
        1,
        household_id,
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
        born,
        it.sex,
        it.nationality,
        json.dumps(f.as_dict(), ensure_ascii=False) if f is not None else None,
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
        nkey,
        kana_key(it),
        ts,
        ts,
        batch_id,
    )


def _identity(value: Any) -> Any:
    return value


# Handles are drawn in blocks: base32 of 7 random bytes gives 11.2 symbols, of which the 10 taken per handle carry
# 50 uniformly random bits.  The database's unique constraint is the last word on collisions.
_B32_TO_HANDLE = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET)
_handle_pool: list[str] = []


def _bulk_handle(prefix: str) -> str:
    if not _handle_pool:
        n = 4096
        encoded = base64.b32encode(os.urandom(7 * n)).decode().translate(_B32_TO_HANDLE)
        # skip the symbol that may straddle the previous handle's bytes
        _handle_pool.extend(encoded[i * 56 // 5 + 1 : i * 56 // 5 + 11] for i in range(n))
    return format_handle(_handle_pool.pop(), prefix)


# --- parallel preparation -----------------------------------------------------------------------------------


def _worker(
    path: Path, plan: Plan, part: int, conn: Any, encoding: str, parent_pid: int, others: Sequence[Any]
) -> None:
    _detach_from_caller(parent_pid, others)
    _handle_pool.clear()  # inherited from the parent at fork: every process must draw its own
    gc.disable()  # a short-lived process making millions of acyclic objects: the collector only costs time
    try:
        header, rows = read_file(path, encoding=encoding)
        for item in _prepare(header, rows, plan, part):
            if orphaned(parent_pid):  # where the kernel cannot kill this process with its parent
                os._exit(1)
            conn.send(item)
        conn.send(None)
    except (BrokenPipeError, ConnectionResetError):
        os._exit(1)  # the parent has gone: nobody is left to tell
    except SekishoError as exc:
        _send_or_exit(conn, exc)
    except BaseException as exc:  # pragma: no cover - reported to the parent, never swallowed
        _send_or_exit(conn, RuntimeError(f"import worker failed: {type(exc).__name__}"))
    finally:
        conn.close()


def _send_or_exit(conn: Any, item: object) -> None:
    try:
        conn.send(item)
    except OSError:
        os._exit(1)


def _detach_from_caller(parent_pid: int, others: Sequence[Any]) -> None:
    """A worker dies with the parent that forked it.  Killed (SIGKILL) parents run no cleanup, so:

    * on Linux the kernel sends the worker SIGKILL when the parent dies (``PR_SET_PDEATHSIG``); the worker holds
      a copy of the parent's database connection (forked after the writer's transaction began), and only when
      every copy is closed does the server see the session end and release the killed transaction's locks;
    * the read ends of every pipe, inherited at fork, are closed here, so that once the parent is gone a send
      fails (EPIPE) instead of blocking forever on a pipe that this or a sibling worker still "reads";
    * stdin, stdout and stderr go to /dev/null: a worker prints nothing (it reports through its pipe), and must
      not keep the caller's terminal or pipe (``import … | tee``) open.
    """
    die_with_parent(parent_pid)
    for other in others:
        other.close()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def prepare_file(path: Path, plan: Plan, *, encoding: str = UTF8) -> Iterator[tuple[list[Row], list[Row], Errors]]:
    """:func:`prepare` over a file, in ``plan.parts`` forked processes (in this process when parts == 1)."""
    if plan.parts == 1:
        header, rows = read_file(path, encoding=encoding)
        yield from prepare(header, rows, plan)
        return
    check_file_header(path, encoding=encoding)  # a bad header is refused here, before any worker starts
    ctx = multiprocessing.get_context("fork")
    said: set[tuple[str | None, str]] = set()
    people = _People(plan.registered)
    pipes: list[MPConnection] = []
    procs = []
    for part in range(plan.parts):
        parent, child = ctx.Pipe(duplex=False)
        # the worker closes its copies of every read end made so far, its own included
        p = ctx.Process(
            target=_worker,
            args=(path, plan, part, child, encoding, os.getpid(), [*pipes, parent]),
            daemon=True,
        )
        p.start()
        child.close()
        pipes.append(parent)
        procs.append(p)
    try:
        live: list[MPConnection] = list(pipes)
        while live:
            for ready in mp_wait(live):
                conn = cast(MPConnection, ready)
                try:
                    item = conn.recv()
                except EOFError:
                    raise RuntimeError("an import worker exited without finishing") from None
                if item is None:
                    live.remove(conn)
                elif isinstance(item, BaseException):
                    raise item
                else:
                    households, residents, errors, persons = item
                    if errors:  # every worker reports a missing column: once is enough
                        errors = [e for e in errors if e[0] != HEADER_LINE or (e[1].field, e[1].message) not in said]
                        said.update((e[1].field, e[1].message) for e in errors if e[0] == HEADER_LINE)
                    yield households, residents, errors + people.see(persons)
        if repeats := people.repeats():
            yield [], [], repeats
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
        for conn in pipes:
            conn.close()


# --- writing ------------------------------------------------------------------------------------------------


_DEFERRABLE = (
    "reg_resident_household",
    "reg_resident_name_key",
    "reg_resident_kana_key",
    "reg_resident_one_head",
    "reg_resident_one_live_record",
)


class Writer:
    """Loads prepared chunks into one register inside the caller's transaction."""

    def __init__(self, conn: Connection, *, expected_rows: int) -> None:
        self.conn = conn
        self.pg = is_postgres(conn)
        self.rows = 0
        self.households = 0
        if self.pg:
            # ids are planned in bulk: keep other writers out until the sequences have moved on
            # (and reg_batch: a second import of the same file waits, then sees the first one's batch)
            conn.exec_driver_sql("LOCK TABLE reg_batch, reg_household, reg_resident, reg_history IN EXCLUSIVE MODE")
        existing = int(conn.execute(sa.select(sa.func.count()).select_from(st.resident)).scalar_one())
        self.existing = existing
        self.defer_indexes = expected_rows >= DEFER_INDEXES_FROM and expected_rows >= existing
        self._copy: Any = None
        self._copy_cm: Any = None
        self._cursor: Any = None

    def plan(self, *, municipality: str, today: date, parts: int, source_sha256: str, actor: str, **kw: Any) -> Plan:
        # an import that committed and was not seen to (killed before its success line) must not double the
        # register when it is run again
        prior = self.conn.execute(
            sa.select(st.batch.c.id).where(st.batch.c.kind == "import", st.batch.c.source_sha256 == source_sha256)
        ).first()
        if prior is not None:
            raise Conflict(f"this file was imported already (batch {prior.id}); nothing was written", field="file")
        now = st.utcnow()
        self.batch_id = int(
            self.conn.execute(
                st.batch.insert().values(
                    kind="import", source_sha256=source_sha256, rows=0, actor=actor, recorded_at=now
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
        self.recorded_at = now
        self.actor = actor
        first_h = (
            int(self.conn.execute(sa.select(sa.func.coalesce(sa.func.max(st.household.c.id), 0))).scalar_one()) + 1
        )
        first_r = int(self.conn.execute(sa.select(sa.func.coalesce(sa.func.max(st.resident.c.id), 0))).scalar_one()) + 1
        if self.defer_indexes:
            for name in _DEFERRABLE:
                self.conn.exec_driver_sql(f"DROP INDEX {name}")
        return Plan(
            municipality=municipality,
            today=today,
            batch_id=self.batch_id,
            first_resident_id=first_r,
            first_household_id=first_h,
            parts=parts,
            recorded_at=now,
            postgres=self.pg,
            registered=self._registered() if self.existing else frozenset(),
            **kw,
        )

    def _registered(self) -> frozenset[int]:
        r = st.resident.c
        rows = self.conn.execute(
            sa.select(r.name_key, r.birth_date, r.sex, r.address_code, r.town, r.block).where(
                r.status.in_([Status.ACTIVE.value, Status.INCOMING.value])
            )
        )
        return frozenset(person_key(*row) for row in rows)

    def write(self, households: Sequence[Row], residents: Sequence[Row]) -> None:
        raw = self.conn.connection.dbapi_connection
        if self.pg:
            with raw.cursor() as cur:  # type: ignore[union-attr]
                if households:
                    with cur.copy(
                        f"COPY reg_household ({', '.join(HOUSEHOLD_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
                    ) as cp:
                        cp.set_types(_pg_types(st.household, HOUSEHOLD_COLUMNS))
                        for r in households:
                            cp.write_row(r)
                if residents:
                    with cur.copy(
                        f"COPY reg_resident ({', '.join(RESIDENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
                    ) as cp:
                        cp.set_types(_pg_types(st.resident, RESIDENT_COLUMNS))
                        write_row = cp.write_row
                        for r in residents:
                            write_row(r)
        else:
            cur = raw.cursor()  # type: ignore[union-attr]
            if households:
                cur.executemany("INSERT INTO reg_household (id, handle, created_at) VALUES (?, ?, ?)", households)
            if residents:
                # column names are this module's constants, values are bound parameters
                cur.executemany(_SQLITE_INSERT, residents)
            cur.close()
        self.rows += len(residents)
        self.households += len(households)

    def finish(self) -> None:
        """History rows, the indexes (re-checked), the sequences, and the batch's row count."""
        r = st.resident.c
        self.conn.execute(
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
                    sa.literal(self.recorded_at, st.history.c.recorded_at.type),
                    sa.literal(self.actor),
                    r.batch_id,
                    sa.null(),
                    sa.literal(""),
                ).where(r.batch_id == self.batch_id),
            )
        )
        if self.defer_indexes:
            indexes = {str(ix.name): ix for ix in st.resident.indexes}
            for name in _DEFERRABLE:
                try:
                    indexes[name].create(self.conn)
                except sa.exc.IntegrityError as exc:
                    raise InvalidInput("the file repeats a person or a household head", field="file") from exc
        if self.pg:
            for table in ("reg_household", "reg_resident"):
                self.conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
                )
        self.conn.execute(st.batch.update().where(st.batch.c.id == self.batch_id).values(rows=self.rows))


_SQLITE_INSERT = (
    f"INSERT INTO reg_resident ({', '.join(RESIDENT_COLUMNS)}) VALUES ({', '.join('?' * len(RESIDENT_COLUMNS))})"  # noqa: S608
)


def _pg_types(table: sa.Table, columns: Sequence[str]) -> list[str]:
    out = []
    for name in columns:
        col_type = type(table.c[name].type)
        out.append(next((v for k, v in _PG_TYPES.items() if issubclass(col_type, k)), "text"))
    return out


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk load: the rows are acyclic, and with millions of live
    objects its full passes cost ~40% of the preparation time (measured)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def default_parts() -> int:
    """One preparing process per core (the writer mostly waits on the database)."""
    return max(1, min(os.cpu_count() or 1, 8))
