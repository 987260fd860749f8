"""The register of one municipality: every procedure in one transaction.

Reads write an access record in the same transaction as the read and return only after it commits: no
personal data leaves the register without a record of who took it, when and why.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sekisho.auditlog.entry import AccessRecordBuilder, derive_commitment_key
from sekisho.auditlog.merkle import hash_leaf
from sekisho.config import Home
from sekisho.errors import (
    Conflict,
    ErrorList,
    IntegrityError,
    InvalidInput,
    NotFound,
    Refused,
    SekishoError,
    Unavailable,
)
from sekisho.jp import text as jp_text
from sekisho.jp.catalogue import Municipality, get_municipality
from sekisho.jp.clock import JST, japan_today
from sekisho.registry import procedures as proc
from sekisho.registry import store as st
from sekisho.registry.interfaces import Directory, EventSink, RegistryIndex, TransferAnnex, TransferPackage
from sekisho.registry.keys import kana_key as _kana_key
from sekisho.registry.keys import name_key as _name_key
from sekisho.registry.model import (
    HEAD,
    ClosedReason,
    HistoryEntry,
    Household,
    Resident,
    Status,
    new_handle,
    new_household_handle,
    parse_handle,
    parse_household_handle,
)
from sekisho.registry.validate import IMPORT_COLUMNS, ResidentItems, RowErrors, parse_event_date, validate_items
from sekisho.storage import PartyNotSetUp, is_postgres, open_party_db

if TYPE_CHECKING:
    from sekisho.auditlog.client import AccessListItem, AccessLog
    from sekisho.jp.address import Address
    from sekisho.pseudonyms.group import Point
    from sekisho.registry.bulk import FileFacts

log = logging.getLogger("sekisho.registry")


@dataclass(frozen=True, slots=True)
class _Unpublished:
    row_id: int
    entry: bytes


#: the access records of the running transaction, to be appended to the public log once it commits
_UNPUBLISHED: ContextVar[list[_Unpublished] | None] = ContextVar("sekisho_unpublished_access", default=None)

CONTEXTS = ("registry",)

#: items of a full record, as an access record lists them
ALL_ITEMS = ("name", "kana", "birth_date", "sex", "address", "household", "nationality", "honseki", "history")


def party_of(code: str) -> str:
    return f"municipality/{code}"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is at the terminal: the clerk's id (never a name) and the purpose of the session."""

    clerk: str = "clerk"
    terminal: str | None = None


@dataclass(frozen=True, slots=True)
class ImportResult:
    batch_id: int
    rows: int
    households: int


@dataclass(frozen=True, slots=True)
class MoveInResult:
    resident: Resident
    #: True when this call found the move-in already done (a retry): nothing new was written
    already_done: bool = False


@dataclass(frozen=True, slots=True)
class PendingTransfer:
    """A move-out's open transfer (転出証明書情報), as the clerk looks it up again (e.g. the token was lost)."""

    handle: str
    token: str
    destination: str
    destination_code: str | None
    planned_on: date
    filed_on: date
    #: the move-in is due 14 days after moving (住基法 §22): this is that day if the person moves as planned
    move_in_by: date
    #: a card-based move (特例転入) must also move in within 30 days of the planned move-out date
    card_move_in_by: date


@dataclass(frozen=True, slots=True)
class AccessListing:
    """A resident's access list as the portal hands it over: everything needed to verify it offline."""

    handle: str
    #: the resident's commitment key: with it they recognise their entries (and can scan the whole log)
    k_res: bytes
    #: the latest checkpoint signed by the log and cosigned by the watchdog (signed note text)
    checkpoint: str
    items: list[AccessListItem]
    #: entries sealed until a later date: committed to the log now, listed from that date
    sealed_hidden: int
    #: accesses not yet covered by a witnessed checkpoint (listed with the next one)
    pending: int
    since_size: int | None
    consistency: list[bytes]

    def __repr__(self) -> str:  # never print the key
        return f"AccessListing(handle={self.handle!r}, items={len(self.items)}, pending={self.pending})"


