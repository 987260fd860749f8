"""`sekisho agency …` (an agency's system) and `sekisho registry join-network` / `deliver-notices`.

Every party of the home runs in this process (:class:`~sekisho.node.local.LocalNetwork`) — except when a network
runs under the home (`sekisho up`): then enrolments, notices, identity confirmations, cross-references and the
index reach the other parties over HTTP (``sekisho.node.commands``).  The key files need the passphrase
(``SEKISHO_PASSPHRASE`` or a prompt).  Printed: pseudonyms in their text form, the items an agency
holds; never a handle next to a pseudonym, never a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sekisho.cli._common import DbOpt, HomeOpt, JsonOpt, console, emit, err_console, home_of, progress
from sekisho.cli.registry import registry_app
from sekisho.config import Home
from sekisho.errors import InvalidInput
from sekisho.keyfile import PASSPHRASE_ENV, passphrase_from_env
from sekisho.node.local import LocalNetwork, municipalities_in

agency_app = typer.Typer(help="An agency's system: its own table, keyed by its own pseudonyms.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="The agency's name (its pseudonym domain), e.g. pension.")]
PurposeOpt = Annotated[str, typer.Option("--purpose", help="Purpose code, e.g. pension.benefit.")]
ItemsOpt = Annotated[
    list[str] | None, typer.Option("--item", help="An item to ask for (repeatable); default: the agency's own list.")
]
MunicipalityOpt = Annotated[
    str, typer.Option("--municipality", "-m", envvar="SEKISHO_MUNICIPALITY", help="Municipality code (6 digits).")
]


def _passphrase() -> bytes:
    value = passphrase_from_env()
    if value is not None:
        return value
    text: str = typer.prompt(f"Passphrase for the key files (or set {PASSPHRASE_ENV})", hide_input=True)
    return text.encode("utf-8")


def _network(home: Path | None, db: str | None) -> tuple[Home, LocalNetwork]:
    h = home_of(home, db)
    return h, LocalNetwork(h, passphrase=_passphrase())


@agency_app.command("create")
def create(
    name: NameArg,
    purpose: Annotated[
        list[str] | None,
        typer.Option("--purpose", help="A purpose the agency works for (repeatable); default: its approved PIA's."),
    ] = None,
    items: ItemsOpt = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set an agency up: its database, and its domain key assembled from T1's and T2's key shares."""
    from sekisho.agency.service import AgencyService

    h = home_of(home, db)
    passphrase = _passphrase()
    net = LocalNetwork(h, passphrase=passphrase)
    try:
        pia = net.approved_pia(name)
        if not purpose:  # default: every purpose its approved PIA covers
            if pia is None or not pia[0]:
                raise InvalidInput("is needed: the agency has no approved PIA to take it from", field="purpose")
            purpose = sorted(pia[0])
        svc = AgencyService.create(
            h,
            name,
            purposes=purpose,
            shares=net.key_shares(name),
            passphrase=passphrase,
            items=items,
            approved=pia[1] if pia else None,
        )
        data = {
            "agency": svc.name,
            "purposes": {p: list(svc.requested_items(p)) for p in svc.purposes},
            "key_file": str(h.party_dir(f"agency/{name}") / f"domain-{name}.key"),
        }
        svc.engine.dispose()
    finally:
        net.close()

    def render(d: dict[str, Any]) -> None:
        console.print(f"agency [bold]{d['agency']}[/bold] set up; key in {d['key_file']}")
        for p, its in d["purposes"].items():
            console.print(f"  {p}: asks for {', '.join(its)}")

    emit(data, as_json, render)


