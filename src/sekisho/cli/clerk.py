"""`sekisho registry …`: the clerk's commands at one municipal register.

Each command parses its options, calls one procedure of :class:`~sekisho.registry.service.RegisterService`
and prints the result (a table, or JSON with ``--json``).  Handles are printed; roots and pseudonyms never are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from sekisho.cli._common import DbOpt, HomeOpt, JsonOpt, console, home_of, print_json, progress, write_out
from sekisho.cli.registry import registry_app
from sekisho.config import Home
from sekisho.errors import InvalidInput
from sekisho.registry.model import HistoryEntry, Household, Resident, Status
from sekisho.registry.service import PendingTransfer, RegisterService, history_json, resident_json

MunicipalityOpt = Annotated[
    str, typer.Option("--municipality", "-m", envvar="SEKISHO_MUNICIPALITY", help="Municipality code (6 digits).")
]
ClerkOpt = Annotated[
    str,
    typer.Option("--clerk", envvar="SEKISHO_CLERK", help="The clerk's id (recorded in history and access records)."),
]
PurposeOpt = Annotated[str, typer.Option("--purpose", help="Why the record is read (recorded in the access record).")]
ItemOpt = Annotated[
    list[str] | None,
    typer.Option("--item", help="Another item as KEY=VALUE (columns of docs/import-format.md); repeatable."),
]


def _service(home: Any, db: str | None, code: str, clerk: str, *, create: bool = False) -> RegisterService:
    # wired by the composition root: in-process, or as the municipality's party over HTTP when a network runs
    from sekisho.node.commands import open_register

    return open_register(home_of(home, db), code, clerk=clerk, create=create)


def _items(pairs: list[str] | None, **named: str | None) -> dict[str, str]:
    out = {k: v for k, v in named.items() if v is not None}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput("must be KEY=VALUE", field="item")
        out[key.strip()] = value
    return out


def _render_resident(r: Resident) -> None:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    t.add_row("handle", r.handle)
    t.add_row("status", r.status.value + ("（転出予定）" if r.moving_out else ""))
    t.add_row("氏名", r.display_name)
    t.add_row("フリガナ", r.display_kana + ("" if r.is_foreign or r.kana_confirmed else "（未確認）"))
    if r.former_family_name:
        t.add_row("旧氏", f"{r.former_family_name}（{r.former_family_name_kana}）")
    if r.alias_name:
        t.add_row("通称", f"{r.alias_name}（{r.alias_name_kana}）")
    t.add_row("生年月日", r.birth_date_display())
    t.add_row("性別", "男" if r.sex == "M" else "女")
    t.add_row("世帯", f"{r.household}　続柄: {r.relationship}")
    t.add_row("住所", r.address.line())
    t.add_row("住民となった年月日", r.became_resident_on.isoformat())
    t.add_row("住所を定めた年月日", r.address_set_on.isoformat())
    t.add_row("届出年月日", r.filed_on.isoformat())
    if r.previous_address:
        t.add_row("従前の住所", r.previous_address)
    if r.honseki:
        t.add_row("本籍", r.honseki)
    if r.hittousha:
        t.add_row("筆頭者", r.hittousha)
    if r.is_foreign:
        t.add_row("国籍・地域", r.nationality)
        if r.foreign:
            f = r.foreign
            t.add_row("区分", f.category.value)
            if f.residence_status:
                t.add_row("在留資格", f"{f.residence_status}　{f.period_of_stay}　満了 {f.stay_expiry or '—'}")
    if r.closed:
        c = r.closed
        dest = (
            f"　{c.destination_confirmed or c.destination_planned}"
            if (c.destination_planned or c.destination_confirmed)
            else ""
        )
        t.add_row("消除", f"{c.reason.value} {c.event_date.isoformat()}（届出 {c.filed_on.isoformat()}）{dest}")
    console.print(Panel(t, title="住民票", expand=False))


def _render_history(data: tuple[Resident, list[HistoryEntry]]) -> None:
    r, entries = data
    t = Table(title=f"異動履歴 {r.handle}")
    for col in ("v", "kind", "event", "filed", "late", "by", "changes"):
        t.add_column(col)
    for h in entries:
        changes = "; ".join(f"{k}: {v[0]} → {v[1]}" for k, v in h.changes.items()) or h.note
        t.add_row(
            str(h.version),
            h.kind.value,
            h.event_date.isoformat(),
            h.filed_on.isoformat(),
            "late" if h.late else "",
            h.actor,
            changes,
        )
    console.print(t)


def _render_list(rs: list[Resident]) -> None:
    t = Table()
    # a clerk copies the handle into the next command: never wrap or cut it, however narrow the terminal
    t.add_column("handle", no_wrap=True, min_width=max((len(r.handle) for r in rs), default=len("handle")))
    for col in ("氏名", "フリガナ", "生年月日", "住所", "status"):
        t.add_column(col)
    for r in rs:
        t.add_row(r.handle, r.display_name, r.display_kana, r.birth_date_display(), r.address.line(), r.status.value)
    console.print(t)


def _late_note(late: bool) -> None:
    if late:
        console.print("[yellow]filed after the statutory deadline: recorded as late[/yellow]")


@registry_app.command("init")
def init(municipality: MunicipalityOpt, home: HomeOpt = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Create the register of one municipality."""
    svc = _service(home, db, municipality, "clerk", create=True)
    m = svc.municipality
    if as_json:
        print_json({"municipality": m.code, "name": m.full_name})
    else:
        console.print(f"register of {m.full_name} ({m.code}) ready")