class RegisterService:
    """Procedures and reads of one municipality's register (one database / schema)."""

    def __init__(
        self,
        engine: Engine,
        municipality: Municipality,
        *,
        actor: Actor | None = None,
        today: Callable[[], date] | None = None,
        directory: Directory | None = None,
        events: EventSink | None = None,
        pp_key: Point | None = None,
        index: RegistryIndex | None = None,
        annex: TransferAnnex | None = None,
        access_log: AccessLog | None = None,
    ) -> None:
        self.engine = engine
        #: the public access log: every access record is appended to it before the data it records leaves
        self.access_log = access_log
        #: support measures travel with a hand-over (default: this database's policy context, see _transfer_annex)
        self.annex = annex
        self.municipality = municipality
        self.code = municipality.code
        self.actor = actor or Actor()
        self._today = today or japan_today
        self._own_today = today is not None
        self.directory = directory
        self.events = events
        #: polymorphic pseudonyms for new roots, set when the register has joined the network
        self.pp_of_roots: Callable[[list[bytes]], list[bytes]] | None = None
        #: the network's public key Y: with it, every new record gets its polymorphic pseudonym PP = Enc_Y(P)
        self.pp_key = pp_key
        #: T1, T2 and the locator: new records are indexed under s_R·P after they commit
        self.index = index
        if pp_key is not None:
            # the bulk import's PPs (its writer calls this): in bulk, over a process pool
            self.pp_of_roots = bulk_pps(pp_key)
        #: one past the highest log index this register has been given: the log was at least that large
        #: before any record written from now on was sent (read from the database when first needed)
        self._log_floor: int | None = None

    # --- opening -----------------------------------------------------------------------------------------

    @classmethod
    def create(cls, home: Home, code: str, **kwargs: Any) -> RegisterService:
        """`registry init`: create (or reopen) the register of one municipality."""
        municipality = get_municipality(code)
        engine = open_party_db(home, party_of(municipality.code), CONTEXTS, create=True)
        kwargs.setdefault("pp_key", network_key(home))
        kwargs.setdefault("access_log", network_access_log(home))
        with engine.begin() as conn:
            existing = conn.execute(sa.select(st.meta.c.value).where(st.meta.c.key == "municipality")).scalar()
            if existing is None:
                conn.execute(st.meta.insert(), [{"key": "municipality", "value": municipality.code}])
                conn.execute(st.meta.insert(), [{"key": "created_at", "value": st.utcnow().isoformat()}])
            elif existing != municipality.code:
                raise Conflict("this database holds another municipality's register", field="db")
        return cls(engine, municipality, **kwargs)

    @classmethod
    def open(cls, home: Home, code: str, **kwargs: Any) -> RegisterService:
        municipality = get_municipality(code)
        try:
            engine = open_party_db(home, party_of(municipality.code), CONTEXTS)
        except PartyNotSetUp:
            raise NotFound(
                "no register for this municipality here (run `sekisho registry init`)", field="municipality"
            ) from None
        with engine.connect() as conn:
            existing = conn.execute(sa.select(st.meta.c.value).where(st.meta.c.key == "municipality")).scalar()
        if existing is None:
            raise NotFound("no register for this municipality here (run `sekisho registry init`)", field="municipality")
        if existing != municipality.code:
            raise Conflict("this database holds another municipality's register", field="db")
        kwargs.setdefault("pp_key", network_key(home))
        kwargs.setdefault("access_log", network_access_log(home))
        return cls(engine, municipality, **kwargs)

    def today(self) -> date:
        return self._today()

    def _policy_clock(self) -> datetime:
        """The annex's clock on this register's day: a register run on another day (a test's clock, a replay)
        must judge a support measure's expiry on that day, not on the machine's."""
        now = datetime.now(JST)
        return datetime.combine(self._today(), now.timetz()) if self._own_today else now

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One procedure's transaction; the access records it wrote reach the public log after it commits and
        before this returns — so the caller hands out nothing whose access is not in the log."""
        pending: list[_Unpublished] = []
        token = _UNPUBLISHED.set(pending)
        try:
            with self.engine.begin() as conn:
                yield conn
        finally:
            _UNPUBLISHED.reset(token)
        self._publish(pending)

    def _publish(self, pending: Sequence[_Unpublished], *, not_before: int | None = None) -> None:
        """Append the records' entries; ``not_before`` marks a retry (the entries may be in the log already,
        at that index or later) so that an append whose answer was lost is not made twice."""
        if not pending or self.access_log is None:
            return
        entries = [p.entry for p in pending]
        try:
            if not_before is None:
                receipts = self.access_log.append_many(entries)
            else:
                receipts = self.access_log.resend_many(entries, not_before=not_before)
        except SekishoError:
            raise
        except Exception as exc:
            # the records stay here, unpublished; `publish_pending` sends them when the log is back
            log.warning("municipality %s: access log append failed: %s", self.code, type(exc).__name__)
            raise Unavailable(
                "the public access log did not take the access records; nothing is released", field="log"
            ) from exc
        with self.engine.begin() as conn:
            conn.execute(
                st.access.update()
                .where(st.access.c.id == sa.bindparam("row_id"), st.access.c.log_index.is_(None))
                .values(log_index=sa.bindparam("index")),
                [{"row_id": p.row_id, "index": r.index} for p, r in zip(pending, receipts, strict=True)],
            )
        top = max(r.index for r in receipts) + 1
        self._log_floor = top if self._log_floor is None else max(self._log_floor, top)

    def publish_pending(self, *, limit: int = 10_000) -> int:
        """Append access records that a failed append left unpublished (oldest first); how many were sent."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(st.access.c.id, st.access.c.entry, st.access.c.log_floor)
                .where(st.access.c.log_index.is_(None), st.access.c.entry.is_not(None))
                .order_by(st.access.c.id)
                .limit(limit)
            ).all()
        pending = [_Unpublished(row.id, row.entry.encode()) for row in rows]
        # the first append may have reached the log and only its answer been lost: look before appending again
        self._publish(pending, not_before=min((row.log_floor or 0 for row in rows), default=0))
        return len(pending)

    def _floor(self, conn: Connection) -> int:
        if self._log_floor is None:
            top = conn.execute(sa.select(sa.func.max(st.access.c.log_index))).scalar()
            self._log_floor = 0 if top is None else int(top) + 1
        return self._log_floor

    def _transfer_annex(self) -> TransferAnnex:
        """The support measures of this municipality (``sekisho.policy.municipality``, in this same database unless
        another annex was given).  Never optional: a hand-over that dropped a measure would expose the person at
        the destination."""
        if self.annex is None:
            from sekisho.policy.municipality import MunicipalityPolicy
            from sekisho.storage import migrate

            migrate(self.engine, "policy")
            self.annex = MunicipalityPolicy(engine=self.engine, code=self.code, clock=self._policy_clock)
        return self.annex

    # --- reads (each writes an access record first) -------------------------------------------------------

    def show(self, handle: str, *, purpose: str = "register-administration") -> Resident:
        h = parse_handle(handle)
        with self.transaction() as conn:
            rid, r = self._load(conn, h)
            self._record_access(conn, [rid], action="register-read", purpose=purpose, items=ALL_ITEMS)
        return r

    def credential_items(self, handle: str) -> dict[str, Any]:
        """The items of a resident's own credential (``sekisho.credentials``): read in one transaction that writes
        the access record (actor: the resident, action ``credential-issuance``) before anything leaves."""
        h = parse_handle(handle)
        with self.transaction() as conn:
            rid, r = self._load(conn, h)
            if r.status is not Status.ACTIVE:
                raise Refused("only an active resident gets a credential", field="handle")
            self._record_access(
                conn,
                [rid],
                action="credential-issuance",
                purpose="credential-issuance",
                items=("name", "kana", "birth_date", "address"),
                actor_kind="resident",
                actor=self.code,
                terminal=None,
            )
        return {
            "family_name": r.family_name,
            "given_name": r.given_name,
            "family_name_kana": r.family_name_kana,
            "given_name_kana": r.given_name_kana,
            "birth_date": r.birth_date,
            "address": r.address.line(),
            "municipality_code": r.address.municipality_code,
            "resident_since": r.became_resident_on,
        }

    def access_list(self, handle: str, *, since_size: int | None = None) -> AccessListing:
        """Every access to this resident's data, each with its inclusion proof against the latest witnessed
        checkpoint (and the consistency proof from the checkpoint of ``since_size`` the resident saw last).

        Sealed entries (a court-ordered investigation) are listed from their ``sealed_until`` date, with the
        nonce revealed so that the resident can match them.  Looking at the list is itself an access, recorded
        like any other.

        Nothing is recorded unless the list is handed out: the list is built and verified first — exactly as the
        resident's verifier (``sekisho log verify-list``) will — and its access record is written only then.  A
        list that cannot be built (no witnessed checkpoint yet) or does not verify (a rewritten log, a changed
        record) fails with nothing released and nothing recorded (:class:`IntegrityError` for the latter).
        """
        access_log = self.access_log
        if access_log is None:
            raise Unavailable("this register is not connected to a public access log", field="log")
        h = parse_handle(handle)
        today = self.today()
        from sekisho.auditlog.client import build_access_list

        note, checkpoint = access_log.latest_witnessed()
        if since_size is not None and not 0 < since_size <= checkpoint.size:
            raise InvalidInput("must be the size of an earlier checkpoint of this log", field="since_size")
        with self.engine.connect() as conn:
            rid, _ = self._load(conn, h)
            root = bytes(conn.execute(sa.select(st.resident.c.root).where(st.resident.c.id == rid)).scalar_one())
            rows = conn.execute(
                sa.select(st.access).where(st.access.c.resident_id == rid).order_by(st.access.c.id)
            ).all()
        visible = [row for row in rows if row.sealed_until is None or row.sealed_until <= today]
        proved = build_access_list(
            access_log,
            [
                (row.log_index, row.entry.encode(), bytes.fromhex(row.nonce) if row.sealed_until else None)
                for row in visible
                if row.log_index is not None and row.entry is not None
            ],
            checkpoint,
        )
        consistency = access_log.consistency_proof(since_size, checkpoint.size) if since_size is not None else []
        listing = AccessListing(
            handle=h,
            k_res=derive_commitment_key(root),
            checkpoint=note,
            items=proved,
            sealed_hidden=sum(1 for row in rows if row.sealed_until is not None and row.sealed_until > today),
            pending=sum(1 for row in visible if row.log_index is None or row.log_index >= checkpoint.size),
            since_size=since_size,
            consistency=consistency,
        )
        try:
            access_log.verify_document(access_list_json(listing))
        except (IntegrityError, InvalidInput) as exc:
            # a proof that fails, an entry that does not decode or is not this resident's: never hand it out
            log.warning("municipality %s: an access list failed verification: %s", self.code, exc.kind)
            raise IntegrityError(
                "the access list does not verify against the witnessed checkpoint; nothing is released",
                field="log",
            ) from exc
        with self.transaction() as conn:
            self._record_access(
                conn,
                [rid],
                action="access-list",
                purpose="resident.access-list",
                items=("access_records",),
                actor_kind="resident",
                terminal=None,
            )
        return listing

    def history(self, handle: str, *, purpose: str = "register-administration") -> tuple[Resident, list[HistoryEntry]]:
        h = parse_handle(handle)
        with self.transaction() as conn:
            rid, r = self._load(conn, h)
            rows = conn.execute(
                sa.select(st.history).where(st.history.c.resident_id == rid).order_by(st.history.c.version)
            ).all()
            self._record_access(conn, [rid], action="register-read", purpose=purpose, items=ALL_ITEMS)
        return r, [st.history_from_row(row) for row in rows]

    def household(self, handle: str, *, purpose: str = "register-administration") -> Household:
        hh = parse_household_handle(handle)
        with self.transaction() as conn:
            hid = self._household_id(conn, hh)
            rows = conn.execute(self._select().where(st.resident.c.household_id == hid)).all()
            members = [self._from_row(row) for row in rows]
            self._record_access(
                conn,
                [row.id for row in rows],
                action="register-read",
                purpose=purpose,
                items=("name", "kana", "birth_date", "sex", "household"),
            )
        members.sort(key=lambda m: (m.status is not Status.ACTIVE, not m.is_head, m.birth_date.sort_key))
        return Household(handle=hh, members=tuple(members))

    def household_members(self, handle: str, *, purpose: str = "resident-protection") -> list[str]:
        """The handles of the active members of ``handle``'s household (the municipality's protection measures ask
        this through the composition root: the policy context never reads the register's tables)."""
        h = parse_handle(handle)
        with self.transaction() as conn:
            hid = conn.execute(sa.select(st.resident.c.household_id).where(st.resident.c.handle == h)).scalar()
            if hid is None:
                raise NotFound("no resident with this handle in this register", field="handle")
            rows = conn.execute(
                sa.select(st.resident.c.id, st.resident.c.handle).where(
                    st.resident.c.household_id == hid, st.resident.c.status == Status.ACTIVE.value
                )
            ).all()
            ids = [r.id for r in rows]
            self._record_access(conn, ids, action="register-read", purpose=purpose, items=("household",))
        return [r.handle for r in rows]

    def search(
        self,
        query: str,
        *,
        include_closed: bool = False,
        limit: int = 20,
        purpose: str = "register-administration",
    ) -> list[Resident]:
        """Fuzzy search by name or reading (width, kana, voiced marks, long vowels, variant kanji folded)."""
        if not query.strip():
            raise InvalidInput("is empty", field="query")
        if not 1 <= limit <= 200:
            raise InvalidInput("must be between 1 and 200", field="limit")
        key = jp_text.search_key(query)
        if not key:
            raise InvalidInput("has nothing to search for", field="query")
        like = f"%{key}%"
        stmt = self._select().where(sa.or_(st.resident.c.name_key.like(like), st.resident.c.kana_key.like(like)))
        if not include_closed:
            stmt = stmt.where(st.resident.c.status == Status.ACTIVE.value)
        stmt = stmt.order_by(st.resident.c.kana_key, st.resident.c.id).limit(limit)
        with self.transaction() as conn:
            rows = conn.execute(stmt).all()
            self._record_access(
                conn,
                [row.id for row in rows],
                action="register-search",
                purpose=purpose,
                items=("name", "kana", "birth_date", "sex", "address"),
            )
        return [self._from_row(row) for row in rows]

    def count(self, *, status: Status | None = Status.ACTIVE) -> int:
        stmt = sa.select(sa.func.count()).select_from(st.resident)
        if status is not None:
            stmt = stmt.where(st.resident.c.status == status.value)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    # --- procedures ---------------------------------------------------------------------------------------

    def add(
        self, row: Mapping[str, str], *, household: str | None = None, derived: Mapping[str, str] | None = None
    ) -> Resident:
        """Register one resident when loading the register (joins ``household`` or founds a new one).
        ``derived``: items the caller filled from another (:func:`~sekisho.registry.validate.validate_items`)."""
        items = self._validate(row, derived=derived)
        with self.transaction() as conn:
            hh = self._household_for(conn, items, household)
            hid = self._household_id(conn, hh)
            vacant = self._vacant(conn, [hid])
            change = proc.register(items, handle=new_handle(), household=hh)
            rid = self._write(conn, change)
            self._keep_household_rules(
                conn,
                [hid],
                vacancy_allowed=vacant,
                on=items.became_resident_on,
                filed_on=items.filed_on,
                field="household",
            )
        self._index_new([rid])
        return change.after

    def birth(self, row: Mapping[str, str], *, household: str, filed_on: str | None = None) -> tuple[Resident, bool]:
        """出生届.  ``row`` holds the child's items; the address is the household's.  Returns (record, late)."""
        hh = parse_household_handle(household)
        with self.transaction() as conn:
            hid = self._household_id(conn, hh)
            head = self._household_address(conn, hid)
            filed = self._event_date(filed_on, "filed_on") if filed_on else self.today()
            full = {"nationality": "日本"} | dict(row)
            born = (full.get("birth_date") or "").strip()
            full.update(
                town=head.town,
                block=head.block,
                katagaki=head.katagaki,
                postal_code=head.postal_code or "",
                became_resident_on=born,
                address_set_on=born,
                filed_on=filed.isoformat(),
            )
            # the clerk typed a birth date, not these two: a bad one is reported once, as the birth date
            items = self._validate(full, derived=_FROM_BIRTH)
            self._check_relationship(conn, hid, items.relationship)
            vacant = self._vacant(conn, [hid])
            change = proc.birth(items, handle=new_handle(), household=hh, filed_on=filed)
            rid = self._write(conn, change)
            self._keep_household_rules(
                conn, [hid], vacancy_allowed=vacant, on=change.event_date, filed_on=filed, field="household"
            )
        self._index_new([rid])
        return change.after, change.late

    def death(
        self, handle: str, *, died_on: str, filed_on: str | None = None, learned_on: str | None = None
    ) -> tuple[Resident, bool]:
        h = parse_handle(handle)
        died = self._event_date(died_on, "died_on")
        filed = self._event_date(filed_on, "filed_on") if filed_on else self.today()
        learned = self._event_date(learned_on, "learned_on") if learned_on else None
        with self.transaction() as conn:
            rid, r = self._load(conn, h, for_update=True)
            hid = self._household_id(conn, r.household)
            # the household stays; its members file the new head within 14 days (世帯主変更届)
            vacant = self._vacant(conn, [hid]) | ({hid} if r.is_head else set())
            change = proc.death(r, died_on=died, filed_on=filed, learned_on=learned)
            self._write(conn, change, rid=rid)
            self._cancel_transfers(conn, rid)
            self._keep_household_rules(
                conn, [hid], vacancy_allowed=vacant, on=died, filed_on=filed, field="handle", succession=True
            )
        return change.after, change.late

    def move_within(
        self,
        handle: str,
        *,
        town: str,
        block: str,
        katagaki: str = "",
        postal_code: str | None = None,
        moved_on: str,
        filed_on: str | None = None,
        whole_household: bool = False,
    ) -> list[tuple[Resident, bool]]:
        """転居.  With ``whole_household`` every active member of the household moves together."""
        from sekisho.jp.address import parse_address

        h = parse_handle(handle)
        address = parse_address(self.code, town=town, block=block, katagaki=katagaki, postal_code=postal_code)
        moved = self._event_date(moved_on, "moved_on")
        filed = self._event_date(filed_on, "filed_on") if filed_on else self.today()
        out = []
        with self.transaction() as conn:
            rid, r = self._load(conn, h, for_update=True)
            targets = [(rid, r)]
            if whole_household:
                hid = self._household_id(conn, r.household)
                targets = [
                    (row.id, self._from_row(row))
                    for row in conn.execute(
                        self._select().where(
                            st.resident.c.household_id == hid, st.resident.c.status == Status.ACTIVE.value
                        )
                    ).all()
                ]
            elif self._active_members(conn, r.household) > 1 and r.is_head:
                raise Conflict(
                    "the head cannot move away alone: move the whole household or change the head first",
                    field="handle",
                )
            elif self._active_members(conn, r.household) > 1:
                raise Conflict(
                    "a member moving alone to another address must leave the household (household change)",
                    field="handle",
                )
            for tid, t in targets:
                change = proc.move_within(t, address=address, moved_on=moved, filed_on=filed)
                self._write(conn, change, rid=tid)
                out.append((change.after, change.late))
        return out

    def household_change(
        self,
        changes: Sequence[tuple[str, str | None, str]],
        *,
        changed_on: str,
        filed_on: str | None = None,
    ) -> list[Resident]:
        """世帯変更 / 世帯主変更 / 世帯分離 / 世帯合併.

        ``changes`` is a list of (resident handle, target household handle or None for a new household,
        new relationship to the head of the target).  After all changes, every household touched has exactly
        one head among its active members (or no active members), and every member lives at its household's
        address.
        """
        from sekisho.jp.people import parse_relationship

        if not changes:
            raise InvalidInput("lists no change", field="changes")
        changed = self._event_date(changed_on, "changed_on")
        filed = self._event_date(filed_on, "filed_on") if filed_on else self.today()
        out: list[Resident] = []
        with self.transaction() as conn:
            touched: set[int] = set()
            new_household: str | None = None
            loaded = []
            for handle, target, relationship in changes:
                rid, r = self._load(conn, parse_handle(handle), for_update=True)
                rel = parse_relationship(relationship)
                if target is None:
                    if new_household is None:
                        new_household = new_household_handle()
                        self._insert_household(conn, new_household)
                    target_hh = new_household
                else:
                    target_hh = parse_household_handle(target)
                loaded.append((rid, r, target_hh, rel))
            # a vacancy may stay only where there already was one (a head died, the new head not yet named)
            vacant = self._vacant(
                conn, {self._household_id(conn, hh) for _, r, t, _ in loaded for hh in (r.household, t)}
            )
            # release heads first, so that the one-head-per-household index never sees two at once
            loaded.sort(key=lambda t: t[3] == HEAD)
            for rid, r, target_hh, rel in loaded:
                target_id = self._household_id(conn, target_hh)
                if rel == HEAD:
                    self._check_relationship(conn, target_id, HEAD, except_id=rid)
                touched.add(target_id)
                touched.add(self._household_id(conn, r.household))
                if target_hh != r.household and target_hh != new_household:
                    here = self._household_address(conn, target_id, missing_ok=True)
                    if here is not None and here != r.address:
                        raise Conflict(
                            "the household lives at another address: register the move (move-within) first",
                            field="household",
                        )
                change = proc.household_change(
                    r, household=target_hh, relationship=rel, changed_on=changed, filed_on=filed
                )
                self._write(conn, change, rid=rid)
                out.append(change.after)
            self._keep_household_rules(
                conn, touched, vacancy_allowed=vacant, on=changed, filed_on=filed, field="changes", succession=True
            )
        return out

    def correct(self, handle: str, fields: Mapping[str, str], *, reason: str) -> Resident:
        """職権修正: correct recorded items; anything not named keeps its value."""
        h = parse_handle(handle)
        if not reason.strip():
            raise InvalidInput("is required for a correction", field="reason")
        allowed = set(_ITEM_FIELDS) - {"relationship", "household"}
        unknown = set(fields) - allowed
        if unknown:
            raise InvalidInput("names an item that a correction cannot change", field="correction")
        with self.transaction() as conn:
            rid, r = self._load(conn, h, for_update=True)
            row = items_text(r) | {k: v for k, v in fields.items()}
            items = self._validate(row)
            change = proc.correct(r, items, on=self.today(), reason=reason.strip())
            self._write(conn, change, rid=rid)
        return change.after

    def furigana(self, handle: str, *, family_kana: str, given_kana: str, filed_on: str | None = None) -> Resident:
        h = parse_handle(handle)
        fk = jp_text.normalize_kana(family_kana, field="family_name_kana")
        gk = jp_text.normalize_kana(given_kana, field="given_name_kana")
        filed = self._event_date(filed_on, "filed_on") if filed_on else self.today()
        with self.transaction() as conn:
            rid, r = self._load(conn, h, for_update=True)
            change = proc.furigana(r, family_kana=fk, given_kana=gk, filed_on=filed)
            self._write(conn, change, rid=rid)
        return change.after

    def close(self, handle: str, *, reason: str, on: str, filed_on: str | None = None) -> Resident:
        h = parse_handle(handle)
        try:
            why = ClosedReason(reason)
        except ValueError:
            raise InvalidInput(f"must be one of {', '.join(r.value for r in ClosedReason)}", field="reason") from None
        when = self._event_date(on, "on")
        filed = self._event_date(filed_on, "filed_on") if filed_on else self.today()
        with self.transaction() as conn:
            rid, r = self._load(conn, h, for_update=True)
            hid = self._household_id(conn, r.household)
            # like a death: nobody could file the new head beforehand, so the head may stay vacant until named
            vacant = self._vacant(conn, [hid]) | ({hid} if r.is_head else set())
            change = proc.close(r, reason=why, on=when, filed_on=filed)
            self._write(conn, change, rid=rid)
            self._cancel_transfers(conn, rid)
            self._keep_household_rules(
                conn, [hid], vacancy_allowed=vacant, on=when, filed_on=filed, field="handle", succession=True
            )
        return change.after

    # --- moving between municipalities ---------------------------------------------------------------------

    def move_out(
        self,
        handle: str,
        *,
        destination: str,
        planned_on: str,
        filed_on: str | None = None,
        abroad: bool = False,
    ) -> tuple[Resident, str | None, bool]:
        """転出届.  Returns (record, transfer token, late).

        Within Japan the record stays active and a transfer is issued; the destination's move-in closes it.
        Abroad (国外転出) the record closes on the planned date and no transfer is issued.
        """
        h = parse_handle(handle)
        planned = self._any_date(planned_on, "planned_on")
        filed = self._event_date(filed_on, "filed_on") if filed_on else self.today()
        dest_line = " ".join(destination.split())
        if not dest_line:
            raise InvalidInput("is required", field="destination")
        dest_code: str | None = None
        if not abroad:
            from sekisho.jp.address import parse_address_line

            dest = parse_address_line(dest_line, field="destination")
            if dest.municipality_code == self.code:
                raise InvalidInput("is in this municipality: use move-within", field="destination")
            dest_code = dest.municipality_code
            dest_line = dest.line()
        with self.transaction() as conn:
            rid, r = self._load(conn, h, for_update=True)
            hid = self._household_id(conn, r.household)
            members = self._members(conn, hid)
            if r.is_head and any(not m.moving_out for mid, m in members if mid != rid):
                raise Conflict(proc.HEAD_LEAVES, field="handle")
            vacant = self._vacant(conn, [hid])
            if abroad:
                if planned > self.today():
                    raise InvalidInput("a move abroad is recorded on or after the day of leaving", field="planned_on")
                change = proc.move_abroad(r, moved_on=planned, filed_on=filed, destination=dest_line)
                self._write(conn, change, rid=rid)
                self._cancel_transfers(conn, rid)
                self._keep_household_rules(
                    conn, [hid], vacancy_allowed=vacant, on=planned, filed_on=filed, field="handle", succession=True
                )
                return change.after, None, change.late
            change = proc.move_out(r, planned_on=planned, filed_on=filed)
            self._write(conn, change, rid=rid)
            self._keep_household_rules(conn, [hid], vacancy_allowed=vacant, on=planned, filed_on=filed, field="handle")
            token = f"{self.code}-{_token()}"
            conn.execute(
                st.transfer.insert(),
                [
                    {
                        "token": token,
                        "resident_id": rid,
                        "destination_code": dest_code,
                        "destination_line": dest_line,
                        "planned_on": planned,
                        "filed_on": filed,
                        "created_at": st.utcnow(),
                        "state": "issued",
                    }
                ],
            )
        return change.after, token, change.late

    def cancel_move_out(self, handle: str) -> Resident:
        """転出取消: the move-out is withdrawn; its transfer is cancelled and no destination can take it over."""
        h = parse_handle(handle)
        with self.transaction() as conn:
            rid, r = self._load(conn, h, for_update=True)
            hid = self._household_id(conn, r.household)
            vacant = self._vacant(conn, [hid])
            change = proc.cancel_move_out(r, filed_on=self.today())
            self._write(conn, change, rid=rid)
            # a member who stays after all needs a head: a household whose head has left (moving away together)
            # must name one first
            self._keep_household_rules(
                conn, [hid], vacancy_allowed=vacant, on=change.event_date, filed_on=change.filed_on, field="handle"
            )
            self._cancel_transfers(conn, rid)
        return change.after

    def pending_transfer(self, handle: str, *, purpose: str = "register-administration") -> PendingTransfer:
        """The open transfer of a pending move-out (`registry transfer show`): a read, recorded like any other."""
        from sekisho.registry import deadlines

        h = parse_handle(handle)
        with self.transaction() as conn:
            rid, r = self._load(conn, h)
            t = conn.execute(
                sa.select(st.transfer)
                .where(st.transfer.c.resident_id == rid, st.transfer.c.state == "issued")
                .order_by(st.transfer.c.id.desc())
            ).first()
            if t is None or not r.moving_out:
                raise NotFound("no move-out is pending for this resident", field="handle")
            self._record_access(conn, [rid], action="register-read", purpose=purpose, items=("address", "transfer"))
        return PendingTransfer(
            handle=h,
            token=t.token,
            destination=t.destination_line,
            destination_code=t.destination_code,
            planned_on=t.planned_on,
            filed_on=t.filed_on,
            move_in_by=deadlines.deadline(t.planned_on, deadlines.MOVE_IN_DAYS),
            card_move_in_by=deadlines.deadline(t.planned_on, deadlines.CARD_MOVE_IN_DAYS),
        )

    # the origin's side of the hand-over (called through the network by the destination)

    def fetch_transfer(self, token: str, *, requester: str) -> TransferPackage:
        annex = self._transfer_annex()  # before the transaction: opening it may migrate (SQLite: one writer)
        with self.transaction() as conn:
            t = self._transfer(conn, token)
            if t.state == "cancelled" or (t.state == "handed-over" and t.handed_over_to != requester):
                raise Conflict("this transfer is no longer open", field="transfer")
            row = conn.execute(self._select().where(st.resident.c.id == t.resident_id)).one()
            r = self._from_row(row)
            if t.state == "issued" and r.status is not Status.ACTIVE:
                raise Conflict("this transfer is no longer open", field="transfer")
            enrolments = conn.execute(
                sa.select(st.enrolment.c.agency, st.enrolment.c.purpose, st.enrolment.c["items"])
                .where(st.enrolment.c.resident_id == t.resident_id)
                .order_by(st.enrolment.c.id)
            ).all()
            self._record_access(
                conn,
                [t.resident_id],
                action="transfer",
                purpose="move-in",
                items=ALL_ITEMS,
                actor_kind="municipality",
                actor=requester,
                terminal=None,
            )
            measure = annex.export_measure(conn, handle=r.handle)
        return TransferPackage(
            token=t.token,
            source=self.code,
            items=items_text(r),
            root=bytes(row.root),
            pp=bytes(row.pp) if row.pp is not None else None,
            previous_address=r.address.line(),
            destination_planned=t.destination_line,
            planned_on=t.planned_on,
            rp=bytes(row.rp) if row.rp is not None else None,
            enrolments=tuple((e.agency, e.purpose, e._mapping["items"]) for e in enrolments),
            support_measure=measure,
        )

    def complete_transfer(self, token: str, *, requester: str, moved_on: date, destination_line: str) -> None:
        """Close the record here because ``requester`` took the person in (idempotent for that requester).

        The locator's entry for the person moves to ``requester`` after the record here closes, and before this
        returns: the destination activates its record only then, and a retry after a crash repeats the move."""
        with self.engine.connect() as conn:
            rp = conn.execute(
                sa.select(st.resident.c.rp)
                .join(st.transfer, st.transfer.c.resident_id == st.resident.c.id)
                .where(st.transfer.c.token == token.strip())
            ).scalar()
        if rp is not None and self.index is None:
            raise Unavailable("the locator cannot be reached to hand the person over", field="locator")
        self._complete_transfer(token, requester=requester, moved_on=moved_on, destination_line=destination_line)
        if rp is not None and self.index is not None:
            self.index.hand_over(bytes(rp), to=requester)

    def _complete_transfer(self, token: str, *, requester: str, moved_on: date, destination_line: str) -> None:
        with self.transaction() as conn:
            t = self._transfer(conn, token, for_update=True)
            if t.state == "handed-over":
                if t.handed_over_to == requester:
                    return
                raise Conflict("this transfer was completed by another municipality", field="transfer")
            if t.state != "issued":
                raise Conflict("this transfer is no longer open", field="transfer")
            row = conn.execute(self._select().where(st.resident.c.id == t.resident_id)).one()
            r = self._from_row(row)
            hid = self._household_id(conn, r.household)
            vacant = self._vacant(conn, [hid])
            change = proc.hand_over(
                r,
                moved_on=moved_on,
                filed_on=self.today(),
                destination_planned=t.destination_line,
                destination_confirmed=destination_line,
            )
            self._write(conn, change, rid=t.resident_id)
            conn.execute(
                st.transfer.update()
                .where(st.transfer.c.id == t.id)
                .values(state="handed-over", handed_over_to=requester, handed_over_on=moved_on)
            )
            self._keep_household_rules(
                conn,
                [hid],
                vacancy_allowed=vacant,
                on=moved_on,
                filed_on=self.today(),
                field="transfer",
                succession=True,
                strict=False,
            )

    # the destination's side

    def move_in(
        self,
        row: Mapping[str, str],
        *,
        moved_on: str,
        household: str | None = None,
        transfer: str | None = None,
    ) -> MoveInResult:
        """転入.  Without ``transfer`` the person comes from outside the network (e.g. from abroad) and ``row``
        holds all items; with it, the items, the root and the pseudonym come from the municipality of origin and
        ``row`` holds only the new address, relationship and filing date.

        The hand-over never leaves two active records: the record here is created *incoming*, the origin closes
        its record, then the record here becomes active.  A crash in between is completed by calling again
        with the same transfer (every step is idempotent).
        """
        moved = self._event_date(moved_on, "moved_on")
        if transfer is None:
            full = dict(row) | {"became_resident_on": moved.isoformat(), "address_set_on": moved.isoformat()}
            full.setdefault("filed_on", self.today().isoformat())
            if not (full.get("filed_on") or "").strip():
                full["filed_on"] = self.today().isoformat()
            items = self._validate(full)
            with self.transaction() as conn:
                hh = self._household_for(conn, items, household)
                self._check_duplicate(conn, items)
                hid = self._household_id(conn, hh)
                vacant = self._vacant(conn, [hid])
                change = proc.move_in(items, handle=new_handle(), household=hh, moved_on=moved, status=Status.ACTIVE)
                rid = self._write(conn, change, root=os.urandom(32))
                self._keep_household_rules(
                    conn, [hid], vacancy_allowed=vacant, on=moved, filed_on=change.filed_on, field="household"
                )
            self._index_new([rid])
            return MoveInResult(change.after)
        return self._move_in_transfer(row, moved=moved, household=household, token=transfer.strip())

    def _move_in_transfer(
        self, row: Mapping[str, str], *, moved: date, household: str | None, token: str
    ) -> MoveInResult:
        source = token.split("-", 1)[0]
        if len(source) != 6 or not source.isdigit() or len(token) < 20:
            raise InvalidInput("is not a transfer token", field="transfer")
        if source == self.code:
            raise InvalidInput("comes from this municipality: use move-within", field="transfer")
        if self.directory is None:
            raise SekishoError("no network directory configured to reach the municipality of origin")
        with self.engine.connect() as conn:
            existing = conn.execute(self._select().where(st.resident.c.transfer_token == token)).first()
            if existing is None and household is not None:
                # refuse a household that cannot take the person before the origin hands the record over
                from sekisho.jp.address import parse_address
                from sekisho.jp.people import parse_relationship

                address = parse_address(
                    self.code,
                    town=row.get("town", ""),
                    block=row.get("block", ""),
                    katagaki=row.get("katagaki", ""),
                    postal_code=row.get("postal_code") or None,
                )
                self._check_joining(
                    conn,
                    self._household_id(conn, parse_household_handle(household)),
                    parse_relationship(row.get("relationship") or ""),
                    address=address,
                )
        if existing is not None and existing.status == Status.ACTIVE.value:
            return MoveInResult(self._from_row(existing), already_done=True)
        if existing is not None and existing.status == Status.CLOSED.value:
            # taken over long ago, and the record it made here has closed since: nothing to fetch again
            raise Conflict("this transfer was completed here; the record it created is closed", field="transfer")
        origin = self.directory.municipality(source)
        package = origin.fetch_transfer(token, requester=self.code)
        if existing is None:
            full = dict(package.items) | {
                "town": row.get("town", ""),
                "block": row.get("block", ""),
                "katagaki": row.get("katagaki", ""),
                "postal_code": row.get("postal_code", ""),
                "relationship": row.get("relationship") or (HEAD if household is None else ""),
                "became_resident_on": moved.isoformat(),
                "address_set_on": moved.isoformat(),
                "filed_on": (row.get("filed_on") or "").strip() or self.today().isoformat(),
                "previous_address": package.previous_address,
            }
            items = self._validate(full)
            annex = self._transfer_annex() if package.support_measure is not None else None
            with self.transaction() as conn:
                taken = conn.execute(
                    sa.select(st.resident.c.id).where(
                        st.resident.c.root == package.root,
                        st.resident.c.status.in_([Status.ACTIVE.value, Status.INCOMING.value]),
                    )
                ).first()
                if taken is not None:
                    raise Conflict("the person already has an active record in this register", field="transfer")
                hh = self._household_for(conn, items, household)
                change = proc.move_in(items, handle=new_handle(), household=hh, moved_on=moved, status=Status.INCOMING)
                # the household rules as they will be once the record becomes active (the origin closes its record
                # in between, and then the activation cannot be refused)
                self._check_joining(conn, self._household_id(conn, hh), items.relationship)
                # the PP moves unchanged (a new one would do too, but nothing is gained); so does s_R·P
                rid = self._write(
                    conn, change, root=package.root, pp=package.pp, rp=package.rp, transfer_token=token, events=False
                )
                self._copy_enrolments(conn, rid, package.enrolments)
                if annex is not None and package.support_measure is not None:
                    # in force here before the record can become active (same transaction as the incoming record)
                    annex.honour_measure(conn, handle=change.after.handle, payload=package.support_measure)
        # the origin closes its record; only then does this one become active
        with self.engine.connect() as conn:
            incoming = conn.execute(self._select().where(st.resident.c.transfer_token == token)).one()
        incoming_r = self._from_row(incoming)
        origin.complete_transfer(token, requester=self.code, moved_on=moved, destination_line=incoming_r.address.line())
        with self.transaction() as conn:
            row_now = conn.execute(self._select().where(st.resident.c.transfer_token == token).with_for_update()).one()
            r = self._from_row(row_now)
            if r.status is Status.ACTIVE:
                return MoveInResult(r, already_done=True)
            active = proc.activate_incoming(r)
            vacant = self._vacant(conn, [row_now.household_id])
            conn.execute(
                st.resident.update()
                .where(st.resident.c.id == row_now.id)
                .values(status=Status.ACTIVE.value, updated_at=st.utcnow())
            )
            self._emit(conn, row_now.id, proc.MOVED_IN, moved)
            self._keep_household_rules(
                conn,
                [row_now.household_id],
                vacancy_allowed=vacant,
                on=moved,
                filed_on=moved,
                field="transfer",
                strict=False,
            )
        if row_now.rp is None:
            self._index_new([row_now.id])
        return MoveInResult(active)

    # --- bulk import ---------------------------------------------------------------------------------------

    def import_rows(
        self,
        rows: Iterable[tuple[int, Mapping[str, str]]],
        *,
        source_sha256: str,
        advance: Callable[[int], None] | None = None,
    ) -> ImportResult:
        """Import (line number, row) pairs in this process: every row valid and written in one transaction,
        or nothing.  Each bad row is reported with its line number and every rule it breaks (:class:`ErrorList`)."""
        from sekisho.registry import bulk

        materialised = list(bulk.rows_from_mappings(rows))
        return self._import(
            lambda plan: bulk.prepare(bulk.STANDARD_HEADER, materialised, plan),
            expected=len(materialised),
            source_sha256=source_sha256,
            parts=1,
            advance=advance,
        )

    def import_file(
        self,
        path: Path,
        *,
        parts: int | None = None,
        advance: Callable[[int], None] | None = None,
        facts: FileFacts | None = None,
    ) -> ImportResult:
        """Import a CSV or JSONL file (docs/import-format.md), validated in one process per core.  ``facts``:
        :func:`~sekisho.registry.bulk.file_facts` of the file if the caller has read them already (one pass)."""
        from sekisho.registry import bulk

        digest, lines, encoding = facts or bulk.file_facts(path)
        n = parts or bulk.default_parts()
        return self._import(
            lambda plan: bulk.prepare_file(path, plan, encoding=encoding),
            expected=lines,
            source_sha256=digest,
            parts=n,
            advance=advance,
        )

    def _import(
        self,
        source: Callable[[Any], Iterator[tuple[list[Any], list[Any], list[tuple[int, SekishoError]]]]],
        *,
        expected: int,
        source_sha256: str,
        parts: int,
        advance: Callable[[int], None] | None,
    ) -> ImportResult:
        from sekisho.registry import bulk

        errors: list[tuple[int, SekishoError]] = []
        with bulk.collector_paused(), self.engine.begin() as conn:
            writer = bulk.Writer(conn, expected_rows=expected)
            plan = writer.plan(
                municipality=self.code,
                today=self.today(),
                parts=parts,
                source_sha256=source_sha256,
                actor=self.actor.clerk,
                pp_of_roots=self.pp_of_roots,
            )
            for households, residents, errs in source(plan):
                errors.extend(errs)
                if not errors:
                    writer.write(households, residents)
                if advance is not None:
                    advance(len(residents) + len(errs))
            if errors:
                errors.sort(key=lambda e: e[0])
                raise ErrorList(errors)  # leaving the block rolls everything back
            if writer.rows == 0:
                raise InvalidInput("has no rows", field="file")
            writer.finish()
        return ImportResult(batch_id=writer.batch_id, rows=writer.rows, households=writer.households)

    # --- internals -----------------------------------------------------------------------------------------

    def _validate(self, row: Mapping[str, str], *, derived: Mapping[str, str] | None = None) -> ResidentItems:
        try:
            return validate_items(row, municipality=self.code, today=self.today(), derived=derived)
        except RowErrors as exc:
            if len(exc.errors) == 1:
                raise exc.errors[0] from None
            raise

    def _event_date(self, value: str | None, field: str) -> date:
        return parse_event_date(value or "", field=field, today=self.today())

    def _any_date(self, value: str, field: str) -> date:
        from sekisho.jp.wareki import parse_full_date

        if not value or not value.strip():
            raise InvalidInput("is required", field=field)
        return parse_full_date(value.strip(), field=field)

    def _select(self) -> sa.Select[Any]:
        return sa.select(st.resident, st.household.c.handle.label("household_handle")).join(
            st.household, st.household.c.id == st.resident.c.household_id
        )

    def _from_row(self, row: Any) -> Resident:
        return st.resident_from_row(row, row.household_handle)

    def _load(self, conn: Connection, handle: str, *, for_update: bool = False) -> tuple[int, Resident]:
        stmt = self._select().where(st.resident.c.handle == handle)
        if for_update and is_postgres(conn):
            stmt = stmt.with_for_update(of=st.resident)
        row = conn.execute(stmt).first()
        if row is None:
            raise NotFound("no resident with this handle in this register", field="handle")
        return row.id, self._from_row(row)

    def _transfer(self, conn: Connection, token: str, *, for_update: bool = False) -> Any:
        stmt = sa.select(st.transfer).where(st.transfer.c.token == token.strip())
        if for_update and is_postgres(conn):
            stmt = stmt.with_for_update()
        t = conn.execute(stmt).first()
        if t is None:
            raise NotFound("no transfer with this token at this municipality", field="transfer")
        return t

    def _household_id(self, conn: Connection, handle: str) -> int:
        hid = conn.execute(sa.select(st.household.c.id).where(st.household.c.handle == handle)).scalar()
        if hid is None:
            raise NotFound("no household with this handle in this register", field="household")
        return int(hid)

    def _insert_household(self, conn: Connection, handle: str) -> int:
        result = conn.execute(st.household.insert().values(handle=handle, created_at=st.utcnow()))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def _household_address(self, conn: Connection, hid: int, *, missing_ok: bool = False) -> Any:
        row = conn.execute(
            self._select()
            .where(st.resident.c.household_id == hid, st.resident.c.status == Status.ACTIVE.value)
            .order_by((st.resident.c.relationship == HEAD).desc(), st.resident.c.id)
            .limit(1)
        ).first()
        if row is None:
            if missing_ok:
                return None
            raise Conflict("the household has no active member", field="household")
        return self._from_row(row).address

    def _active_members(self, conn: Connection, household: str) -> int:
        hid = self._household_id(conn, household)
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(st.resident)
                .where(st.resident.c.household_id == hid, st.resident.c.status == Status.ACTIVE.value)
            ).scalar_one()
        )

    def _household_for(self, conn: Connection, items: ResidentItems, household: str | None) -> str:
        """A new resident founds a household (as its head) or joins an existing one at the same address."""
        if household is None:
            if items.relationship != HEAD:
                raise InvalidInput(
                    "a resident founding a new household must be its head (世帯主)", field="relationship"
                )
            hh = new_household_handle()
            self._insert_household(conn, hh)
            return hh
        hh = parse_household_handle(household)
        hid = self._household_id(conn, hh)
        here = self._household_address(conn, hid, missing_ok=True)
        if here is not None and here != items.address:
            raise Conflict("the household lives at another address", field="household")
        self._check_relationship(conn, hid, items.relationship)
        return hh

    def _check_relationship(self, conn: Connection, hid: int, relationship: str, *, except_id: int = -1) -> None:
        if relationship != HEAD:
            return
        head = conn.execute(
            sa.select(st.resident.c.id).where(
                st.resident.c.household_id == hid,
                st.resident.c.relationship == HEAD,
                st.resident.c.status == Status.ACTIVE.value,
                st.resident.c.id != except_id,
            )
        ).first()
        if head is not None:
            raise Conflict("the household already has a head (世帯主)", field="relationship")

    def _check_duplicate(self, conn: Connection, items: ResidentItems) -> None:
        """Someone arriving from outside the network has no root yet: refuse an obvious second record."""
        same = conn.execute(
            sa.select(st.resident.c.id).where(
                st.resident.c.status == Status.ACTIVE.value,
                st.resident.c.name_key == _name_key(items),
                st.resident.c.birth_date == items.birth_date.iso(),
                st.resident.c.sex == items.sex,
            )
        ).first()
        if same is not None:
            raise Conflict(
                "an active resident with the same name, birth date and sex is already registered here",
                field="resident",
            )

    def _members(self, conn: Connection, hid: int) -> list[tuple[int, Resident]]:
        rows = conn.execute(
            self._select()
            .where(st.resident.c.household_id == hid, st.resident.c.status == Status.ACTIVE.value)
            .order_by(st.resident.c.id)
        ).all()
        return [(row.id, self._from_row(row)) for row in rows]

    def _cancel_transfers(self, conn: Connection, rid: int) -> None:
        """The record will not be handed over (cancelled, or closed here): its open transfer can no longer be taken
        over, so a destination neither fetches the record nor waits for a hand-over that cannot happen."""
        conn.execute(
            st.transfer.update()
            .where(st.transfer.c.resident_id == rid, st.transfer.c.state == "issued")
            .values(state="cancelled")
        )

    def _check_joining(self, conn: Connection, hid: int, relationship: str, *, address: Address | None = None) -> None:
        """Someone not yet active here (a move-in in flight) may join household ``hid`` as ``relationship``."""
        members = [r for _, r in self._members(conn, hid)]
        if address is not None and members and self._household_address(conn, hid) != address:
            raise Conflict("the household lives at another address", field="household")
        if relationship == HEAD and any(m.is_head for m in members):
            raise Conflict("the household already has a head (世帯主)", field="relationship")
        if not members:
            fault = None if relationship == HEAD else proc.NO_HEAD
        else:
            # a stand-in for the newcomer: the rules look only at status, relationship and a pending move-out
            newcomer = replace(members[0], relationship=relationship, moving_out=False, status=Status.ACTIVE)
            fault = proc.household_fault([*members, newcomer], vacancy_allowed=hid in self._vacant(conn, [hid]))
        if fault is not None:
            raise Conflict(fault, field="household")

    def _vacant(self, conn: Connection, hids: Iterable[int]) -> set[int]:
        """The households among ``hids`` whose head is vacant now: a head died and the members have not yet named
        the new one (proc.household_fault).  Taken before a procedure changes anything."""
        out = set()
        for hid in set(hids):
            members = [r for _, r in self._members(conn, hid)]
            if not any(m.is_head for m in members) and any(not m.moving_out for m in members):
                out.add(hid)
        return out

    def _keep_household_rules(
        self,
        conn: Connection,
        hids: Iterable[int],
        *,
        vacancy_allowed: set[int],
        on: date,
        filed_on: date,
        field: str,
        succession: bool = False,
        strict: bool = True,
    ) -> None:
        """After a procedure, in its transaction: every household it touched keeps the household rules, or the
        procedure is refused (and rolled back).  With ``succession`` (a member left) a sole remaining member
        becomes the head; ``strict=False`` is for a hand-over, which cannot be refused once the destination has
        taken the person in (the rules checked at the move-out keep it valid)."""
        for hid in sorted(set(hids)):
            members = self._members(conn, hid)
            if succession and len(members) == 1 and not members[0][1].is_head:
                rid, survivor = members[0]
                self._write(conn, proc.head_succession(survivor, on=on, filed_on=filed_on), rid=rid)
                continue
            fault = proc.household_fault([r for _, r in members], vacancy_allowed=hid in vacancy_allowed)
            if fault is None:
                continue
            if strict:
                raise Conflict(fault, field=field)
            log.warning("municipality %s: a hand-over left a household breaking a household rule", self.code)

    def _write(
        self,
        conn: Connection,
        change: proc.Change,
        *,
        rid: int | None = None,
        root: bytes | None = None,
        pp: bytes | None = None,
        rp: bytes | None = None,
        transfer_token: str | None = None,
        events: bool = True,
    ) -> int:
        now = st.utcnow()
        r = change.after
        hid = self._household_id(conn, r.household)
        values = st.item_columns(r) | {
            "household_id": hid,
            "name_key": _name_key(r),
            "kana_key": _kana_key(r),
            "updated_at": now,
        }
        if change.before is None:
            root = root if root is not None else os.urandom(32)
            if pp is None and self.pp_key is not None:
                from sekisho.pseudonyms.flows import new_polymorphic_pseudonym

                pp = new_polymorphic_pseudonym(root, self.pp_key)
            values |= {
                "handle": r.handle,
                "root": root,
                "pp": pp,
                "rp": rp,
                "transfer_token": transfer_token,
                "created_at": now,
            }
            try:
                rid = int(conn.execute(st.resident.insert().values(**values)).inserted_primary_key[0])  # type: ignore[index]
            except sa.exc.IntegrityError as exc:
                raise Conflict("the person already has an active record in this register", field="resident") from exc
        else:
            assert rid is not None
            # optimistic check: the row must still be at the version the change was computed from
            try:
                result = conn.execute(
                    st.resident.update()
                    .where(st.resident.c.id == rid, st.resident.c.version == change.before.version)
                    .values(**values)
                )
            except sa.exc.IntegrityError as exc:
                # the database's own guards: one head per household, one live record per person
                raise Conflict("the change conflicts with another record of this register", field="handle") from exc
            if result.rowcount != 1:
                raise Conflict("the record changed meanwhile; try again", field="handle")
        conn.execute(
            st.history.insert().values(
                resident_id=rid,
                version=r.version,
                kind=change.kind.value,
                event_date=change.event_date,
                filed_on=change.filed_on,
                late=change.late,
                recorded_at=now,
                actor=self.actor.clerk,
                batch_id=None,
                changes=json.dumps(change.diff(), ensure_ascii=False) if change.before is not None else None,
                note=change.note,
            )
        )
        if events:
            for kind in change.events:
                self._emit(conn, rid, kind, change.event_date)
        return rid

    def _emit(self, conn: Connection, rid: int, kind: str, on: date) -> None:
        conn.execute(
            st.event.insert().values(
                kind=kind, resident_id=rid, event_date=on, created_at=st.utcnow(), delivered_at=None
            )
        )

    def _record_access(
        self,
        conn: Connection,
        resident_ids: Sequence[int],
        *,
        action: str,
        purpose: str,
        items: Sequence[str],
        actor_kind: str = "clerk",
        actor: str | None = None,
        terminal: str | None = "",
        legal_basis: str | None = None,
        warrant: str | None = None,
        decision: str = "allow",
        reason_codes: Sequence[str] = (),
        sealed_until: date | None = None,
    ) -> None:
        """THE access record: every read and every release of a resident's data passes here, inside the
        transaction of the read, before anything leaves.

        Each record is kept in full with the resident and gets its public log entry: non-personal metadata and
        a commitment HMAC(k_res, nonce) that only this resident (holding k_res, derived from the root) can
        match.  The entries reach the log when the transaction commits (:meth:`transaction`); a sealed record
        (a court-ordered investigation) publishes no nonce until ``sealed_until``.
        """
        if not resident_ids:
            return
        now = datetime.now(UTC).replace(microsecond=0)
        who = actor or self.code
        where = (self.actor.terminal or self.actor.clerk) if terminal == "" else terminal
        builder = (
            AccessRecordBuilder()
            .actor(actor_kind, who, terminal=where)
            .action(action, purpose=purpose, legal_basis=legal_basis, warrant=warrant)
            .items(sorted(set(items)))
            .decision(decision, reason_codes)
            .at(now)
        )
        if sealed_until is not None:
            builder = builder.sealed_until(sealed_until)
        roots = dict(
            conn.execute(
                sa.select(st.resident.c.id, st.resident.c.root).where(st.resident.c.id.in_(resident_ids))
            ).all()
        )
        floor = self._floor(conn)
        rows: list[dict[str, Any]] = []
        for rid in resident_ids:
            record = builder.build(derive_commitment_key(bytes(roots[rid])))
            entry = record.entry_bytes()
            rows.append(
                {
                    "record_id": record.entry.record_id,
                    "resident_id": rid,
                    "at": now,
                    "actor_kind": actor_kind,
                    "actor": who,
                    "terminal": where,
                    "action": action,
                    "purpose": purpose,
                    "legal_basis": legal_basis,
                    "warrant": warrant,
                    "items": ",".join(sorted(set(items))),
                    "decision": decision,
                    "reason_codes": ",".join(sorted(set(reason_codes))),
                    "nonce": record.nonce.hex(),
                    "sealed_until": sealed_until,
                    "log_index": None,
                    "log_floor": floor,
                    "leaf_hash": hash_leaf(entry).hex(),
                    "entry": entry.decode(),
                }
            )
        ids = conn.execute(st.access.insert().returning(st.access.c.id, sort_by_parameter_order=True), rows).scalars()
        pending = _UNPUBLISHED.get()
        if pending is not None:
            pending.extend(
                _Unpublished(row_id, str(row["entry"]).encode()) for row_id, row in zip(ids, rows, strict=True)
            )
        elif self.access_log is not None:
            # written outside `transaction()`: published by the next publish_pending, never silently dropped
            log.warning("municipality %s: access records written outside a publishing transaction", self.code)

    def record_release(
        self,
        conn: Connection,
        resident_ids: Sequence[int],
        *,
        action: str,
        purpose: str,
        items: Sequence[str],
        requester: str,
        requester_kind: str = "agency",
        legal_basis: str | None = None,
        warrant: str | None = None,
        decision: str = "allow",
        reason_codes: Sequence[str] = (),
        sealed_until: date | None = None,
    ) -> None:
        """The access record of a release to another party (enrolment, identity confirmation, change notice),
        written in the caller's transaction before the data leaves (``sekisho.registry.release``)."""
        self._record_access(
            conn,
            resident_ids,
            action=action,
            purpose=purpose,
            items=items,
            actor_kind=requester_kind,
            actor=requester,
            terminal=None,
            legal_basis=legal_basis,
            warrant=warrant,
            decision=decision,
            reason_codes=reason_codes,
            sealed_until=sealed_until,
        )

    # --- the pseudonym index --------------------------------------------------------------------------------

    def _index_new(self, resident_ids: Sequence[int]) -> None:
        """Index records that just committed under s_R·P at the locator (``sekisho.registry.release``).  The
        procedure has already succeeded: if the index cannot be reached the records stay pending (``rp`` NULL)
        for ``sekisho registry join-network``, and the failure is logged without any personal data."""
        if self.index is None or self.pp_key is None:
            return
        from sekisho.registry.release import index_pending

        try:
            index_pending(self, resident_ids=resident_ids)
        except SekishoError as exc:
            log.warning("municipality %s: %d new record(s) left unindexed: %s", self.code, len(resident_ids), exc.kind)

    def _copy_enrolments(self, conn: Connection, rid: int, enrolments: Sequence[tuple[str, str, str]]) -> None:
        """The agencies that enrolled the person at the origin get the person's notices from here on."""
        rows = {(a, p): items for a, p, items in enrolments}
        if rows:
            now = st.utcnow()
            conn.execute(
                st.enrolment.insert(),
                [
                    {"resident_id": rid, "agency": a, "purpose": p, "enrolled_at": now, "decision_id": None, "items": i}
                    for (a, p), i in rows.items()
                ],
            )

    # --- outbox --------------------------------------------------------------------------------------------

    def pending_events(self, *, limit: int = 1000) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(st.event.c.id, st.event.c.kind, st.event.c.event_date, st.resident.c.handle)
                .join(st.resident, st.resident.c.id == st.event.c.resident_id)
                .where(st.event.c.delivered_at.is_(None))
                .order_by(st.event.c.id)
                .limit(limit)
            ).all()
        return [dict(r._mapping) for r in rows]

    def deliver_events(self, sink: EventSink | None = None) -> int:
        """Hand pending outbox events to ``sink`` in order, marking each delivered after the sink accepts it."""
        target = sink or self.events
        if target is None:
            return 0
        done = 0
        for ev in self.pending_events():
            target.deliver(
                kind=ev["kind"], municipality=self.code, handle=ev["handle"], event_date=ev["event_date"], extra={}
            )
            with self.transaction() as conn:
                conn.execute(st.event.update().where(st.event.c.id == ev["id"]).values(delivered_at=st.utcnow()))
            done += 1
        return done


