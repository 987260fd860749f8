"""Household rules inside a procedure: who may join, found or leave a household."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sekisho.errors import Conflict, InvalidInput
from sekisho.registry import procedures as proc
from sekisho.registry import store as st
from sekisho.registry.core import RegisterCore
from sekisho.registry.keys import name_key as _name_key
from sekisho.registry.model import HEAD, Resident, Status, new_household_handle, parse_household_handle
from sekisho.registry.validate import ResidentItems

if TYPE_CHECKING:
    from sekisho.jp.address import Address


log = logging.getLogger("sekisho.registry")


class HouseholdRules(RegisterCore):
    """The household rules (one head per household, members at the household's address, a vacancy only after a
    head died or left), checked inside each procedure's transaction (rules themselves: ``procedures``)."""

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

    def _same_person(self, conn: Connection, items: ResidentItems, *conditions: Any) -> bool:
        """Whether a record of this register has the same folded name, birth date and sex, and ``conditions``."""
        same = conn.execute(
            sa.select(st.resident.c.id).where(
                st.resident.c.name_key == _name_key(items),
                st.resident.c.birth_date == items.birth_date.iso(),
                st.resident.c.sex == items.sex,
                *conditions,
            )
        ).first()
        return same is not None

    def _check_duplicate(self, conn: Connection, items: ResidentItems) -> None:
        """Someone arriving from outside the network has no root yet: refuse an obvious second record."""
        if self._same_person(conn, items, st.resident.c.status == Status.ACTIVE.value):
            raise Conflict(
                "an active resident with the same name, birth date and sex is already registered here",
                field="resident",
            )

    def _check_live_record(self, conn: Connection, items: ResidentItems) -> None:
        """The import's one-live-record rule (docs/import-format.md) for a record added by hand: the same folded
        name, birth date, sex and address (without its 方書) as a live record (active, or incoming from a move) of
        this register is that person."""
        if self._same_person(
            conn,
            items,
            st.resident.c.status.in_([Status.ACTIVE.value, Status.INCOMING.value]),
            st.resident.c.address_code == items.address.municipality_code,
            st.resident.c.town == items.address.town,
            st.resident.c.block == items.address.block,
        ):
            raise Conflict(
                "already has a live record in this register (same name, birth date, sex and address); a clerk who "
                "has checked that this is another person registers with --distinct-person",
                field="person",
            )

    def _members(self, conn: Connection, hid: int) -> list[tuple[int, Resident]]:
        rows = conn.execute(
            self._select()
            .where(st.resident.c.household_id == hid, st.resident.c.status == Status.ACTIVE.value)
            .order_by(st.resident.c.id)
        ).all()
        return [(row.id, self._from_row(row)) for row in rows]

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
