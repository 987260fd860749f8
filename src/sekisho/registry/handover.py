"""The move hand-over between two municipalities' registers (転出, 転入 with a transfer token)."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sekisho.errors import Conflict, InvalidInput, NotFound, Refused, SekishoError, Unavailable
from sekisho.failpoints import failpoint
from sekisho.protocols.handles import new_handle, parse_handle
from sekisho.protocols.registry import TransferAnnex, TransferPackage
from sekisho.registry import procedures as proc
from sekisho.registry import store as st
from sekisho.registry.access import AccessRecords
from sekisho.registry.core import ALL_ITEMS
from sekisho.registry.households import HouseholdRules
from sekisho.registry.model import HEAD, Resident, Status, parse_household_handle
from sekisho.registry.views import items_text


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


class HandOver(HouseholdRules, AccessRecords):
    """Moving between municipalities: 転出 here (a transfer token), the origin's side of the hand-over (fetch,
    complete) and the destination's (転入 with the token).  Never two active records for one person."""

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
            if t.state == "issued" and not self._fetched_by(conn, t, requester):
                # refused before anything is recorded or leaves; once the package has gone to the destination the
                # hand-over is under way and a retry must be able to finish it (even past the deadline)
                if t.destination_code is not None and requester != t.destination_code:
                    raise Refused(
                        "this transfer names another municipality as the destination: a new move-out is needed",
                        field="transfer",
                    )
                check_not_expired(planned_on=t.planned_on, today=self.today())
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
        failpoint("transfer.fetched")
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
        failpoint("transfer.closed")
        if rp is not None and self.index is not None and not self._back_here(token):
            self.index.hand_over(bytes(rp), to=requester)
        failpoint("transfer.located")

    def _back_here(self, token: str) -> bool:
        """Whether the person of an old transfer has a live record here again (moved away and back): a late
        duplicate of that transfer's completion must not move the locator's entry away from this register."""
        r, t = st.resident.c, st.transfer.c
        with self.engine.connect() as conn:
            root = conn.execute(
                sa.select(r.root).join(st.transfer, t.resident_id == r.id).where(t.token == token.strip())
            ).scalar()
            live = conn.execute(
                sa.select(r.id).where(r.root == root, r.status.in_([Status.ACTIVE.value, Status.INCOMING.value]))
            ).first()
        return live is not None

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
            if not self._fetched_by(conn, t, requester):
                # the destination completes only a transfer whose package it took (and recorded taking)
                raise Conflict("the destination has not taken this transfer's package yet", field="transfer")
            check_hand_over_dates(moved_on=moved_on, last_address_on=r.address_set_on, today=self.today())
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

    def _fetched_by(self, conn: Connection, t: Any, requester: str) -> bool:
        """Whether ``requester`` has taken transfer ``t``'s package (its access record is here)."""
        found = conn.execute(
            sa.select(st.access.c.id).where(
                st.access.c.resident_id == t.resident_id,
                st.access.c.action == "transfer",
                st.access.c.actor_kind == "municipality",
                st.access.c.actor == requester,
            )
        ).first()
        return found is not None

    def _cancel_transfers(self, conn: Connection, rid: int) -> None:
        """The record will not be handed over (cancelled, or closed here): its open transfer can no longer be taken
        over, so a destination neither fetches the record nor waits for a hand-over that cannot happen."""
        conn.execute(
            st.transfer.update()
            .where(st.transfer.c.resident_id == rid, st.transfer.c.state == "issued")
            .values(state="cancelled")
        )

    def _transfer_annex(self) -> TransferAnnex:
        """The support measures of this municipality, as the composition root handed them in (the policy tables in
        this same database: ``sekisho.node.registers``).  Never optional: a hand-over that dropped a measure would
        expose the person at the destination, so a register opened without one refuses to hand over."""
        if self.annex is None:
            if self._open_annex is None:
                raise Unavailable("this register was opened without its transfer annex", field="annex")
            self.annex = self._open_annex(self)
        return self.annex

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
        failpoint("move-in.fetched")
        if existing is None:
            # the origin's rules, checked here too before anything is written: a refusal at the completion would
            # leave an incoming record behind
            check_not_expired(planned_on=package.planned_on, today=self.today())
            check_hand_over_dates(
                moved_on=moved,
                last_address_on=date.fromisoformat(package.items.get("address_set_on") or moved.isoformat()),
                today=self.today(),
            )
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
        failpoint("move-in.incoming")
        origin.complete_transfer(token, requester=self.code, moved_on=moved, destination_line=incoming_r.address.line())
        failpoint("move-in.completed")
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
        failpoint("move-in.active")
        if row_now.rp is None:
            self._index_new([row_now.id])
        return MoveInResult(active)

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


def _token() -> str:
    return base64.b32encode(os.urandom(20)).decode().rstrip("=")


def check_not_expired(*, planned_on: date, today: date) -> None:
    """A transfer is taken within 30 days of the planned move-out (特例転入, 住基法 §24の2); after that the person
    files the move-in with a paper certificate of moving out, and the token is refused."""
    from sekisho.registry import deadlines

    if today > deadlines.deadline(planned_on, deadlines.CARD_MOVE_IN_DAYS):
        raise Refused("this transfer has expired (30 days after the planned move-out)", field="transfer")


def check_hand_over_dates(*, moved_on: date, last_address_on: date, today: date) -> None:
    """The day of moving in, as the destination states it, must fit the origin's record: not before the person's
    last address there, not after the origin's today.  Checked on both sides, before either writes anything."""
    if moved_on < last_address_on:
        raise InvalidInput(
            "is before the person's last change of address at the municipality of origin", field="moved_on"
        )
    if moved_on > today:
        raise InvalidInput("is after today at the municipality of origin", field="moved_on")
