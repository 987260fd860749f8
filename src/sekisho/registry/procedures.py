"""The procedures of the Basic Resident Registration Act as pure functions.

Each function takes the current record(s) and a validated request and returns :class:`Change` values: the new
state of each record, the history row to write, and the events other parties must hear about.  No storage
here; :mod:`sekisho.registry.service` runs each procedure in one transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sekisho.errors import Conflict, InvalidInput
from sekisho.jp.address import Address
from sekisho.registry import deadlines
from sekisho.registry.model import (
    HEAD,
    ClosedReason,
    Closure,
    EventKind,
    Resident,
    Status,
)
from sekisho.registry.validate import ResidentItems

#: items a history row tracks (everything a clerk sees on 住民票 plus state)
TRACKED = (
    "household",
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
    "foreign",
    "address",
    "became_resident_on",
    "address_set_on",
    "filed_on",
    "previous_address",
    "honseki",
    "hittousha",
    "benefits",
    "status",
    "closed",
    "moving_out",
)

#: event kinds other parties subscribe to (agencies' change notices, the PKI's revocation rules)
DIED = "died"
MOVED_OUT = "moved_out"
MOVED_IN = "moved_in"
MOVED_WITHIN = "moved_within"
NAME_CHANGED = "name_changed"
BORN = "born"
CLOSED = "closed"
CORRECTED = "corrected"


@dataclass(frozen=True, slots=True)
class Change:
    before: Resident | None
    after: Resident
    kind: EventKind
    event_date: date
    filed_on: date
    late: bool = False
    note: str = ""
    events: tuple[str, ...] = ()

    def diff(self) -> dict[str, list[Any]]:
        if self.before is None:
            return {}
        out: dict[str, list[Any]] = {}
        for name in TRACKED:
            old, new = getattr(self.before, name), getattr(self.after, name)
            if old != new:
                out[name] = [_text(old), _text(new)]
        return out


def _text(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, Address):
        return value.line()
    iso = getattr(value, "iso", None)
    if callable(iso):
        return iso()
    if dataclasses.is_dataclass(value):
        as_dict = getattr(value, "as_dict", None)
        if callable(as_dict):
            return as_dict()
        return {k: _text(v) for k, v in dataclasses.asdict(value).items()}  # type: ignore[arg-type]
    return str(value)


def _require_active(r: Resident) -> None:
    if r.status is not Status.ACTIVE:
        raise Conflict("the record is not active (closed records are kept, not changed)", field="handle")


def _name_changed(before: Resident, after: Resident) -> bool:
    return (before.family_name, before.given_name, before.alphabet_name, before.alias_name) != (
        after.family_name,
        after.given_name,
        after.alphabet_name,
        after.alias_name,
    )


def new_record(items: ResidentItems, *, handle: str, household: str, status: Status = Status.ACTIVE) -> Resident:
    return Resident(
        handle=handle,
        household=household,
        relationship=items.relationship,
        family_name=items.family_name,
        given_name=items.given_name,
        family_name_kana=items.family_name_kana,
        given_name_kana=items.given_name_kana,
        kana_confirmed=items.kana_confirmed,
        birth_date=items.birth_date,
        sex=items.sex,
        nationality=items.nationality,
        address=items.address,
        became_resident_on=items.became_resident_on,
        address_set_on=items.address_set_on,
        filed_on=items.filed_on,
        status=status,
        former_family_name=items.former_family_name,
        former_family_name_kana=items.former_family_name_kana,
        alias_name=items.alias_name,
        alias_name_kana=items.alias_name_kana,
        alphabet_name=items.alphabet_name,
        foreign=items.foreign,
        previous_address=items.previous_address,
        honseki=items.honseki,
        hittousha=items.hittousha,
        benefits=items.benefits,
    )


def register(items: ResidentItems, *, handle: str, household: str) -> Change:
    """Create a record when a register is loaded (the initial data of a municipality, or `registry add`)."""
    r = new_record(items, handle=handle, household=household)
    return Change(None, r, EventKind.REGISTERED, items.became_resident_on, items.filed_on)


def birth(items: ResidentItems, *, handle: str, household: str, filed_on: date) -> Change:
    """出生: the child becomes a resident on the day of birth at the household's address."""
    if not items.birth_date.is_complete:
        raise InvalidInput("a birth needs the complete date of birth", field="birth_date")
    born = items.birth_date.as_date()
    if filed_on < born:
        raise InvalidInput("is before the birth", field="filed_on")
    r = new_record(items, handle=handle, household=household)
    r = replace(r, became_resident_on=born, address_set_on=born, filed_on=filed_on)
    late = deadlines.is_late(born, filed_on, deadlines.BIRTH_DAYS)
    return Change(None, r, EventKind.BIRTH, born, filed_on, late=late, events=(BORN,))


