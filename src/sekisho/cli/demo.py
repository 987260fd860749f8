"""`sekisho demo`: build a small network from scratch and walk through it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sekisho.cli._common import console


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        home: Annotated[
            Path, typer.Option("--home", help="Where the demo network lives (rebuilt on every run).")
        ] = Path(".sekisho/demo"),
        residents: Annotated[int, typer.Option("--residents", help="Synthetic residents of 岐阜市.")] = 2000,
    ) -> None:
        """Build a working network on SQLite and show what it does."""
        from sekisho.demo import run

        run(home, residents=residents, console=console)
