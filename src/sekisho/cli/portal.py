"""`sekisho portal …`: the portal's accounts — clerks of a municipality, the watchdog's officers — and the
one-time codes a clerk hands a resident.  Passwords come from ``SEKISHO_PORTAL_PASSWORD`` or a prompt."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from sekisho.cli._common import DbOpt, HomeOpt, JsonOpt, console, home_of, print_json

portal_app = typer.Typer(help="The web portal's accounts and one-time codes (docs/portal.md).", no_args_is_help=True)

MunicipalityOpt = Annotated[
    str, typer.Option("--municipality", "-m", envvar="SEKISHO_MUNICIPALITY", help="Municipality code (6 digits).")
]
LoginArg = Annotated[str, typer.Argument(help="The login (lowercase letters, digits, . _ -): an id, never a name.")]


def _password() -> str:
    secret = os.environ.get("SEKISHO_PORTAL_PASSWORD")
    if secret is None:
        secret = typer.prompt("Password (12 characters or more)", hide_input=True, confirmation_prompt=True)
    return secret


@portal_app.command("add-clerk")
def add_clerk(
    login: LoginArg,
    municipality: MunicipalityOpt,
    terminal: Annotated[
        str, typer.Option("--terminal", help="The counter the clerk's work is recorded under.")
    ] = "counter-1",
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A clerk of one municipality's register (the register must exist: `sekisho registry init`)."""
    from sekisho.jp.catalogue import get_municipality
    from sekisho.portal.accounts import PortalStore, check_login, check_password, check_terminal

    check_login(login)
    check_terminal(terminal)
    code = get_municipality(municipality).code
    password = check_password(_password())
    store = PortalStore.open(home_of(home, db), f"municipality/{code}")
    try:
        user = store.add_user(login, password, kind="clerk", terminal=terminal)
    finally:
        store.close()
    out = {"login": user.login, "kind": user.kind, "municipality": code, "terminal": user.terminal}
    print_json(out) if as_json else console.print(f"clerk {login} of {code}, terminal {terminal}: added")


@portal_app.command("add-watchdog-user")
def add_watchdog_user(login: LoginArg, home: HomeOpt = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """An officer of the watchdog (the watchdog must be set up: `sekisho log init` or its first PIA)."""
    from sekisho.portal.accounts import PortalStore, check_login, check_password

    check_login(login)
    password = check_password(_password())
    store = PortalStore.open(home_of(home, db), "watchdog")
    try:
        user = store.add_user(login, password, kind="watchdog")
    finally:
        store.close()
    print_json({"login": user.login, "kind": user.kind}) if as_json else console.print(f"watchdog user {login}: added")


@portal_app.command("code")
def one_time_code(
    municipality: MunicipalityOpt,
    handle: Annotated[str, typer.Option("--handle", help="The resident's handle (from a search).")],
    clerk: Annotated[str, typer.Option("--clerk", envvar="SEKISHO_CLERK", help="The clerk's id.")] = "clerk",
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A one-time code for a resident's first login to the portal (valid 30 minutes, once)."""
    from sekisho.node.commands import open_register
    from sekisho.portal.accounts import PortalStore

    h = home_of(home, db)
    register = open_register(h, municipality, clerk=clerk)
    try:
        resident = register.show(handle, purpose="resident.portal-code")  # the resident exists; an access record
    finally:
        register.engine.dispose()
    store = PortalStore.open(h, f"municipality/{register.code}")
    try:
        code = store.issue_code(resident.handle, by=clerk)
    finally:
        store.close()
    print_json({"code": code, "valid_minutes": 30}) if as_json else console.print(code)


def register(app: typer.Typer) -> None:
    app.add_typer(portal_app, name="portal")