def death(r: Resident, *, died_on: date, filed_on: date, learned_on: date | None = None) -> Change:
    """死亡: the record closes (除票) with reason 死亡; the 7 days run from learning of the death."""
    _require_active(r)
    if died_on < r.became_resident_on and (r.birth_date.is_complete and died_on < r.birth_date.as_date()):
        raise InvalidInput("is before the birth date", field="died_on")
    if filed_on < died_on:
        raise InvalidInput("is before the death", field="filed_on")
    learned = learned_on or died_on
    if learned < died_on:
        raise InvalidInput("is before the death", field="learned_on")
    after = replace(
        r,
        status=Status.CLOSED,
        closed=Closure(ClosedReason.DEATH, died_on, filed_on),
        moving_out=False,
        version=r.version + 1,
    )
    late = deadlines.is_late(learned, filed_on, deadlines.DEATH_DAYS)
    return Change(r, after, EventKind.DEATH, died_on, filed_on, late=late, events=(DIED,))


# --- the household rules ------------------------------------------------------------------------------------
# A household (世帯) with active members has exactly one head (世帯主), with two exceptions the law itself makes:
#
# * the head died (or was closed on the clerk's authority: 職権消除, 失踪宣告) and two or more members remain: the
#   household stays and its members file the new head (世帯主変更届, 住基法 §25) within 14 days; until a household
#   change names one, the head is vacant.  A sole remaining member becomes the head at once, without a filing.
# * every remaining member has a pending move-out (the household is moving away; the head was handed over first).
#
# The head cannot move out (or abroad) while a member stays: the members name the new head first (household
# change), or move out too.  :func:`household_fault` states the rules; the service checks them after every
# procedure, for every household the procedure touched, and refuses the procedure (nothing written) otherwise.

HEAD_LEAVES = "the head (世帯主) cannot move out while other members stay: name the new head first (household change)"
TWO_HEADS = "a household has exactly one head (世帯主)"
NO_HEAD = "the household would be left without a head (世帯主): name the new head in a household change"


def household_fault(members: Sequence[Resident], *, vacancy_allowed: bool) -> str | None:
    """The household rule that ``members`` (one household's records) break, or None.

    ``vacancy_allowed``: the household's head died or was closed ex officio in this procedure, or the head was
    already vacant before it (waiting for the 世帯主変更届).
    """
    active = [m for m in members if m.status is Status.ACTIVE]
    heads = [m for m in active if m.is_head]
    staying = [m for m in active if not m.moving_out]
    if len(heads) > 1:
        return TWO_HEADS
    if heads:
        head = heads[0]
        return HEAD_LEAVES if head.moving_out and any(m is not head for m in staying) else None
    if not active or not staying:
        return None  # nobody left, or everybody is moving out
    if len(active) == 1 or not vacancy_allowed:
        return NO_HEAD  # a sole member succeeds (see head_succession) before the rules are checked
    return None


def head_succession(survivor: Resident, *, on: date, filed_on: date) -> Change:
    """When the head dies or leaves and one member remains, that member becomes the head (no filing needed)."""
    after = replace(survivor, relationship=HEAD, version=survivor.version + 1)
    return Change(survivor, after, EventKind.HOUSEHOLD_CHANGE, on, filed_on, note="sole remaining member")


def move_out(r: Resident, *, planned_on: date, filed_on: date) -> Change:
    """転出届: the record stays active until the destination takes the person in (hand-over)."""
    _require_active(r)
    if r.moving_out:
        raise Conflict("a move-out is already pending for this resident", field="handle")
    after = replace(r, moving_out=True, version=r.version + 1)
    late = deadlines.is_late(planned_on, filed_on, deadlines.MOVE_OUT_DAYS)
    return Change(r, after, EventKind.MOVE_OUT, planned_on, filed_on, late=late)


def cancel_move_out(r: Resident, *, filed_on: date) -> Change:
    _require_active(r)
    if not r.moving_out:
        raise Conflict("no move-out is pending for this resident", field="handle")
    after = replace(r, moving_out=False, version=r.version + 1)
    return Change(r, after, EventKind.MOVE_OUT_CANCELLED, filed_on, filed_on)


def hand_over(
    r: Resident, *, moved_on: date, filed_on: date, destination_planned: str, destination_confirmed: str
) -> Change:
    """転出確定: the destination registered the person; this record closes with reason 転出."""
    _require_active(r)
    after = replace(
        r,
        status=Status.CLOSED,
        moving_out=False,
        closed=Closure(ClosedReason.MOVE_OUT, moved_on, filed_on, destination_planned, destination_confirmed),
        version=r.version + 1,
    )
    return Change(r, after, EventKind.HANDED_OVER, moved_on, filed_on, events=(MOVED_OUT,))


def move_abroad(r: Resident, *, moved_on: date, filed_on: date, destination: str) -> Change:
    """国外転出: no hand-over; the record closes on the planned date."""
    _require_active(r)
    after = replace(
        r,
        status=Status.CLOSED,
        moving_out=False,
        closed=Closure(ClosedReason.ABROAD, moved_on, filed_on, destination, ""),
        version=r.version + 1,
    )
    late = deadlines.is_late(moved_on, filed_on, deadlines.MOVE_OUT_DAYS)
    return Change(r, after, EventKind.CLOSED, moved_on, filed_on, late=late, events=(MOVED_OUT,))


