"""Options and output helpers shared by the command modules."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sekisho.config import Home
from sekisho.errors import InvalidInput

console = Console()
err_console = Console(stderr=True)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", envvar="SEKISHO_HOME", help="Data directory of the network (default ./.sekisho)."),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="SEKISHO_DB",
        help="SQLAlchemy URL (e.g. postgresql+psycopg://…); default: a SQLite file per party under --home.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def home_of(home: Path | None, db: str | None = None) -> Home:
    return Home.from_env(home, db)


def _default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError


def write_out(path: Path, data: bytes | str) -> None:
    """Write a command's ``--out`` file; a path that cannot be written is the user's bad input (exit 2)."""
    try:
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
    except OSError as exc:
        raise InvalidInput("cannot be written", field="out") from exc


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, default=_default, option=orjson.OPT_INDENT_2).decode() + "\n")


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        print_json(data)
    else:
        render(data)


PLAIN_PROGRESS_EVERY = 10.0  # seconds between plain progress lines when stderr is not a terminal


@contextmanager
def progress(description: str, total: int | None, *, every: float | None = None) -> Iterator[Callable[[int], None]]:
    """Progress on stderr; yields ``advance(n)``.

    On a terminal, a Rich progress bar. Off a terminal (a log file, CI, a pipe) a bar would be noise or nothing
    at all, so a plain line ``description: done/total (pct%)`` at most every ``every`` seconds instead: a long
    run (join-network of a large register) still shows that it is moving."""
    if not err_console.is_terminal:
        interval = PLAIN_PROGRESS_EVERY if every is None else every
        done = 0
        last = time.monotonic()

        def advance_plain(n: int = 1) -> None:
            nonlocal done, last
            done += n
            now = time.monotonic()
            if now - last >= interval:
                last = now
                share = f" ({100 * done // total}%)" if total else ""
                sys.stderr.write(f"{description}: {done}/{total if total is not None else '?'}{share}\n")
                sys.stderr.flush()

        yield advance_plain
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    with bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance
