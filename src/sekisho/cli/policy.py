"""`sekisho pia …`, `sekisho warrant …`, `sekisho protection …`, `sekisho alerts`, and `sekisho agency register`.

Parse, call a service, print.  Signing (approve, reject, revoke) needs the watchdog's passphrase
(``SEKISHO_PASSPHRASE`` or a prompt); the first signing command creates the watchdog's policy key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sekisho.cli._common import DbOpt, HomeOpt, JsonOpt, console, emit, home_of
from sekisho.errors import InvalidInput
from sekisho.jp.clock import JST
from sekisho.keyfile import PASSPHRASE_ENV, passphrase_from_env

pia_app = typer.Typer(
    help="Privacy impact assessments: show, approve, reject, revoke (the watchdog).", no_args_is_help=True
)
warrant_app = typer.Typer(help="Warrants for cross-referencing A → B (the watchdog).", no_args_is_help=True)
protection_app = typer.Typer(help="DV support measures (支援措置) at a municipality.", no_args_is_help=True)

ByOpt = Annotated[str, typer.Option("--by", help="Officer or clerk id (never a name).")]
ReasonOpt = Annotated[list[str] | None, typer.Option("--reason", help="A reason code (repeatable).")]
MunicipalityOpt = Annotated[
    str, typer.Option("--municipality", "-m", envvar="SEKISHO_MUNICIPALITY", help="Municipality code (6 digits).")
]


def _passphrase() -> bytes:
    value = passphrase_from_env()
    if value is not None:
        return value
    text: str = typer.prompt(f"Passphrase for the watchdog's key (or set {PASSPHRASE_ENV})", hide_input=True)
    return text.encode("utf-8")


def _watchdog(home: Path | None, db: str | None, *, sign: bool = False, submit: bool = False) -> Any:
    """The watchdog; a submission (PIA, warrant request) or a signing command may set it up, a reader may not."""
    from sekisho.policy.service import Watchdog

    return Watchdog.open(home_of(home, db), passphrase=_passphrase() if sign else None, create=submit)


def _date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("must be a date (YYYY-MM-DD)", field=field) from None


def _kv(data: dict[str, Any]) -> None:
    for k, v in data.items():
        if k in ("document", "statement", "token") or v in (None, [], ""):
            continue
        console.print(f"  [bold]{k}[/bold]: {', '.join(map(str, v)) if isinstance(v, list) else v}")


# --- agency register --pia ----------------------------------------------------------------------------------------


def agency_register(
    pia: Annotated[Path, typer.Option("--pia", help="The PIA document (YAML, sekisho-pia/1).", exists=True)],
    by: ByOpt = "agency-officer",
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """File an agency system's PIA with the watchdog.  Until the watchdog approves it, the agency gets nothing."""
    from sekisho.policy.pia import load_pia

    data = _watchdog(home, db, submit=True).submit_pia(load_pia(pia), by=by)

    def render(d: dict[str, Any]) -> None:
        console.print(f"PIA [bold]{d['id']}[/bold] for {d['agency']}: {d['status']} ({d['level']} assessment)")

    emit(data, as_json, render)


# --- pia --------------------------------------------------------------------------------------------------------


