"""`sekisho municipality …` and `sekisho registry …`: the clerk's commands at one municipal register."""

from __future__ import annotations

from typing import Annotated, Any

import typer

municipality_app = typer.Typer(help="The catalogue of prefectures and municipalities.", no_args_is_help=True)
registry_app = typer.Typer(help="One municipality's resident register.", no_args_is_help=True)


# --- municipality catalogue (sekisho.jp) ------------------------------------------------------------------


def _municipality_dict(m: Any) -> dict[str, Any]:
    return {
        "code": m.code,
        "name": m.name,
        "kana": m.kana,
        "full_name": m.full_name,
        "kind": m.kind,
        "prefecture_code": m.prefecture_code,
        "prefecture": m.prefecture,
        "county": m.county,
        "parent": m.parent,
    }


@municipality_app.command("show")
def municipality_show(
    code: Annotated[str, typer.Argument(help="Local government code (5 or 6 digits).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """One prefecture, municipality or ward by its code, with its wards or number of towns."""
    from sekisho.cli._common import console, emit
    from sekisho.jp.catalogue import catalogue, towns

    cat = catalogue()
    m = cat.get(code)
    data = _municipality_dict(m)
    if m.kind == "designated_city":
        data["wards"] = [_municipality_dict(w) for w in cat.wards_of(m.code)]
    if m.kind != "prefecture":
        data["towns"] = len({t.name for t in towns(m.code)})

    def render(d: dict[str, Any]) -> None:
        console.print(f"[bold]{d['full_name']}[/bold] ({d['kana']})  {d['code']}  {d['kind']}")
        if "towns" in d:
            console.print(f"towns in the postal data: {d['towns']}")
        for w in d.get("wards", []):
            console.print(f"  {w['code']}  {w['name']} ({w['kana']})")

    emit(data, as_json, render)


@municipality_app.command("list")
def municipality_list(
    prefecture: Annotated[str | None, typer.Option("--prefecture", help="Prefecture number, 01–47.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The municipalities (and wards of designated cities), optionally of one prefecture."""
    from rich.table import Table

    from sekisho.cli._common import console, emit
    from sekisho.errors import InvalidInput
    from sekisho.jp.catalogue import catalogue

    cat = catalogue()
    if prefecture is None:
        entries = [m for m in cat.entries.values() if m.kind != "prefecture"]
    else:
        p = prefecture.strip().zfill(2)
        if not (p.isdigit() and 1 <= int(p) <= 47):
            raise InvalidInput("a prefecture number is 01–47", field="prefecture")
        entries = cat.in_prefecture(p)
    data = [_municipality_dict(m) for m in entries]

    def render(rows: list[dict[str, Any]]) -> None:
        table = Table("code", "name", "kana", "kind")
        for r in rows:
            table.add_row(r["code"], r["full_name"], r["kana"], r["kind"])
        console.print(table)

    emit(data, as_json, render)


def register(app: typer.Typer) -> None:
    app.add_typer(municipality_app, name="municipality")
    app.add_typer(registry_app, name="registry")
