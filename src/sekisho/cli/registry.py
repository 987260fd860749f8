"""`sekisho municipality …` and `sekisho registry …`: the clerk's commands at one municipal register."""

from __future__ import annotations

import typer

municipality_app = typer.Typer(help="The catalogue of prefectures and municipalities.", no_args_is_help=True)
registry_app = typer.Typer(help="One municipality's resident register.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(municipality_app, name="municipality")
    app.add_typer(registry_app, name="registry")
