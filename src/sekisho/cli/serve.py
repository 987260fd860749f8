"""`sekisho serve`, `up`, `down`, `status`: the parties as services, one process each.

sekisho serve ROLE [--name NAME]    one party (the deployment form: one process per party, on its own host)
sekisho up                          a whole network on loopback, one process per party, until Ctrl-C
sekisho status / sekisho down       what `up` started under this home, read from <home>/run/network.json
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from sekisho.cli._common import DbOpt, HomeOpt, JsonOpt, console, err_console, home_of, print_json
from sekisho.errors import InvalidInput

if TYPE_CHECKING:
    from sekisho.node.supervisor import Supervisor

DB_TEMPLATE_HELP = (
    "SQLAlchemy URL for every party, e.g. postgresql+psycopg://user@host/sekisho (each party in a schema of its own); "
    "'{party}' in it is replaced by the party's name (municipality_212016, t1, …) for one database per party. "
    "Default: a SQLite file per party under --home."
)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)


def _list(text: str, field: str) -> list[str]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if len(items) != len(set(items)):
        raise InvalidInput("names the same party twice", field=field)
    return items


def serve(
    role: Annotated[str, typer.Argument(help="municipality, locator, t1, t2, watchdog, log, pki or agency.")],
    name: Annotated[
        str | None, typer.Option("--name", help="The municipality's code or the agency's name (those roles only).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port, printed at start).")] = 0,
    home: HomeOpt = None,
    db: DbOpt = None,
    init: Annotated[
        bool, typer.Option("--init", help="Set up the party's database if it has none (its first start).")
    ] = False,
) -> None:
    """Serve one party over mutual TLS until Ctrl-C or SIGTERM: its API, GET /health and /openapi.json."""
    from sekisho.jp.catalogue import get_municipality
    from sekisho.node import certificates, server
    from sekisho.node.guarding import secured_app
    from sekisho.node.roles import OPENS_OWN_DATABASE, Role
    from sekisho.storage import open_party_db

    r = Role(role, name)
    if r.role == "municipality":  # a real municipality's code, with its check digit, before anything is created
        get_municipality(r.name or "", field="name")
    h = home_of(home, db)
    try:
        sock = server.listen(host, port)
    except OSError as exc:
        raise InvalidInput("cannot listen on this address and port", field="port") from exc
    if init:
        # its certificate and terminal from the organisation CA of the PKI under this home (one host: a test, a
        # demo); a deployment copies them in from its PKI instead
        certificates.provision(h.root, [r], h)
    if r.role not in OPENS_OWN_DATABASE:
        # brought up to date; created only when asked, so a mistyped --home fails instead of serving an empty party
        open_party_db(h, r.party, r.contexts, create=init).dispose()
    bound_host, bound_port = sock.getsockname()[:2]
    app, context = secured_app(r, h, port=bound_port)
    # plain write, flushed: scripts and tests read the address from this line
    sys.stdout.write(f"serving {r.party} on https://{bound_host}:{bound_port}\n")
    sys.stdout.flush()
    server.serve(app, sock, context=context)


class _Signals:
    """SIGTERM, SIGINT and SIGHUP set a flag (the supervisor stops its children in order); a second one while
    stopping kills the children at once."""

    def __init__(self) -> None:
        self.count = 0
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self.count += 1

    def stop(self) -> bool:
        return self.count > 0

    def force(self) -> bool:
        return self.count > 1


def up(
    municipalities: Annotated[
        str, typer.Option("--municipalities", help="Comma-separated municipality codes, one node each.")
    ] = "212016,131016",
    agencies: Annotated[str, typer.Option("--agencies", help="Comma-separated agency names, one node each.")] = (
        "pension,tax,kyokai-kenpo"
    ),
    db_url_template: Annotated[str | None, typer.Option("--db-url-template", help=DB_TEMPLATE_HELP)] = None,
    base_port: Annotated[
        int | None,
        typer.Option("--base-port", help="First TCP port (the parties take consecutive ones); default any free."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for every party to answer.")] = 120.0,
    home: HomeOpt = None,
) -> None:
    """Start a whole network on 127.0.0.1, one process per party; wait until every party answers GET /health,
    print who listens where, and serve until Ctrl-C or SIGTERM, which stop every party cleanly."""
    signals = _Signals()  # first: a signal during start-up must stop what has started
    from sekisho.jp.catalogue import get_municipality
    from sekisho.node import roles as r
    from sekisho.node.supervisor import Supervisor

    t0 = time.monotonic()
    codes = [get_municipality(c, field="municipalities").code for c in _list(municipalities, "municipalities")]
    parties = r.network(codes, _list(agencies, "agencies"))
    labels = {f"municipality/{c}": get_municipality(c).name for c in codes}
    if base_port is not None and not 1024 <= base_port <= 65535 - len(parties):
        raise InvalidInput(f"must leave room for {len(parties)} ports between 1024 and 65535", field="base_port")
    if db_url_template is not None and not db_url_template.strip():
        raise InvalidInput("must not be empty", field="db_url_template")
    h = home_of(home)  # SEKISHO_DB, if set, is the template's default
    sup = Supervisor(h.root, parties, db_url_template=db_url_template or h.db_url, base_port=base_port, labels=labels)
    sup.check_not_running()
    unclean: list[str] = []
    try:
        sup.start(should_stop=signals.stop)
        sup.prepare(should_stop=signals.stop)
        if sup.wait_ready(timeout=timeout, should_stop=signals.stop):
            _ready_table(sup, time.monotonic() - t0)
            while not signals.stop():
                for child in sup.exited():
                    assert child.proc is not None
                    err_console.print(
                        f"sekisho: {child.role.party} exited with code {child.proc.returncode} (see {child.log})"
                    )
                time.sleep(0.2)
    finally:
        # every path out — a signal, a party that failed to start, an error — stops and waits for every child
        if sup.children:
            err_console.print(f"stopping {len(sup.children)} parties …")
        unclean = sup.stop(force=signals.force)
        if unclean:
            err_console.print(f"sekisho: did not stop cleanly (see their logs): {', '.join(unclean)}")
    if unclean:
        raise typer.Exit(1)


def _ready_table(sup: Supervisor, seconds: float) -> None:
    from sekisho.node.supervisor import health_text

    table = Table("party", "", "pid", "listens on", "health", title=f"Sekisho network under {sup.root}")
    for c in sup.children:
        assert c.proc is not None
        table.add_row(c.role.party, c.label, str(c.proc.pid), c.url, health_text(c.health))
    # the whole address on one line even when stdout is a pipe (Rich would wrap to 80 columns)
    wide = console if console.is_terminal else Console(width=max(console.width, 132))
    wide.print(table)
    ok = sum(1 for c in sup.children if c.health and c.health[0] == 200)
    # a plain line, never wrapped: scripts and tests wait for it
    sys.stdout.write(
        f"ready: {len(sup.children)} parties answer ({ok} healthy) after {seconds:.1f} s; "
        f"logs in {sup.root / 'run' / 'logs'}; Ctrl-C or `sekisho down` stops them\n"
    )
    sys.stdout.flush()


def status(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """The parties `sekisho up` started under this home: PID, address, and what their health check says now."""
    from sekisho.node.supervisor import status as read_status

    data = read_status(home_of(home).root)
    if as_json:
        print_json(data)
        return
    state = data.get("state", "?") if data["running"] else "supervisor gone (stale run file)"
    table = Table("party", "", "pid", "listens on", "health", title=f"supervisor {data['supervisor']}: {state}")
    for p in data.get("parties", []):
        table.add_row(
            p["party"], p.get("label") or "", str(p["pid"]), p["url"], p["health"] if p["alive"] else "not running"
        )
    (console if console.is_terminal else Console(width=max(console.width, 132))).print(table)


def down(home: HomeOpt = None) -> None:
    """Stop the network `sekisho up` started under this home, and wait until every party has exited."""
    from sekisho.node.supervisor import down as stop_network

    root = home_of(home).root
    killed = stop_network(root)
    for party in killed:
        err_console.print(f"sekisho: {party} outlived its supervisor and was stopped")
    console.print(f"stopped the network under {Path(root)}")
