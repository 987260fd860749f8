"""The register's side of a certificate of residence (住民票の写し): the items a certificate shows, read in one
transaction that writes the access record before they leave, and the record of a refused request.

The decision (legal basis ∩ request, the resident's protections, 本人通知) is taken before this is called, by the
decision point and the municipality's policy, which the composition root asks (``sekisho.node.residence``); this
module only reads what was allowed and records who asked: the counter's municipality as actor, the legal basis's
row as purpose (``certificate.self``, ``certificate.wide-area``, ``certificate.proxy``, ``certificate.third-party``),
the items released.  The requester's own identity never reaches the public log; the resident sees the access in
their access list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from sekisho.errors import InvalidInput, Refused
from sekisho.jp.catalogue import get_municipality
from sekisho.protocols.handles import parse_handle
from sekisho.registry import store as st
from sekisho.registry.model import HEAD, Resident, Status
from sekisho.registry.service import RegisterService

ACTION = "certificate"
#: the items a certificate may carry (the decision point's item names; ``moved``: the previous address)
CERTIFICATE_ITEMS = frozenset(
    {"name", "kana", "birth_date", "sex", "address", "resident_since", "household", "honseki", "moved"}
)


def _items(items: Iterable[str]) -> tuple[str, ...]:
    out = tuple(sorted(set(items)))
    if not out or not set(out) <= CERTIFICATE_ITEMS:
        raise InvalidInput("must be items a certificate of residence shows", field="items")
    return out


def _released(r: Resident, shown: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": r.display_name,
        "birth_date": r.birth_date.iso(),
        "sex": r.sex,
        "address": r.address.line(),
        "foreign": r.is_foreign,
    }
    if "kana" in shown:
        out["kana"] = r.display_kana
    if "resident_since" in shown:
        out["resident_since"] = r.became_resident_on.isoformat()
        out["address_since"] = r.address_set_on.isoformat()
        out["filed_on"] = r.filed_on.isoformat()
    if "honseki" in shown:
        if r.is_foreign:
            raise Refused("a foreign resident's record has no 本籍", field="items")
        out["honseki"], out["hittousha"] = r.honseki, r.hittousha
    if "moved" in shown:
        out["previous_address"] = r.previous_address
    if "household" in shown:
        out["relationship"] = r.relationship
    if r.closed is not None:  # a 除票 shows why and when it was closed (消除事由・消除日) and where the person went
        out["closed"] = {
            "reason": r.closed.reason.value,
            "on": r.closed.event_date.isoformat(),
            "filed_on": r.closed.filed_on.isoformat(),
            "destination": r.closed.destination_confirmed or r.closed.destination_planned,
        }
    return out


def certificate_items(
    register: RegisterService,
    handle: str,
    *,
    items: Iterable[str],
    purpose: str,
    counter: str,
    legal_basis: str | None,
    closed: bool = False,
) -> dict[str, Any]:
    """The allowed ``items`` of resident ``handle`` — an active record, or with ``closed`` a closed one (除票: who
    moved out or died; the home keeps it) — with the access record — actor the counter's municipality ``counter``
    — written in the read's transaction and in the public log before this returns.  A household's head gets an
    access record of their own for their name, which the member's certificate shows as 世帯主."""
    h = parse_handle(handle)
    shown = _items(items)
    actor = get_municipality(counter, field="counter").code
    with register.transaction() as conn:
        rid, r = register._load(conn, h)
        if closed and r.status is not Status.CLOSED:
            raise Refused("a copy of a 除票 is issued for a closed record only", field="handle")
        if not closed and r.status is not Status.ACTIVE:
            raise Refused(
                "a certificate of residence is issued for an active record only (else: its 除票)", field="handle"
            )
        out = _released(r, shown)
        readers: list[tuple[int, Sequence[str]]] = [(rid, shown)]
        if "household" in shown:
            head = _head(conn, r.household) if not r.is_head else None
            if head is not None and head[0] != rid:
                readers.append((head[0], ("name",)))
            out["household_head"] = r.display_name if r.is_head else (head[1] if head else "")
        for resident_id, read in readers:
            _record(register, conn, resident_id, read, purpose=purpose, actor=actor, legal_basis=legal_basis)
    return out


