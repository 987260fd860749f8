"""The register's core: its state, and loading, validating and writing one record inside a procedure's transaction."""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sekisho.config import Home
from sekisho.errors import Conflict, InvalidInput, NotFound, SekishoError
from sekisho.jp.catalogue import Municipality
from sekisho.jp.clock import JST, japan_today
from sekisho.protocols.registry import Directory, EventSink, RegistryIndex, TransferAnnex
from sekisho.registry import procedures as proc
from sekisho.registry import store as st
from sekisho.registry.keys import kana_key as _kana_key
from sekisho.registry.keys import name_key as _name_key
from sekisho.registry.model import Resident
from sekisho.registry.validate import ResidentItems, RowErrors, parse_event_date, validate_items
from sekisho.storage import is_postgres

if TYPE_CHECKING:
    from sekisho.pep.group import Point
    from sekisho.registry.service import RegisterService
    from sekisho.transparency.log import AccessLog


log = logging.getLogger("sekisho.registry")


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


class RegisterCore:
    """The state of one municipality's register and the record-level steps every procedure uses (load, write,
    validate); the access records, household rules and hand-over build on it (``sekisho.registry.service``)."""

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
        open_annex: Callable[[RegisterCore], TransferAnnex] | None = None,
        access_log: AccessLog | None = None,
    ) -> None:
        self.engine = engine
        #: the public access log: every access record is appended to it before the data it records leaves
        self.access_log = access_log
        #: support measures travel with a hand-over: ``annex``, or the one ``open_annex`` opens on first use (the
        #: composition root hands in the municipality's policy tables; see _transfer_annex)
        self.annex = annex
        self._open_annex = open_annex
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

    def today(self) -> date:
        return self._today()

    def policy_clock(self) -> datetime:
        """The annex's clock on this register's day: a register run on another day (a test's clock, a replay)
        must judge a support measure's expiry on that day, not on the machine's."""
        now = datetime.now(JST)
        return datetime.combine(self._today(), now.timetz()) if self._own_today else now

    # --- records --------------------------------------------------------------------------------------------------

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
                from sekisho.pep.flows import new_polymorphic_pseudonym

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

    def _index_new(self, resident_ids: Sequence[int]) -> None:
        """Index records that just committed under s_R·P at the locator (``sekisho.registry.release``).  The
        procedure has already succeeded: if the index cannot be reached the records stay pending (``rp`` NULL)
        for ``sekisho registry join-network``, and the failure is logged without any personal data."""
        if self.index is None or self.pp_key is None:
            return
        from sekisho.registry.release import index_pending

        try:
            # the core is only ever the base of the RegisterService facade that the index reads through
            index_pending(cast("RegisterService", self), resident_ids=resident_ids)
        except SekishoError as exc:
            log.warning("municipality %s: %d new record(s) left unindexed: %s", self.code, len(resident_ids), exc.kind)


def bulk_pps(key: Point) -> Callable[[list[bytes]], list[bytes]]:
    """``PP = Enc_Y(P)`` for a list of roots, for the bulk import (``sekisho.pep.flows``)."""
    from sekisho.pep.flows import new_polymorphic_pseudonyms_batch

    return functools.partial(new_polymorphic_pseudonyms_batch, public_key=key)


def network_key(home: Home) -> Point | None:
    """The network's public key Y when the network is set up in ``home`` (``sekisho network init``), else None."""
    from sekisho.pep.keys import load_network, network_path

    if not network_path(home.root).exists():
        return None
    return load_network(home.root).public_key