@pia_app.command("show")
def pia_show(
    pia_id: Annotated[str | None, typer.Argument(help="PIA id; omit to list them all.")] = None,
    agency: Annotated[str | None, typer.Option("--agency")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A PIA (with the watchdog's findings while it waits), or the list."""
    wd = _watchdog(home, db)
    if pia_id is None:
        rows = wd.pias(agency=agency)

        def render_list(rs: list[dict[str, Any]]) -> None:
            t = Table("id", "agency", "level", "persons", "status", "purposes")
            for r in rs:
                t.add_row(r["id"], r["agency"], r["level"], f"{r['persons']:,}", r["status"], " ".join(r["purposes"]))
            console.print(t)

        emit(rows, as_json, render_list)
        return
    data = wd.pia(pia_id)
    if data["status"] == "submitted":
        data["findings"] = wd.review_pia(pia_id)

    def render(d: dict[str, Any]) -> None:
        console.print(f"PIA [bold]{d['id']}[/bold]")
        _kv(d)

    emit(data, as_json, render)


@pia_app.command("approve")
def pia_approve(pia_id: str, by: ByOpt, home: HomeOpt = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Approve (signed); supersedes the PIA in force for the same system."""
    d = _watchdog(home, db, sign=True).approve_pia(pia_id, by=by)
    data = {"pia": d.pia_id, "status": d.status, "superseded": d.superseded, "statement": d.statement}
    emit(
        data,
        as_json,
        lambda x: console.print(
            f"PIA {x['pia']} approved" + (f", {x['superseded']} superseded" if x["superseded"] else "")
        ),
    )


@pia_app.command("reject")
def pia_reject(
    pia_id: str, by: ByOpt, reason: ReasonOpt = None, home: HomeOpt = None, db: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Reject (signed), with the review's findings and the reason codes given."""
    d = _watchdog(home, db, sign=True).reject_pia(pia_id, by=by, reasons=reason or ())
    data = {"pia": d.pia_id, "status": d.status, "reasons": list(d.reasons), "statement": d.statement}
    emit(data, as_json, lambda x: console.print(f"PIA {x['pia']} rejected: {' '.join(x['reasons'])}"))


@pia_app.command("revoke")
def pia_revoke(
    pia_id: str,
    by: ByOpt,
    reason: Annotated[str, typer.Option("--reason", help="Reason code.")] = "revoked",
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Withdraw an approval (after an incident, say); publishes a new signed revocation list, after which every
    request under the PIA is refused (``pia-revoked``)."""
    _watchdog(home, db, sign=True).revoke_pia(pia_id, by=by, reason=reason)
    emit({"pia": pia_id, "status": "revoked"}, as_json, lambda d: console.print(f"PIA {d['pia']} revoked"))


# --- warrant ----------------------------------------------------------------------------------------------------


@warrant_app.command("request")
def warrant_request(
    requester: Annotated[str, typer.Option("--requester", help="Agency A (its domain).")],
    target: Annotated[str, typer.Option("--target", help="Agency B.")],
    purpose: Annotated[str, typer.Option("--purpose", help="Task code with a cross-reference row.")],
    case: Annotated[str, typer.Option("--case", help="The agency's file number (never a name).")],
    persons: Annotated[int, typer.Option("--persons", help="How many persons it may convert.")],
    expires: Annotated[str, typer.Option("--expires", help="Last day of validity (YYYY-MM-DD, Japan time).")],
    by: ByOpt,
    legal_basis: Annotated[
        str | None, typer.Option("--legal-basis", help="Row id (default: the purpose's row).")
    ] = None,
    sealed_until: Annotated[str | None, typer.Option("--sealed-until", help="Hidden from the residents until.")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Agency A asks the watchdog for a warrant."""
    wd = _watchdog(home, db, submit=True)
    row = wd.table.match(requester_kind="agency", agency=requester, purpose=purpose)
    basis = legal_basis or (row.id if row is not None else purpose)
    end = datetime.combine(_date(expires, "expires") + timedelta(days=1), time(), JST).astimezone(UTC)
    wid = wd.request_warrant(
        requester=requester,
        target=target,
        purpose=purpose,
        legal_basis=basis,
        case_reference=case,
        persons=persons,
        not_after=end,
        sealed_until=_date(sealed_until, "sealed_until") if sealed_until else None,
        by=by,
    )
    data = {"warrant": wid, "status": "requested", "findings": wd.review_warrant(wid)}
    emit(data, as_json, lambda d: console.print(f"warrant [bold]{d['warrant']}[/bold] requested"))


@warrant_app.command("approve")
def warrant_approve(
    warrant_id: str, by: ByOpt, home: HomeOpt = None, db: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Approve (signed); prints the token the agency hands to the transcryptors."""
    token = _watchdog(home, db, sign=True).approve_warrant(warrant_id, by=by)
    emit({"warrant": warrant_id, "status": "approved", "token": token}, as_json, lambda d: console.print(d["token"]))


@warrant_app.command("reject")
def warrant_reject(
    warrant_id: str,
    by: ByOpt,
    reason: ReasonOpt = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    token = _watchdog(home, db, sign=True).reject_warrant(warrant_id, by=by, reasons=reason or ())
    emit(
        {"warrant": warrant_id, "status": "refused", "token": token},
        as_json,
        lambda d: console.print(f"warrant {d['warrant']} refused"),
    )


@warrant_app.command("revoke")
def warrant_revoke(
    warrant_id: str,
    by: ByOpt,
    reason: Annotated[str, typer.Option("--reason", help="Reason code.")] = "revoked",
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke; publishes a new revocation list that both transcryptors fetch."""
    _watchdog(home, db, sign=True).revoke_warrant(warrant_id, by=by, reason=reason)
    emit(
        {"warrant": warrant_id, "status": "revoked"},
        as_json,
        lambda d: console.print(f"warrant {d['warrant']} revoked"),
    )


@warrant_app.command("show")
def warrant_show(
    warrant_id: Annotated[str | None, typer.Argument(help="Warrant id; omit to list them.")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    wd = _watchdog(home, db)
    if warrant_id is None:
        rows = wd.warrants()

        def render_list(rs: list[dict[str, Any]]) -> None:
            t = Table("id", "requester", "target", "purpose", "persons", "status", "expires")
            for r in rs:
                t.add_row(
                    r["id"], r["requester"], r["target"], r["purpose"], str(r["persons"]), r["status"], r["not_after"]
                )
            console.print(t)

        emit(rows, as_json, render_list)
        return

    def render(d: dict[str, Any]) -> None:
        console.print(f"warrant [bold]{d['id']}[/bold]")
        _kv(d)

    emit(wd.warrant(warrant_id), as_json, render)


# --- protection ---------------------------------------------------------------------------------------------------


def _mp(home: Path | None, db: str | None, municipality: str) -> Any:
    from sekisho.node.registers import open_register
    from sekisho.policy.municipality import MunicipalityPolicy

    where = home_of(home, db)
    # the measure's "whole household" is the register's answer, handed to the policy (it never reads reg_ tables)
    return MunicipalityPolicy.open(
        where, municipality, households=lambda h: open_register(where, municipality).household_members(h)
    )


def _person(text: str) -> tuple[str, str, str]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        raise InvalidInput("must be 'family name,given name,YYYY-MM-DD'", field="refuse-person")
    return parts[0], parts[1], parts[2]


@protection_app.command("add")
def protection_add(
    municipality: MunicipalityOpt,
    handle: Annotated[str, typer.Option("--handle", help="The resident the measure protects.")],
    kind: Annotated[str, typer.Option("--kind", help="dv, stalking, child-abuse or other.")],
    by: ByOpt,
    member: Annotated[list[str] | None, typer.Option("--member", help="A co-resident family member (handle).")] = None,
    household: Annotated[bool, typer.Option("--household", help="Cover the whole current household.")] = False,
    refuse_person: Annotated[
        list[str] | None, typer.Option("--refuse-person", help="'family,given,YYYY-MM-DD' of a person to refuse.")
    ] = None,
    refuse: Annotated[list[str] | None, typer.Option("--refuse", help="An organisation or clerk id to refuse.")] = None,
    confirmed: Annotated[bool, typer.Option("--confirmed", help="Checked already: start the year now.")] = False,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a support measure; it protects at once (provisionally until confirmed)."""
    mp = _mp(home, db, municipality)
    ref = mp.add_measure(
        handle=handle,
        kind=kind,
        by=by,
        members=member or (),
        include_household=household,
        named_persons=[_person(p) for p in refuse_person or ()],
        named_requesters=refuse or (),
        provisional=not confirmed,
    )
    emit(mp.measure(ref), as_json, lambda d: console.print(f"measure [bold]{d['ref']}[/bold]: {d['state']}"))


@protection_app.command("confirm")
def protection_confirm(
    ref: str, municipality: MunicipalityOpt, by: ByOpt, home: HomeOpt = None, db: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """The check is done: the measure runs a year from today."""
    d = _mp(home, db, municipality).confirm_measure(ref, by=by)
    emit(d, as_json, lambda x: console.print(f"measure {x['ref']} active until {x['expires_on']}"))


@protection_app.command("renew")
def protection_renew(
    ref: str, municipality: MunicipalityOpt, by: ByOpt, home: HomeOpt = None, db: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Another year (from 30 days before the end)."""
    d = _mp(home, db, municipality).renew_measure(ref, by=by)
    emit(d, as_json, lambda x: console.print(f"measure {x['ref']} renewed until {x['expires_on']}"))


@protection_app.command("lift")
def protection_lift(
    ref: str,
    municipality: MunicipalityOpt,
    by: ByOpt,
    reason: Annotated[str, typer.Option("--reason", help="requested-by-subject, check-failed, moved-away, other.")],
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    d = _mp(home, db, municipality).lift_measure(ref, by=by, reason=reason)
    emit(d, as_json, lambda x: console.print(f"measure {x['ref']} lifted"))


@protection_app.command("list")
def protection_list(
    municipality: MunicipalityOpt,
    handle: Annotated[str | None, typer.Option("--handle")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    rows = _mp(home, db, municipality).measures(handle=handle)

    def render(rs: list[dict[str, Any]]) -> None:
        t = Table("ref", "kind", "state", "in force", "until", "persons", "named")
        for r in rs:
            t.add_row(
                r["ref"],
                r["kind"],
                r["state"],
                "yes" if r["in_force"] else "no",
                r["expires_on"] or "-",
                str(len(r["persons"])),
                str(r["named"]),
            )
        console.print(t)

    emit(rows, as_json, render)


# --- alerts -------------------------------------------------------------------------------------------------------


def alerts(
    detect: Annotated[bool, typer.Option("--detect", help="Run the anomaly rules over the last day first.")] = False,
    status: Annotated[str | None, typer.Option("--status", help="open, acknowledged or closed.")] = "open",
    rule: Annotated[str | None, typer.Option("--rule")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The watchdog's anomaly alerts (bulk lookups, odd hours, purposes out of pattern, protected residents)."""
    wd = _watchdog(home, db)
    if detect:
        wd.detect()
    rows = wd.alerts(status=status, rule=rule)

    def render(rs: list[dict[str, Any]]) -> None:
        t = Table("alert", "rule", "severity", "scope", "subject", "from", "to", "observed", "threshold")
        for r in rs:
            t.add_row(
                r["alert_id"][:12],
                r["rule"],
                r["severity"],
                r["scope"],
                r["subject"],
                r["window_start"],
                r["window_end"],
                str(r["observed"]),
                str(r["threshold"]),
            )
        console.print(t if rs else "no alerts")

    emit(rows, as_json, render)


def register(app: typer.Typer) -> None:
    app.add_typer(pia_app, name="pia")
    app.add_typer(warrant_app, name="warrant")
    app.add_typer(protection_app, name="protection")
    app.command("alerts")(alerts)
    # `sekisho agency register` joins the agency group of sekisho.cli.agency (one group, two contributors)
    try:
        from sekisho.cli.agency import agency_app
    except ImportError:  # the agency commands are not there: the group is ours alone
        agency_app = typer.Typer(help="An agency's system.", no_args_is_help=True)
        app.add_typer(agency_app, name="agency")
    agency_app.command("register")(agency_register)
