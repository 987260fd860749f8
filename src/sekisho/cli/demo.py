"""`sekisho demo`: build a small network from scratch, walk through it, then run it as one process per party."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sekisho.cli._common import console

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from sekisho.config import Home


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        home: Annotated[
            Path, typer.Option("--home", help="Where the demo network lives (rebuilt on every run).")
        ] = Path(".sekisho/demo"),
        residents: Annotated[int, typer.Option("--residents", help="Synthetic residents of 岐阜市.")] = 2000,
        keep: Annotated[
            bool, typer.Option("--keep", help="Leave the parties serving until Ctrl-C (or `sekisho down`).")
        ] = False,
        processes: Annotated[
            bool,
            typer.Option("--processes/--no-processes", help="Start the parties as processes and show them at work."),
        ] = True,
    ) -> None:
        """Build a working network on SQLite and show what it does; then start every party as an OS process on
        127.0.0.1 (mutual TLS), show requests to them, and stop them (with --keep: serve until Ctrl-C)."""
        import os

        from sekisho.demo import DEMO_PASSPHRASE, run
        from sekisho.keyfile import PASSPHRASE_ENV, passphrase_from_env

        # every key of the demo is sealed with the shell's SEKISHO_PASSPHRASE when it exports one (so that the
        # user's own `sekisho` commands open them), else with the demo's; its parts and its parties' processes
        # read it from the environment
        secret = passphrase_from_env() or DEMO_PASSPHRASE
        os.environ[PASSPHRASE_ENV] = secret.decode()
        run(
            home,
            residents=residents,
            console=console,
            network=_network(keep, secret) if processes else None,
            passphrase=secret,
        )


def _network(keep: bool, passphrase: bytes) -> Callable[[Home, Console], list[str]]:
    def network(home: Home, out: Console) -> list[str]:
        from sekisho.cli.serve import _Signals
        from sekisho.demo import CHIYODA, GIFU
        from sekisho.jp.catalogue import get_municipality
        from sekisho.node.demo_network import DemoNetwork, show

        signals = _Signals()  # from here, Ctrl-C and SIGTERM stop the parties in order, as under `sekisho up`
        labels = {f"municipality/{c}": get_municipality(c).name for c in (GIFU, CHIYODA)}
        with DemoNetwork(
            home,
            [GIFU, CHIYODA],
            ["pension", "tax", "kyokai-kenpo"],
            passphrase=passphrase,
            labels=labels,
            should_stop=signals.stop,
        ) as net:
            shown = show(
                net,
                out,
                municipality=GIFU,
                access_list=home.root / "access-list.json",
                card=home.root / "demo-resident.card",
                confirm=("tax", "tax.assessment"),
            )
            if keep:
                out.print(f"  serving until Ctrl-C (or `sekisho down --home {home.root}`); the table above says where")
                net.wait()
            out.print(f"  stopping {len(shown.parties)} parties …")
        return [
            f"processes: {len(shown.parties)} parties, one OS process each, over mutual TLS "
            f"({shown.seconds:.1f} s from the first start to the last check); all stopped"
        ]

    return network