_ITEM_FIELDS = tuple(c for c in IMPORT_COLUMNS if c != "household")
#: a newborn's dates of becoming a resident and of setting the address are its birth date
_FROM_BIRTH = {"became_resident_on": "birth_date", "address_set_on": "birth_date"}


def items_text(r: Resident) -> dict[str, str]:
    """A record's items in import-format text (what a transfer carries and a correction starts from)."""
    f = r.foreign
    return {
        "relationship": r.relationship,
        "family_name": r.family_name,
        "given_name": r.given_name,
        "family_name_kana": r.family_name_kana,
        "given_name_kana": r.given_name_kana,
        "kana_confirmed": "true" if r.kana_confirmed else "false",
        "former_family_name": r.former_family_name,
        "former_family_name_kana": r.former_family_name_kana,
        "alias_name": r.alias_name,
        "alias_name_kana": r.alias_name_kana,
        "alphabet_name": r.alphabet_name,
        "birth_date": r.birth_date.gregorian() if r.is_foreign else r.birth_date.wareki(),
        "sex": r.sex,
        "nationality": r.nationality,
        "foreign_category": f.category.value if f else "",
        "residence_status": f.residence_status if f else "",
        "period_of_stay": f.period_of_stay if f else "",
        "stay_expiry": f.stay_expiry.isoformat() if f and f.stay_expiry else "",
        "residence_card_number": f.residence_card_number if f else "",
        "special_permanent_certificate_number": f.special_permanent_certificate_number if f else "",
        "became_foreign_resident_on": f.became_foreign_resident_on.isoformat() if f else "",
        "postal_code": r.address.postal_code or "",
        "town": r.address.town,
        "block": r.address.block,
        "katagaki": r.address.katagaki,
        "became_resident_on": r.became_resident_on.isoformat(),
        "address_set_on": r.address_set_on.isoformat(),
        "filed_on": r.filed_on.isoformat(),
        "previous_address": r.previous_address,
        "honseki": r.honseki,
        "hittousha": r.hittousha,
        "benefits": ",".join(sorted(r.benefits)),
    }


