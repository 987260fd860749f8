"""The clerk's commands end to end: JSON output, one-line errors with exit code 2, nothing secret printed."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from sekisho.cli import app
from sekisho.config import Home
from sekisho.node.registers import open_register
from sekisho.registry import store as st

from .conftest import CHIYODA, GIFU


@pytest.fixture
def cli(home: Home) -> Any:
    runner = CliRunner()
    env = {"SEKISHO_HOME": str(home.root), "SEKISHO_CLERK": "clerk-9"}
    if home.db_url:
        env |= {"SEKISHO_DB": home.db_url, "SEKISHO_DB_NAMESPACE": home.namespace}

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, (result.output, result.stderr if result.stderr_bytes else "")
        return result

    return run


ADD = [
    "registry", "add", "-m", GIFU,
    "--family-name", "髙橋", "--given-name", "健一", "--family-kana", "ﾀｶﾊｼ", "--given-kana", "けんいち",
    "--birth-date", "S50.4.1", "--sex", "男", "--town", "青柳町", "--block", "三丁目5-12",
    "--became-resident-on", "平成10年4月1日", "--json",
]  # fmt: skip


def test_clerk_session(cli: Any, home: Home) -> None:
    cli("registry", "init", "-m", GIFU)
    cli("registry", "init", "-m", CHIYODA)
    added = json.loads(cli(*ADD).stdout)
    assert added["family_name_kana"] == "タカハシ" and added["given_name_kana"] == "ケンイチ"
    assert added["block"] == "3丁目5番12号" and added["birth_date_display"] == "昭和50年4月1日"
    assert "root" not in added and "pp" not in added
    handle = added["handle"]
    shown = json.loads(cli("registry", "show", handle, "-m", GIFU, "--json").stdout)
    assert shown == added
    found = json.loads(cli("registry", "search", "高橋", "-m", GIFU, "--json").stdout)
    assert [r["handle"] for r in found] == [handle]
    moved = json.loads(
        cli(
            "registry", "move-out", handle, "-m", GIFU,
            "--to", "東京都千代田区飯田橋二丁目3番4号", "--planned-on", "2026-11-25", "--json",
        ).stdout
    )  # fmt: skip
    token = moved["transfer"]
    arrived = json.loads(
        cli(
            "registry", "move-in", "-m", CHIYODA, "--transfer", token,
            "--town", "飯田橋", "--block", "2-3-4", "--moved-on", "2026-11-20", "--json",
        ).stdout
    )  # fmt: skip
    assert arrived["status"] == "active" and arrived["block"] == "2丁目3番4号"
    history = json.loads(cli("registry", "history", handle, "-m", GIFU, "--json").stdout)
    assert [h["kind"] for h in history["history"]] == ["registered", "move-out", "handed-over"]
    assert {h["actor"] for h in history["history"][:2]} == {"clerk-9"}
    # the root is in the database, and nowhere in what the commands printed
    svc = open_register(home, GIFU)
    with svc.engine.connect() as conn:
        root = conn.execute(sa.select(st.resident.c.root)).scalar_one()
    for text in (json.dumps(added), json.dumps(shown), json.dumps(history), json.dumps(arrived)):
        assert root.hex() not in text


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["registry", "show", "7KQ2-X9MB-T3Z", "-m", GIFU], "handle: check character"),
        (["registry", "init", "-m", "212017"], "municipality:"),
        (["registry", "show", "7KQ2-X9MB-T3Z", "-m", "990000"], "municipality:"),
        (["registry", "search", "x", "-m", CHIYODA], "no register for this municipality"),
    ],
    ids=["bad-check-character", "bad-check-digit", "bad-prefecture", "no-register"],
)
def test_errors_are_one_line_and_exit_2(cli: Any, args: list[str], fragment: str) -> None:
    cli("registry", "init", "-m", GIFU)
    result = cli(*args, code=2)
    err = result.stderr
    assert fragment in err
    assert err.count("\n") == 1 and err.startswith("sekisho: error: ")
    assert "Traceback" not in result.output


def test_bad_item_leaves_nothing(cli: Any, home: Home) -> None:
    cli("registry", "init", "-m", GIFU)
    args = [a if a != "S50.4.1" else "平成31年5月1日" for a in ADD]
    result = cli(*args, code=2)
    assert "birth_date" in result.stderr and "平成31年5月1日" not in result.stderr
    svc = open_register(home, GIFU)
    assert svc.count(status=None) == 0


def test_a_lost_transfer_can_be_shown_again_and_cancelled(cli: Any, home: Home) -> None:
    cli("registry", "init", "-m", GIFU)
    cli("registry", "init", "-m", CHIYODA)
    handle = json.loads(cli(*ADD).stdout)["handle"]
    # nothing pending yet: refused in one line, and nothing recorded
    result = cli("registry", "transfer", "show", handle, "-m", GIFU, code=2)
    assert "no move-out is pending" in result.stderr and result.stderr.count("\n") == 1
    svc = open_register(home, GIFU)
    with svc.engine.connect() as conn:
        accesses = conn.execute(sa.select(sa.func.count()).select_from(st.access)).scalar_one()
    moved = json.loads(
        cli(
            "registry", "move-out", handle, "-m", GIFU,
            "--to", "東京都千代田区飯田橋二丁目3番4号", "--planned-on", "2026-11-25", "--json",
        ).stdout
    )  # fmt: skip
    shown = json.loads(cli("registry", "transfer", "show", handle, "-m", GIFU, "--json").stdout)
    assert shown["transfer"] == moved["transfer"]
    assert shown["destination"].startswith("東京都千代田区飯田橋2丁目") and shown["destination_code"] == CHIYODA
    assert shown["planned_on"] == "2026-11-25"
    assert shown["move_in_by"] == "2026-12-09" and shown["card_move_in_by"] == "2026-12-25"
    # the lookup is a read of the person's data: it wrote an access record
    with svc.engine.connect() as conn:
        rows = conn.execute(sa.select(st.access.c.action, st.access.c["items"]).order_by(st.access.c.id)).all()
    assert len(rows) == accesses + 1 and rows[-1].action == "register-read" and "transfer" in rows[-1][1]
    assert moved["transfer"] in cli("registry", "transfer", "show", handle, "-m", GIFU).stdout
    # cancelled: the resident stays, the token is refused at the destination, and nothing is pending any more
    cancelled = json.loads(cli("registry", "transfer", "cancel", handle, "-m", GIFU, "--json").stdout)
    assert cancelled["status"] == "active" and cancelled["moving_out"] is False
    result = cli(
        "registry", "move-in", "-m", CHIYODA, "--transfer", moved["transfer"],
        "--town", "飯田橋", "--block", "2-3-4", "--moved-on", "2026-11-20", code=2,
    )  # fmt: skip
    assert "transfer: this transfer is no longer open" in result.stderr
    assert open_register(home, CHIYODA).count(status=None) == 0
    cli("registry", "transfer", "show", handle, "-m", GIFU, code=2)
    cli("registry", "transfer", "cancel", handle, "-m", GIFU, code=2)  # nothing left to cancel
    history = json.loads(cli("registry", "history", handle, "-m", GIFU, "--json").stdout)
    assert [h["kind"] for h in history["history"]] == ["registered", "move-out", "move-out-cancelled"]


def test_move_out_of_a_head_with_members_is_refused_in_one_line(cli: Any, home: Home) -> None:
    cli("registry", "init", "-m", GIFU)
    head = json.loads(cli(*ADD).stdout)
    wife = [a if a != "健一" else "花子" for a in ADD] + ["--household", head["household"], "--relationship", "妻"]
    cli(*wife)
    result = cli(
        "registry", "move-out", head["handle"], "-m", GIFU,
        "--to", "東京都千代田区飯田橋二丁目3番4号", "--planned-on", "2026-11-25", code=2,
    )  # fmt: skip
    assert result.stderr.startswith("sekisho: error: handle: the head (世帯主) cannot move out")
    assert "household change" in result.stderr and result.stderr.count("\n") == 1
    assert not json.loads(cli("registry", "show", head["handle"], "-m", GIFU, "--json").stdout)["moving_out"]


def test_household_shows_a_vacant_head(cli: Any) -> None:
    cli("registry", "init", "-m", GIFU)
    head = json.loads(cli(*ADD).stdout)
    for name, rel in (("花子", "妻"), ("翔太", "子")):
        cli(*[a if a != "健一" else name for a in ADD], "--household", head["household"], "--relationship", rel)
    shown = json.loads(cli("registry", "household", head["household"], "-m", GIFU, "--json").stdout)
    assert shown["head"] == head["handle"]
    cli("registry", "death", head["handle"], "-m", GIFU, "--died-on", "2026-11-15")
    shown = json.loads(cli("registry", "household", head["household"], "-m", GIFU, "--json").stdout)
    assert shown["head"] is None  # the head stays vacant until the members file the new one
    assert "household-change" in cli("registry", "household", head["household"], "-m", GIFU).stdout


def test_search_table_never_cuts_handles_on_80_columns(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clerk copies the handle from the search into the next command (issue 9, item 20)."""
    from rich.console import Console

    from sekisho.cli import clerk

    cli("registry", "init", "-m", GIFU)
    added = json.loads(cli(*ADD).stdout)
    out = io.StringIO()
    monkeypatch.setattr(clerk, "console", Console(file=out, width=80))
    cli("registry", "search", "高橋", "-m", GIFU)
    assert added["handle"] in out.getvalue()


def test_progress_off_a_terminal_prints_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """Off a terminal (CI, a log file) a long run still shows progress: plain lines on stderr, no bar codes."""
    from sekisho.cli._common import progress

    with progress("pseudonyms", 4, every=0) as advance:
        advance(1)
        advance(3)
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["pseudonyms: 1/4 (25%)", "pseudonyms: 4/4 (100%)"]
    assert captured.out == ""


def test_add_refuses_the_same_person_twice_unless_the_clerk_says_otherwise(cli: Any) -> None:
    cli("registry", "init", "-m", GIFU)
    first = json.loads(cli(*ADD).stdout)
    refused = cli(*ADD, code=2)
    lines = refused.output.strip().splitlines()
    assert len(lines) == 1 and "already has a live record" in lines[0] and "--distinct-person" in lines[0]
    assert "髙橋" not in refused.output and "高橋" not in refused.output  # no personal data in the message
    found = json.loads(cli("registry", "search", "高橋", "-m", GIFU, "--json").stdout)
    assert [r["handle"] for r in found] == [first["handle"]]  # nothing was written
    second = json.loads(cli(*ADD, "--distinct-person").stdout)
    assert second["handle"] != first["handle"]