def move_in(items: ResidentItems, *, handle: str, household: str, moved_on: date, status: Status) -> Change:
    """転入: a new record whose resident-since and address dates are the day of moving in."""
    if items.filed_on < moved_on:
        raise InvalidInput("is before the day of moving in", field="filed_on")
    r = new_record(items, handle=handle, household=household, status=status)
    r = replace(r, became_resident_on=moved_on, address_set_on=moved_on)
    late = deadlines.is_late(moved_on, items.filed_on, deadlines.MOVE_IN_DAYS)
    return Change(None, r, EventKind.MOVE_IN, moved_on, items.filed_on, late=late, events=(MOVED_IN,))


def activate_incoming(r: Resident) -> Resident:
    if r.status is not Status.INCOMING:
        raise Conflict("the record is not waiting for a hand-over", field="handle")
    return replace(r, status=Status.ACTIVE)


def move_within(r: Resident, *, address: Address, moved_on: date, filed_on: date) -> Change:
    """転居: a new address in the same municipality; the address date is the day of moving."""
    _require_active(r)
    if address == r.address:
        raise InvalidInput("is the current address", field="address")
    if filed_on < moved_on and (moved_on - filed_on).days > 0:
        # a 転居届 is filed after moving (住基法 §23)
        raise InvalidInput("is before the day of moving", field="filed_on")
    after = replace(r, address=address, address_set_on=moved_on, version=r.version + 1)
    late = deadlines.is_late(moved_on, filed_on, deadlines.MOVE_WITHIN_DAYS)
    return Change(r, after, EventKind.MOVE_WITHIN, moved_on, filed_on, late=late, events=(MOVED_WITHIN,))


def household_change(r: Resident, *, household: str, relationship: str, changed_on: date, filed_on: date) -> Change:
    """世帯変更 / 世帯主変更 for one member: a new household or a new relationship to the head."""
    _require_active(r)
    if (household, relationship) == (r.household, r.relationship):
        raise InvalidInput("changes nothing", field="relationship")
    after = replace(r, household=household, relationship=relationship, version=r.version + 1)
    late = deadlines.is_late(changed_on, filed_on, deadlines.HOUSEHOLD_DAYS)
    return Change(r, after, EventKind.HOUSEHOLD_CHANGE, changed_on, filed_on, late=late)


def correct(r: Resident, corrected: ResidentItems, *, on: date, reason: str) -> Change:
    """職権修正 / 訂正: fix items recorded wrongly; the history keeps what was there."""
    if r.status is Status.INCOMING:
        raise Conflict("the record is waiting for a hand-over", field="handle")
    after = replace(
        r,
        family_name=corrected.family_name,
        given_name=corrected.given_name,
        family_name_kana=corrected.family_name_kana,
        given_name_kana=corrected.given_name_kana,
        kana_confirmed=corrected.kana_confirmed,
        former_family_name=corrected.former_family_name,
        former_family_name_kana=corrected.former_family_name_kana,
        alias_name=corrected.alias_name,
        alias_name_kana=corrected.alias_name_kana,
        alphabet_name=corrected.alphabet_name,
        birth_date=corrected.birth_date,
        sex=corrected.sex,
        nationality=corrected.nationality,
        foreign=corrected.foreign,
        address=corrected.address,
        became_resident_on=corrected.became_resident_on,
        address_set_on=corrected.address_set_on,
        filed_on=corrected.filed_on,
        previous_address=corrected.previous_address,
        honseki=corrected.honseki,
        hittousha=corrected.hittousha,
        benefits=corrected.benefits,
        version=r.version + 1,
    )
    change = Change(r, after, EventKind.CORRECTION, on, on, note=reason)
    if not change.diff():
        raise InvalidInput("changes nothing", field="correction")
    events = (NAME_CHANGED,) if _name_changed(r, after) else (CORRECTED,)
    return replace(change, events=events)


def furigana(r: Resident, *, family_kana: str, given_kana: str, filed_on: date) -> Change:
    """振り仮名の届出 (2025-05-26): the reading as the resident states it, marked confirmed."""
    _require_active(r)
    if r.is_foreign:
        raise InvalidInput("foreign residents have no furigana on 住民票", field="handle")
    after = replace(
        r, family_name_kana=family_kana, given_name_kana=given_kana, kana_confirmed=True, version=r.version + 1
    )
    return Change(r, after, EventKind.FURIGANA, filed_on, filed_on)


def close(r: Resident, *, reason: ClosedReason, on: date, filed_on: date) -> Change:
    """職権消除 / 失踪宣告: the record closes on the clerk's authority."""
    _require_active(r)
    if reason in (ClosedReason.DEATH, ClosedReason.MOVE_OUT):
        raise InvalidInput("use the death or move-out procedure for this reason", field="reason")
    after = replace(
        r,
        status=Status.CLOSED,
        moving_out=False,
        closed=Closure(reason, on, filed_on),
        version=r.version + 1,
    )
    return Change(r, after, EventKind.CLOSED, on, filed_on, events=(CLOSED,))