@agency_app.command("enroll")
def enroll(
    name: NameArg,
    municipality: MunicipalityOpt,
    purpose: PurposeOpt,
    handle: Annotated[list[str] | None, typer.Option("--handle", help="A resident's handle (repeatable).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every active resident of the register.")] = False,
    items: ItemsOpt = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The clerk at the municipality enrols residents with the agency: policy, access records, R→A through T1
    and T2, and only the released items to the agency."""
    if bool(handle) == all_:
        raise InvalidInput("give --handle (one or more) or --all", field="handle")
    from sekisho.node.commands import releases as municipality_releases

    # as the municipality's node releases: over HTTP when a network runs under the home, else in-process
    with municipality_releases(home_of(home, db), municipality, passphrase=_passphrase) as releases:
        total = None if all_ else len(handle or [])
        with progress("enrolling", total) as advance:
            report = releases.enrol(
                None if all_ else handle, agency=name, purpose=purpose, items=items, advance=advance
            )
    data = {"enrolled": report.enrolled, "refused": report.refused, "items": list(report.items)}
    emit(
        data,
        as_json,
        lambda d: console.print(
            f"enrolled {d['enrolled']} with {name} for {purpose} (items: {', '.join(d['items'])});"
            f" refused for {d['refused']}"
        ),
    )


@agency_app.command("lookup")
def lookup(
    name: NameArg,
    pseudonym: Annotated[list[str], typer.Option("--pseudonym", help="The agency's pseudonym (repeatable).")],
    purpose: PurposeOpt,
    items: ItemsOpt = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Identity confirmation: the agency's pseudonyms → T1, T2 → locator → municipality, only the allowed items."""
    from sekisho.node.commands import agency_lookup

    # over HTTP as the agency's party when a network runs under the home, else in-process
    results = agency_lookup(home_of(home, db), name, pseudonym, purpose=purpose, items=items, passphrase=_passphrase())
    data = [{"pseudonym": r.pseudonym, "status": r.status, "items": dict(r.items)} for r in results]

    def render(rows: list[dict[str, Any]]) -> None:
        t = Table("pseudonym", "status", "items")
        for r in rows:
            t.add_row(r["pseudonym"], r["status"], "; ".join(f"{k}: {v}" for k, v in sorted(r["items"].items())))
        console.print(t)

    emit(data, as_json, render)


@agency_app.command("cross-reference")
def cross_reference(
    name: NameArg,
    to: Annotated[str, typer.Option("--to", help="Agency B, whose pseudonyms of the persons it gets.")],
    warrant: Annotated[
        str,
        typer.Option(
            "--warrant",
            help="The warrant the watchdog signed: its token, or its id (the token is read from the watchdog).",
        ),
    ],
    pseudonym: Annotated[list[str], typer.Option("--pseudonym", help="The agency's own pseudonym (repeatable).")],
    purpose: PurposeOpt,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cross-reference under a warrant: the agency's persons → T1, T2 → agency B, after each resident's
    municipality recorded it (sealed until the warrant's date).  Prints counts only."""
    from sekisho.node.commands import agency_cross_reference

    report = agency_cross_reference(
        home_of(home, db), name, to, warrant, pseudonym, purpose=purpose, passphrase=_passphrase()
    )
    data = {
        "request_id": report.request_id,
        "warrant": report.warrant,
        "persons": report.persons,
        "recorded": report.recorded,
        "refused": report.refused,
        "not_found": report.not_found,
        "delivered": report.delivered,
        "sealed_until": report.sealed_until.isoformat() if report.sealed_until else None,
        "resumed": report.resumed,
    }

    def render(d: dict[str, Any]) -> None:
        sealed = f"; residents see it from {d['sealed_until']}" if d["sealed_until"] else ""
        console.print(
            f"cross-reference {d['request_id']}{' (resumed)' if d['resumed'] else ''}: {d['persons']} persons;"
            f" recorded {d['recorded']}, refused {d['refused']}, not found {d['not_found']};"
            f" {d['delivered']} handed to {to}{sealed}"
        )

    emit(data, as_json, render)


@agency_app.command("notices")
def notices(
    name: NameArg,
    municipality: Annotated[
        list[str] | None, typer.Option("--municipality", "-m", help="Deliver from this register (repeatable).")
    ] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deliver the registers' pending change notices (to every entitled agency), then list this agency's."""
    h, net = _network(home, db)
    try:
        for code in municipality or municipalities_in(h):
            net.releases(code).deliver_notices()
        received = net.agency_service(name).notices()
    finally:
        net.close()

    def render(rows: list[dict[str, Any]]) -> None:
        t = Table("notice", "kind", "date", "pseudonym", "items")
        for r in rows:
            items = "; ".join(f"{k}: {v}" for k, v in sorted(r["items"].items()))
            t.add_row(r["notice_id"], r["kind"], str(r["event_date"]), r["pseudonym"], items)
        console.print(t)

    emit(received, as_json, render)


@agency_app.command("pull-notices")
def pull_notices(
    name: NameArg,
    municipality: Annotated[
        list[str] | None,
        typer.Option("--municipality", "-m", help="Pull from this municipality (repeatable); default: every one."),
    ] = None,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=10_000, help="Notices' events a page.")] = 1000,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The agency pulls its change notices from each municipality's feed, from its cursor on: over HTTP from the
    municipalities' nodes when a network runs under the home (`sekisho up`), else in-process.  Each notice is
    applied once; a second pull finds nothing new.  One line a page on stderr."""
    from sekisho.agency.service import AgencyService
    from sekisho.jp.catalogue import get_municipality
    from sekisho.node.feed import notice_feeds

    h = home_of(home, db)
    codes = [get_municipality(c, field="municipality").code for c in municipality or []]
    secret = _passphrase()

    def page(code: str, after: int, cursor: int, notices: int) -> None:
        err_console.print(f"{code}: events {after + 1}–{cursor}, {notices} notices", highlight=False)

    new: dict[str, int] = {}
    with notice_feeds(h, name, codes or None, passphrase=secret, on_page=page) as feeds:
        agency = AgencyService.open(h, name, passphrase=secret)
        try:
            for code, feed in feeds:
                new[code] = agency.pull_notices(feed, code, limit=page_size)
        finally:
            agency.engine.dispose()
    data = {"new": sum(new.values()), "municipalities": new}
    emit(
        data,
        as_json,
        lambda d: console.print(
            f"{d['new']} new notices" + "".join(f"; {code}: {n}" for code, n in d["municipalities"].items())
        ),
    )


@agency_app.command("export")
def export(
    name: NameArg,
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """The agency's whole table as CSV: its pseudonym text and the attributes it holds, no other identifier."""
    _h, net = _network(home, db)
    try:
        n = net.agency_service(name).export_csv(out)
    finally:
        net.close()
    console.print(f"{n} rows written to {out}")


@registry_app.command("join-network")
def join_network(
    municipality: MunicipalityOpt,
    home: HomeOpt = None,
    db: DbOpt = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Processes for the PPs (default: CPUs).")] = None,
    index: Annotated[bool, typer.Option("--index/--no-index", help="Also index the records at the locator.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Bring a register loaded before `sekisho network init` into the network: a polymorphic pseudonym for every
    record lacking one (in bulk, over a process pool), then the locator's index (R→R through T1 and T2)."""
    from sekisho.node.commands import network_register
    from sekisho.registry import release

    def secret() -> bytes | None:
        return _passphrase() if index else passphrase_from_env()

    # the index over HTTP as the municipality's party when a network runs under the home, else in-process
    with network_register(home_of(home, db), municipality, passphrase=secret) as register:
        with progress("pseudonyms", release.count_without_pp(register)) as advance:
            made = release.join_network(register, workers=workers, advance=advance)
        report = None
        if index:
            with progress("indexing", release.count_unindexed(register)) as advance:
                report = release.index_pending(register, advance=advance)
    data = {
        "pseudonyms_made": made,
        "indexed": report.indexed if report else 0,
        "held_elsewhere": report.elsewhere if report else 0,
    }
    emit(
        data,
        as_json,
        lambda d: console.print(
            f"{d['pseudonyms_made']} polymorphic pseudonyms made; {d['indexed']} records indexed"
            + (f" ({d['held_elsewhere']} held by another municipality)" if d["held_elsewhere"] else "")
        ),
    )


@registry_app.command("deliver-notices")
def deliver_notices(
    municipality: MunicipalityOpt, home: HomeOpt = None, db: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Deliver the register's pending change notices to every enrolled agency entitled to them."""
    from sekisho.node.commands import releases as municipality_releases

    with municipality_releases(home_of(home, db), municipality, passphrase=_passphrase) as releases:
        report = releases.deliver_notices()
    data = {"events": report.events, "notices": report.notices, "pending": report.pending}
    emit(
        data,
        as_json,
        lambda d: console.print(f"{d['notices']} notices for {d['events']} events; {d['pending']} pending"),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(agency_app, name="agency")
