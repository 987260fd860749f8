"""The register of one municipality: every procedure in one transaction.

Reads write an access record in the same transaction as the read and return only after it commits: no
personal data leaves the register without a record of who took it, when and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from sekisho.config import Home
from sekisho.errors import Conflict, ErrorList, InvalidInput, NotFound, Refused, SekishoError
from sekisho.jp import text as jp_text
from sekisho.jp.catalogue import get_municipality
from sekisho.protocols.handles import new_handle, parse_handle
from sekisho.protocols.import_format import IMPORT_COLUMNS
from sekisho.protocols.registry import EventSink
from sekisho.registry import procedures as proc
from sekisho.registry import store as st
from sekisho.registry.access import AccessListing, AccessRecords
from sekisho.registry.core import ALL_ITEMS, CONTEXTS, Actor, RegisterCore, bulk_pps, network_key, party_of
from sekisho.registry.handover import HandOver, MoveInResult, PendingTransfer
from sekisho.registry.model import (
    HEAD,
    ClosedReason,
    HistoryEntry,
    Household,
    Resident,
    Status,
    new_household_handle,
    parse_household_handle,
)
from sekisho.registry.views import access_list_json, history_json, items_text, resident_json
from sekisho.storage import PartyNotSetUp, open_party_db

if TYPE_CHECKING:
    from sekisho.registry.bulk import FileFacts

# the names callers import from here (the register's facade), whichever module now defines them
__all__ = [
    "ALL_ITEMS",
    "CONTEXTS",
    "AccessListing",
    "AccessRecords",
    "Actor",
    "HandOver",
    "ImportResult",
    "MoveInResult",
    "PendingTransfer",
    "RegisterCore",
    "RegisterService",
    "access_list_json",
    "bulk_pps",
    "history_json",
    "items_text",
    "network_key",
    "party_of",
    "resident_json",
]


@dataclass(frozen=True, slots=True)
class ImportResult:
    batch_id: int
    rows: int
    households: int


class RegisterService(HandOver):
    """Procedures and reads of one municipality's register (one database / schema): the facade callers use."""

    # --- opening -----------------------------------------------------------------------------------------

    @classmethod
    def create(cls, home: Home, code: str, **kwargs: Any) -> RegisterService:
        """`registry init`: create (or reopen) the register of one municipality."""
        municipality = get_municipality(code)
        engine = open_party_db(home, party_of(municipality.code), CONTEXTS, create=True)
        kwargs.setdefault("pp_key", network_key(home))
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
        return cls(engine, municipality, **kwargs)

    # --- reads (each writes an access record first) ---------------------------------------------------------------

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

    # --- procedures -----------------------------------------------------------------------------------------------

    def add(
        self,
        row: Mapping[str, str],
        *,
        household: str | None = None,
        derived: Mapping[str, str] | None = None,
        distinct_person: bool = False,
    ) -> Resident:
        """Register one resident when loading the register (joins ``household`` or founds a new one).
        ``derived``: items the caller filled from another (:func:`~sekisho.registry.validate.validate_items`).
        A live record with the same name, birth date, sex and address is refused as the same person unless the
        clerk has checked otherwise (``distinct_person``: docs/import-format.md, the one-live-record rule)."""
        items = self._validate(row, derived=derived)
        with self.transaction() as conn:
            if not distinct_person:
                self._check_live_record(conn, items)
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

    # --- bulk import ----------------------------------------------------------------------------------------------

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

    # --- outbox ---------------------------------------------------------------------------------------------------

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
