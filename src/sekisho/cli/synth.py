"""`sekisho synth …`: synthetic test data (residents in the import format of docs/import-format.md)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer

from sekisho.cli._common import err_console, progress
from sekisho.errors import InvalidInput
from sekisho.jp.wareki import parse_full_date
from sekisho.synth.residents import DEFAULT_AS_OF, generate_file

synth_app = typer.Typer(help="Synthetic, realistic test data; deterministic by seed.", no_args_is_help=True)


@synth_app.command("residents")
def residents(
    municipality: Annotated[str, typer.Option("--municipality", "-m", help="Local government code (5 or 6 digits).")],
    count: Annotated[int, typer.Option("--count", "-n", help="Number of residents (rows).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write.", dir_okay=False)],
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same file.")] = 1,
    fmt: Annotated[Literal["csv", "jsonl"], typer.Option("--format", help="csv or jsonl.")] = "csv",
    foreign_share: Annotated[
        float, typer.Option("--foreign-share", help="Share of foreign residents (national average ~0.03).")
    ] = 0.03,
    as_of: Annotated[
        str, typer.Option("--as-of", help="Reference date: ages and dates are counted back from it.")
    ] = DEFAULT_AS_OF.isoformat(),
) -> None:
    """Write COUNT residents of one municipality in the resident import format."""
    if count < 0:
        raise InvalidInput("must not be negative", field="count")
    reference: date = parse_full_date(as_of, field="as_of")
    started = time.perf_counter()
    with progress("residents", count) as advance:
        n = generate_file(
            out,
            municipality=municipality,
            count=count,
            seed=seed,
            fmt=fmt,
            foreign_share=foreign_share,
            as_of=reference,
            advance=advance,
        )
    elapsed = time.perf_counter() - started
    err_console.print(f"wrote {n} residents to {out} in {elapsed:.1f} s ({n / max(elapsed, 1e-9):,.0f} rows/s)")


def register(app: typer.Typer) -> None:
    app.add_typer(synth_app, name="synth")