def household_certificate_items(
    register: RegisterService,
    handle: str,
    *,
    members: Sequence[str],
    items: Iterable[str],
    purpose: str,
    counter: str,
    legal_basis: str | None,
) -> list[dict[str, Any]]:
    """A whole household's certificate (世帯全員の住民票の写し): the allowed ``items`` of each of ``members`` —
    the active members of ``handle``'s household the decision allowed, ``handle`` among them — head first, then in
    the register's order, in one transaction writing one access record per member shown.  世帯主 is shown only
    when the head is among them (a member withheld is named nowhere on it)."""
    h = parse_handle(handle)
    wanted = {parse_handle(m, field="members") for m in members}
    shown = _items(items)
    actor = get_municipality(counter, field="counter").code
    if h not in wanted:
        raise Refused("the resident asked about is not among the members allowed", field="handle")
    with register.transaction() as conn:
        _, r = register._load(conn, h)
        if r.status is not Status.ACTIVE:
            raise Refused("a household's certificate is issued for an active record only", field="handle")
        rows = conn.execute(
            sa.select(st.resident.c.id, st.resident.c.handle)
            .join(st.household, st.household.c.id == st.resident.c.household_id)
            .where(st.household.c.handle == r.household, st.resident.c.status == Status.ACTIVE.value)
            .order_by(st.resident.c.id)
        ).all()
        found = [(int(row.id), str(row.handle)) for row in rows if row.handle in wanted]
        if len(found) != len(wanted):
            raise Refused("a member allowed is no longer in the household", field="members")
        people: list[tuple[int, Resident]] = [(rid, register._load(conn, mh)[1]) for rid, mh in found]
        people.sort(key=lambda p: not p[1].is_head)
        head = next((p.display_name for _, p in people if p.is_head), "")
        out = []
        for rid, person in people:
            released = _released(person, shown)
            if "household" in shown:
                released["household_head"] = head
            out.append(released)
            _record(register, conn, rid, shown, purpose=purpose, actor=actor, legal_basis=legal_basis)
    return out


def _record(
    register: RegisterService,
    conn: sa.Connection,
    resident_id: int,
    items: Sequence[str],
    *,
    purpose: str,
    actor: str,
    legal_basis: str | None,
) -> None:
    register._record_access(
        conn,
        [resident_id],
        action=ACTION,
        purpose=purpose,
        items=items,
        actor_kind="municipality",
        actor=actor,
        terminal=None,
        legal_basis=legal_basis,
    )


def _head(conn: sa.Connection, household: str) -> tuple[int, str] | None:
    r = st.resident
    hid = conn.execute(sa.select(st.household.c.id).where(st.household.c.handle == household)).scalar()
    row = conn.execute(
        sa.select(r.c.id, r.c.family_name, r.c.given_name, r.c.alphabet_name, r.c.nationality).where(
            r.c.household_id == hid, r.c.relationship == HEAD, r.c.status == Status.ACTIVE.value
        )
    ).first()
    if row is None:
        return None  # a vacant head (died; the members have not named a new one yet): shown empty
    kanji = f"{row.family_name}\u3000{row.given_name}".strip("\u3000")
    name = kanji if row.nationality == "JP" else (f"{row.alphabet_name}（{kanji}）" if kanji else row.alphabet_name)
    return int(row.id), name


def certificate_refused(
    register: RegisterService, handle: str, *, purpose: str, counter: str, reasons: Sequence[str]
) -> None:
    """The record of a refused request (a protected resident, a named requester, items beyond the law): the
    resident sees in their access list that someone asked, and was refused, and why (codes only)."""
    h = parse_handle(handle)
    actor = get_municipality(counter, field="counter").code
    with register.transaction() as conn:
        rid, _ = register._load(conn, h)
        register._record_access(
            conn,
            [rid],
            action=ACTION,
            purpose=purpose,
            items=(),
            actor_kind="municipality",
            actor=actor,
            terminal=None,
            decision="deny",
            reason_codes=tuple(reasons),
        )


def same_household(register: RegisterService, handle: str, other: str) -> bool:
    """Whether ``other`` is an active member of ``handle``'s household (a member asks for the resident's
    certificate as the resident does).  Nothing of either record leaves: the certificate's read records itself."""
    h, o = parse_handle(handle), parse_handle(other, field="requester")
    r = st.resident
    with register.engine.connect() as conn:
        rows = conn.execute(
            sa.select(r.c.handle, r.c.household_id).where(r.c.handle.in_([h, o]), r.c.status == Status.ACTIVE.value)
        ).all()
    households = {row.handle: row.household_id for row in rows}
    return h != o and h in households and households.get(o) == households[h]