def network_access_log(home: Home) -> AccessLog | None:
    """The public access log of ``home`` when it has one (``sekisho log init``), reached through the network."""
    from sekisho.network.local import local_access_log

    found: AccessLog | None = local_access_log(home)
    return found


def network_key(home: Home) -> Point | None:
    """The network's public key Y when the network is set up in ``home`` (``sekisho network init``), else None."""
    from sekisho.pseudonyms.keys import load_network, network_path

    if not network_path(home.root).exists():
        return None
    return load_network(home.root).public_key


def bulk_pps(key: Point) -> Callable[[list[bytes]], list[bytes]]:
    """``PP = Enc_Y(P)`` for a list of roots, for the bulk import (``sekisho.pseudonyms.flows``)."""
    from sekisho.pseudonyms.flows import new_polymorphic_pseudonyms_batch

    return functools.partial(new_polymorphic_pseudonyms_batch, public_key=key)


def _token() -> str:
    return base64.b32encode(os.urandom(20)).decode().rstrip("=")


def resident_json(r: Resident) -> dict[str, Any]:
    """The record as the CLI's --json and the API show it (no root, no pseudonym: they never leave)."""
    return {
        "handle": r.handle,
        "household": r.household,
        "relationship": r.relationship,
        "status": r.status.value,
        "version": r.version,
        "name": r.display_name,
        "kana": r.display_kana,
        "kana_confirmed": r.kana_confirmed,
        "family_name": r.family_name,
        "given_name": r.given_name,
        "family_name_kana": r.family_name_kana,
        "given_name_kana": r.given_name_kana,
        "former_family_name": r.former_family_name,
        "former_family_name_kana": r.former_family_name_kana,
        "alias_name": r.alias_name,
        "alias_name_kana": r.alias_name_kana,
        "alphabet_name": r.alphabet_name,
        "birth_date": r.birth_date.iso(),
        "birth_date_display": r.birth_date_display(),
        "sex": r.sex,
        "nationality": r.nationality,
        "foreign": r.foreign.as_dict() if r.foreign else None,
        "address": r.address.line(),
        "town": r.address.town,
        "block": r.address.block,
        "katagaki": r.address.katagaki,
        "postal_code": r.address.postal_code,
        "became_resident_on": r.became_resident_on.isoformat(),
        "address_set_on": r.address_set_on.isoformat(),
        "filed_on": r.filed_on.isoformat(),
        "previous_address": r.previous_address,
        "honseki": r.honseki,
        "hittousha": r.hittousha,
        "benefits": sorted(r.benefits),
        "moving_out": r.moving_out,
        "closed": None
        if r.closed is None
        else {
            "reason": r.closed.reason.value,
            "event_date": r.closed.event_date.isoformat(),
            "filed_on": r.closed.filed_on.isoformat(),
            "destination_planned": r.closed.destination_planned,
            "destination_confirmed": r.closed.destination_confirmed,
        },
    }


def access_list_json(listing: AccessListing) -> dict[str, Any]:
    """The resident's access list as a document they can keep and verify offline (`sekisho log verify-list`)."""
    import base64

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {
        "format": "sekisho-access-list/1",
        "handle": listing.handle,
        "commitment_key": listing.k_res.hex(),
        "checkpoint": listing.checkpoint,
        "since_size": listing.since_size,
        "consistency": [b64(p) for p in listing.consistency],
        "sealed_hidden": listing.sealed_hidden,
        "pending": listing.pending,
        "items": [
            {
                "index": item.index,
                "entry": item.entry.decode(),
                "proof": [b64(p) for p in item.proof],
                "nonce": item.nonce.hex() if item.nonce is not None else None,
            }
            for item in listing.items
        ],
    }


def history_json(h: HistoryEntry) -> dict[str, Any]:
    return {
        "version": h.version,
        "kind": h.kind.value,
        "event_date": h.event_date.isoformat(),
        "filed_on": h.filed_on.isoformat(),
        "late": h.late,
        "recorded_at": h.recorded_at.isoformat() if isinstance(h.recorded_at, datetime) else str(h.recorded_at),
        "actor": h.actor,
        "changes": h.changes,
        "note": h.note,
    }