@registry_app.command("show")
def show(
    handle: str,
    municipality: MunicipalityOpt,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    purpose: PurposeOpt = "register-administration",
    as_json: JsonOpt = False,
) -> None:
    """Show one resident's record (writes an access record first)."""
    r = _service(home, db, municipality, clerk).show(handle, purpose=purpose)
    print_json(resident_json(r)) if as_json else _render_resident(r)


@registry_app.command("history")
def history(
    handle: str,
    municipality: MunicipalityOpt,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    purpose: PurposeOpt = "register-administration",
    as_json: JsonOpt = False,
) -> None:
    """Show a resident's change history (異動履歴)."""
    r, entries = _service(home, db, municipality, clerk).history(handle, purpose=purpose)
    if as_json:
        print_json({"resident": resident_json(r), "history": [history_json(h) for h in entries]})
    else:
        _render_history((r, entries))


@registry_app.command("household")
def household(
    handle: str,
    municipality: MunicipalityOpt,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """Show a household and its members."""
    hh: Household = _service(home, db, municipality, clerk).household(handle)
    head = hh.head
    vacant = head is None and any(m.status is Status.ACTIVE for m in hh.members)
    if as_json:
        print_json(
            {
                "household": hh.handle,
                "head": head.handle if head else None,
                "members": [resident_json(m) for m in hh.members],
            }
        )
    else:
        _render_list(list(hh.members))
        if vacant:
            # after the head's death: the members file the new head (世帯主変更届) within 14 days
            console.print(
                "[yellow]no head (世帯主): record the new head with `sekisho registry household-change`[/yellow]"
            )


@registry_app.command("search")
def search(
    query: str,
    municipality: MunicipalityOpt,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    purpose: PurposeOpt = "register-administration",
    closed: Annotated[bool, typer.Option("--closed", help="Include closed records (除票).")] = False,
    limit: Annotated[int, typer.Option("--limit")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Search by name or reading (variant kanji, width, kana and voicing folded). Every hit is an access."""
    rs = _service(home, db, municipality, clerk).search(query, include_closed=closed, limit=limit, purpose=purpose)
    print_json([resident_json(r) for r in rs]) if as_json else _render_list(rs)


@registry_app.command("add")
def add(
    municipality: MunicipalityOpt,
    family_name: Annotated[str | None, typer.Option("--family-name")] = None,
    given_name: Annotated[str | None, typer.Option("--given-name")] = None,
    family_kana: Annotated[str | None, typer.Option("--family-kana")] = None,
    given_kana: Annotated[str | None, typer.Option("--given-kana")] = None,
    birth_date: Annotated[str | None, typer.Option("--birth-date")] = None,
    sex: Annotated[str | None, typer.Option("--sex")] = None,
    nationality: Annotated[str, typer.Option("--nationality")] = "日本",
    town: Annotated[str | None, typer.Option("--town")] = None,
    block: Annotated[str | None, typer.Option("--block")] = None,
    katagaki: Annotated[str | None, typer.Option("--katagaki")] = None,
    relationship: Annotated[str, typer.Option("--relationship")] = "世帯主",
    became_resident_on: Annotated[str | None, typer.Option("--became-resident-on")] = None,
    address_set_on: Annotated[str | None, typer.Option("--address-set-on")] = None,
    household_handle: Annotated[str | None, typer.Option("--household", help="Join this household.")] = None,
    item: ItemOpt = None,
    distinct_person: Annotated[
        bool,
        typer.Option(
            "--distinct-person",
            help="The clerk has checked that this is another person than the live record with the same name, "
            "birth date, sex and address (refused without it).",
        ),
    ] = False,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """Register one resident while loading the register."""
    row = _items(
        item,
        family_name=family_name,
        given_name=given_name,
        family_name_kana=family_kana,
        given_name_kana=given_kana,
        birth_date=birth_date,
        sex=sex,
        nationality=nationality,
        town=town,
        block=block,
        katagaki=katagaki,
        relationship=relationship,
        became_resident_on=became_resident_on,
        address_set_on=address_set_on or became_resident_on,
    )
    # without --address-set-on it is the date given as --became-resident-on: a problem is said once, of that
    derived = {"address_set_on": "became_resident_on"} if not address_set_on else None
    r = _service(home, db, municipality, clerk).add(
        row, household=household_handle, derived=derived, distinct_person=distinct_person
    )
    print_json(resident_json(r)) if as_json else _render_resident(r)


@registry_app.command("birth")
def birth(
    municipality: MunicipalityOpt,
    household_handle: Annotated[str, typer.Option("--household", help="The household the child is born into.")],
    family_name: Annotated[str, typer.Option("--family-name")],
    given_name: Annotated[str, typer.Option("--given-name")],
    family_kana: Annotated[str, typer.Option("--family-kana")],
    given_kana: Annotated[str, typer.Option("--given-kana")],
    birth_date: Annotated[str, typer.Option("--birth-date")],
    sex: Annotated[str, typer.Option("--sex")],
    relationship: Annotated[str, typer.Option("--relationship")] = "子",
    nationality: Annotated[str, typer.Option("--nationality")] = "日本",
    filed_on: Annotated[str | None, typer.Option("--filed-on")] = None,
    item: ItemOpt = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """出生: register a newborn in a household."""
    row = _items(
        item,
        family_name=family_name,
        given_name=given_name,
        family_name_kana=family_kana,
        given_name_kana=given_kana,
        birth_date=birth_date,
        sex=sex,
        relationship=relationship,
        nationality=nationality,
    )
    r, late = _service(home, db, municipality, clerk).birth(row, household=household_handle, filed_on=filed_on)
    if as_json:
        print_json(resident_json(r) | {"late": late})
    else:
        _render_resident(r)
        _late_note(late)


@registry_app.command("death")
def death(
    handle: str,
    municipality: MunicipalityOpt,
    died_on: Annotated[str, typer.Option("--died-on")],
    filed_on: Annotated[str | None, typer.Option("--filed-on")] = None,
    learned_on: Annotated[str | None, typer.Option("--learned-on", help="When the filer learned of the death.")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """死亡: close the record (除票, kept)."""
    r, late = _service(home, db, municipality, clerk).death(
        handle, died_on=died_on, filed_on=filed_on, learned_on=learned_on
    )
    if as_json:
        print_json(resident_json(r) | {"late": late})
    else:
        _render_resident(r)
        _late_note(late)


@registry_app.command("move-out")
def move_out(
    handle: str,
    municipality: MunicipalityOpt,
    to: Annotated[str, typer.Option("--to", help="Destination address line (prefecture, municipality, town, block).")],
    planned_on: Annotated[str, typer.Option("--planned-on")],
    filed_on: Annotated[str | None, typer.Option("--filed-on")] = None,
    abroad: Annotated[bool, typer.Option("--abroad", help="国外転出: close the record, no hand-over.")] = False,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """転出: issue the transfer the destination's move-in will take over."""
    r, token, late = _service(home, db, municipality, clerk).move_out(
        handle, destination=to, planned_on=planned_on, filed_on=filed_on, abroad=abroad
    )
    if as_json:
        print_json(resident_json(r) | {"transfer": token, "late": late})
    else:
        _render_resident(r)
        if token:
            console.print(f"transfer (転出証明書情報): [bold]{token}[/bold]  (again: `sekisho registry transfer show`)")
        _late_note(late)


transfer_app = typer.Typer(
    help="A pending move-out's transfer (転出証明書情報): show it again, or cancel the move-out.", no_args_is_help=True
)
registry_app.add_typer(transfer_app, name="transfer")


def _transfer_json(t: PendingTransfer) -> dict[str, Any]:
    return {
        "handle": t.handle,
        "transfer": t.token,
        "destination": t.destination,
        "destination_code": t.destination_code,
        "planned_on": t.planned_on.isoformat(),
        "filed_on": t.filed_on.isoformat(),
        "move_in_by": t.move_in_by.isoformat(),
        "card_move_in_by": t.card_move_in_by.isoformat(),
    }


@transfer_app.command("show")
def transfer_show(
    handle: str,
    municipality: MunicipalityOpt,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    purpose: PurposeOpt = "register-administration",
    as_json: JsonOpt = False,
) -> None:
    """Show a resident's pending move-out: its transfer token, destination and deadlines (an access, recorded)."""
    t = _service(home, db, municipality, clerk).pending_transfer(handle, purpose=purpose)
    if as_json:
        print_json(_transfer_json(t))
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("handle", t.handle)
    grid.add_row("transfer", t.token)
    grid.add_row("転出先", t.destination)
    grid.add_row("転出予定日", t.planned_on.isoformat())
    grid.add_row("届出年月日", t.filed_on.isoformat())
    grid.add_row("転入届の期限", f"{t.move_in_by.isoformat()}（予定日に転出した場合）")
    grid.add_row("特例転入の期限", t.card_move_in_by.isoformat())
    console.print(Panel(grid, title="転出証明書情報", expand=False))


@transfer_app.command("cancel")
def transfer_cancel(
    handle: str,
    municipality: MunicipalityOpt,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """転出取消: withdraw a pending move-out; its transfer can no longer be taken over by any move-in."""
    r = _service(home, db, municipality, clerk).cancel_move_out(handle)
    print_json(resident_json(r)) if as_json else _render_resident(r)


def _networked(h: Home) -> bool:
    from sekisho.node.registers import networked

    return networked(h)


def _move_in_over_network(
    h: Home, code: str, row: dict[str, str], *, moved_on: str, household: str | None, transfer: str
) -> dict[str, Any]:
    from sekisho.jp.clock import japan_today
    from sekisho.node.commands import file_move_in
    from sekisho.registry.validate import parse_event_date

    # the dates as the register reads them (和暦 too), sent as ISO dates
    moved = parse_event_date(moved_on, field="moved_on", today=japan_today())
    if row.get("filed_on"):
        row = row | {"filed_on": parse_event_date(row["filed_on"], field="filed_on", today=japan_today()).isoformat()}
    return file_move_in(h, code, transfer=transfer, moved_on=moved, row=row, household=household)


@registry_app.command("move-in")
def move_in(
    municipality: MunicipalityOpt,
    moved_on: Annotated[str, typer.Option("--moved-on")],
    town: Annotated[str, typer.Option("--town")],
    block: Annotated[str, typer.Option("--block")],
    katagaki: Annotated[str | None, typer.Option("--katagaki")] = None,
    transfer: Annotated[
        str | None, typer.Option("--transfer", help="Transfer token from the municipality of origin.")
    ] = None,
    relationship: Annotated[str, typer.Option("--relationship")] = "世帯主",
    household_handle: Annotated[str | None, typer.Option("--household", help="Join this household.")] = None,
    filed_on: Annotated[str | None, typer.Option("--filed-on")] = None,
    item: ItemOpt = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """転入: from another municipality (--transfer) or from outside the network (all items via --item)."""
    row = _items(item, town=town, block=block, katagaki=katagaki, relationship=relationship, filed_on=filed_on)
    h = home_of(home, db)
    if transfer is not None and _networked(h):
        # the network runs: the clerk files at this municipality's own node, which reaches the origin's
        done = _move_in_over_network(h, municipality, row, moved_on=moved_on, household=household_handle,
                                     transfer=transfer)  # fmt: skip
        if as_json:
            print_json(done)
        else:
            console.print(f"moved in: {done['handle']} (household {done['household']}, {done['status']})")
            if done["already_done"]:
                console.print("this move-in had already been completed; nothing new was written")
        return
    res = _service(home, db, municipality, clerk).move_in(
        row, moved_on=moved_on, household=household_handle, transfer=transfer
    )
    if as_json:
        print_json(resident_json(res.resident) | {"already_done": res.already_done})
    else:
        _render_resident(res.resident)
        if res.already_done:
            console.print("this move-in had already been completed; nothing new was written")


@registry_app.command("move-within")
def move_within(
    handle: str,
    municipality: MunicipalityOpt,
    town: Annotated[str, typer.Option("--town")],
    block: Annotated[str, typer.Option("--block")],
    moved_on: Annotated[str, typer.Option("--moved-on")],
    katagaki: Annotated[str, typer.Option("--katagaki")] = "",
    filed_on: Annotated[str | None, typer.Option("--filed-on")] = None,
    whole_household: Annotated[bool, typer.Option("--whole-household")] = False,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """転居: a new address within the municipality."""
    out = _service(home, db, municipality, clerk).move_within(
        handle,
        town=town,
        block=block,
        katagaki=katagaki,
        moved_on=moved_on,
        filed_on=filed_on,
        whole_household=whole_household,
    )
    if as_json:
        print_json([resident_json(r) | {"late": late} for r, late in out])
    else:
        _render_list([r for r, _ in out])
        _late_note(any(late for _, late in out))


@registry_app.command("household-change")
def household_change(
    municipality: MunicipalityOpt,
    change: Annotated[
        list[str],
        typer.Option("--change", help="HANDLE:HOUSEHOLD:RELATIONSHIP (HOUSEHOLD 'new' founds one); repeatable."),
    ],
    changed_on: Annotated[str, typer.Option("--changed-on")],
    filed_on: Annotated[str | None, typer.Option("--filed-on")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """世帯変更: change heads, split or merge households."""
    parsed: list[tuple[str, str | None, str]] = []
    for c in change:
        parts = c.split(":")
        if len(parts) != 3:
            raise InvalidInput("must be HANDLE:HOUSEHOLD:RELATIONSHIP", field="change")
        parsed.append((parts[0], None if parts[1].lower() == "new" else parts[1], parts[2]))
    out = _service(home, db, municipality, clerk).household_change(parsed, changed_on=changed_on, filed_on=filed_on)
    print_json([resident_json(r) for r in out]) if as_json else _render_list(out)


@registry_app.command("correct")
def correct(
    handle: str,
    municipality: MunicipalityOpt,
    set_: Annotated[list[str], typer.Option("--set", help="ITEM=VALUE to correct; repeatable.")],
    reason: Annotated[str, typer.Option("--reason")],
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """職権修正: correct recorded items (the history keeps the old values)."""
    r = _service(home, db, municipality, clerk).correct(handle, _items(set_), reason=reason)
    print_json(resident_json(r)) if as_json else _render_resident(r)


@registry_app.command("furigana")
def furigana(
    handle: str,
    municipality: MunicipalityOpt,
    family_kana: Annotated[str, typer.Option("--family-kana")],
    given_kana: Annotated[str, typer.Option("--given-kana")],
    filed_on: Annotated[str | None, typer.Option("--filed-on")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """振り仮名の届出: record the reading the resident states, as confirmed."""
    r = _service(home, db, municipality, clerk).furigana(
        handle, family_kana=family_kana, given_kana=given_kana, filed_on=filed_on
    )
    print_json(resident_json(r)) if as_json else _render_resident(r)


@registry_app.command("close")
def close(
    handle: str,
    municipality: MunicipalityOpt,
    reason: Annotated[str, typer.Option("--reason", help="職権消除 or 失踪宣告.")],
    on: Annotated[str, typer.Option("--on")],
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """Close a record on the clerk's authority (職権消除, 失踪宣告)."""
    r = _service(home, db, municipality, clerk).close(handle, reason=reason, on=on)
    print_json(resident_json(r)) if as_json else _render_resident(r)


@registry_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV or JSONL in the import format (docs/import-format.md).")],
    municipality: MunicipalityOpt,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """Import residents in bulk: every row valid, or nothing written."""
    svc = _service(home, db, municipality, clerk)
    from sekisho.registry.bulk import file_facts

    facts = file_facts(file)
    with progress("importing", max(facts.lines - 1, 0)) as advance:
        result = svc.import_file(file, advance=advance, facts=facts)
    out = {"batch": result.batch_id, "rows": result.rows, "households": result.households}
    if as_json:
        print_json(out)
    else:
        console.print(
            f"imported {result.rows:,} residents in {result.households:,} households (batch {result.batch_id})"
        )


@registry_app.command("access-list")
def access_list(
    handle: str,
    municipality: MunicipalityOpt,
    since_size: Annotated[
        int | None, typer.Option("--since-size", help="Size of the checkpoint the resident saw last.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the verifiable document to this file.")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    clerk: ClerkOpt = "clerk",
    as_json: JsonOpt = False,
) -> None:
    """Every access to a resident's data, with proofs against the latest witnessed checkpoint."""
    from sekisho.registry.service import access_list_json
    from sekisho.transparency.entry import LogEntry

    if out is not None and not out.parent.is_dir():
        # before the list is built: a list that cannot be handed over must not be recorded as released
        raise InvalidInput("cannot be written (no such directory)", field="out")
    listing = _service(home, db, municipality, clerk).access_list(handle, since_size=since_size)
    doc = access_list_json(listing)
    if out is not None:
        write_out(out, json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    if as_json:
        print_json(doc)
        return
    t = Table(title=f"accesses to {listing.handle}")
    for col in ("#", "when (UTC)", "who", "what", "purpose", "items", "decision"):
        t.add_column(col)
    for item in listing.items:
        e = LogEntry.decode(item.entry)
        who = f"{e.actor_kind} {e.actor}" + (f" ({e.terminal})" if e.terminal else "")
        what = e.action + (f" warrant {e.warrant}" if e.warrant else "")
        t.add_row(str(item.index), e.at.isoformat(), who, what, e.purpose, ", ".join(e.items), e.decision)
    console.print(t)
    console.print(
        f"{len(listing.items)} accesses proved against the witnessed checkpoint; {listing.pending} awaiting the next "
        f"checkpoint; {listing.sealed_hidden} sealed until a later date"
    )
