"""A party's database that is missing, damaged, locked or unreachable, and options that name no usable place:
the real `sekisho` command, run as a user runs it, prints one line and exits 5 (a party is unavailable) or 2 (bad
input) — never a traceback — and creates no party's database except in that party's set-up."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pep_network import FAST_N, GIFU, PASSPHRASE, person
from sekisho.auditlog.service import init_parties
from sekisho.config import Home
from sekisho.node.registers import create_register
from sekisho.policy.pia import load_pia
from sekisho.policy.service import Watchdog
from sekisho.pseudonyms.service import init_network
from sekisho.storage import create_engine_for

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(home: Home) -> Run:
    """`sekisho ARGS` in a child process, on ``home`` unless ``--home`` is given; checks the exit code."""

    def _run(*args: str, code: int = 0, **env: str) -> subprocess.CompletedProcess[str]:
        full = {
            **os.environ,
            "SEKISHO_HOME": str(home.root),
            "SEKISHO_DB": home.db_url or "",
            "SEKISHO_DB_NAMESPACE": home.namespace,
            "SEKISHO_PASSPHRASE": PASSPHRASE.decode(),
            "SEKISHO_BUSY_TIMEOUT": "1",
            "COLUMNS": "200",
            **env,
        }
        result = subprocess.run(
            [sys.executable, "-c", "from sekisho.cli import main; main()", *args],
            env=full,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == code, result.stderr
        return result

    return _run


def one_line(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    err = result.stderr
    assert err.startswith("sekisho: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


def schemas(home: Home) -> set[str]:
    """The PostgreSQL schemas of this test's parties (empty on SQLite)."""
    if not home.db_url:
        return set()
    engine = create_engine_for(home.db_url)
    try:
        with engine.connect() as conn:
            names = conn.execute(
                sa.text("SELECT schema_name FROM information_schema.schemata WHERE starts_with(schema_name, :p)"),
                {"p": home.namespace},
            ).scalars()
            return set(names)
    finally:
        engine.dispose()


@pytest.fixture
def register(home: Home) -> str:
    """岐阜市's register with one resident; its handle."""
    reg = create_register(home, GIFU)
    handle = reg.add(person(household="a")).handle
    reg.engine.dispose()
    return handle


# --- no party's database is created but by its set-up -------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["log", "tail"], ["log", "proof", "--index", "0"], ["log", "verify"]], ids=["tail", "proof", "verify"]
)
def test_read_only_log_commands_on_a_missing_home_create_nothing(run: Run, home: Home, args: list[str]) -> None:
    missing = home.root / "nowhere"
    before = schemas(home)
    one_line(run(*args, "--home", str(missing), code=5), "log:", "sekisho log init")
    assert not missing.exists()  # neither log/party.db nor its directory
    assert schemas(home) == before


def test_a_command_on_a_municipality_without_a_register_leaves_no_database(run: Run, home: Home, register: str) -> None:
    before = schemas(home)
    one_line(run("registry", "search", "x", "-m", "011002", code=2), "no register for this municipality")
    assert not (home.root / "municipality" / "011002").exists()
    assert schemas(home) == before


# --- options that name no usable place ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["registry", "init", "-m", GIFU, "--db", "sqlite:////nonexistent/dir/x.db"], "db:"),
        (["registry", "init", "-m", GIFU, "--db", "postgresql+psycopg://u@localhost:port/db"], "db:"),
        (["registry", "init", "-m", GIFU, "--db", "mysql://u@localhost/db"], "db:"),
        # `log init` writes key files under --home whatever the database (on PostgreSQL a register needs none)
        (["log", "init", "--home", "{file}"], "home:"),
        (["log", "init", "--home", "/proc/x"], "home:"),
    ],
    ids=["sqlite-no-directory", "port-not-a-number", "unsupported", "home-is-a-file", "home-in-proc"],
)
def test_bad_home_or_db_is_one_line_and_exit_2(run: Run, tmp_path: Path, args: list[str], fragment: str) -> None:
    file = tmp_path / "a-file"
    file.write_text("not a directory")
    args = [a.replace("{file}", str(file)) for a in args]
    one_line(run(*args, code=2), fragment)
    assert file.read_text() == "not a directory"
    assert not Path("/nonexistent").exists()


def test_a_home_that_is_a_file_is_bad_input_on_sqlite(run: Run, home: Home, tmp_path: Path) -> None:
    sqlite_only(home)
    file = tmp_path / "a-file"
    file.write_text("not a directory")
    one_line(run("registry", "init", "-m", GIFU, "--home", str(file), code=2), "home:")


def test_unreachable_postgresql_is_one_line_and_exit_5(run: Run) -> None:
    # nothing listens on port 1: the party cannot be reached (the user's URL is well formed)
    one_line(
        run("registry", "init", "-m", GIFU, "--db", "postgresql+psycopg://u@127.0.0.1:1/db", code=5),
        "municipality/212016: cannot reach its PostgreSQL server",
    )


# --- damaged, locked: one line, exit 5, the party named ---------------------------------------------------------


def sqlite_only(home: Home) -> None:
    if home.db_url:
        pytest.skip("a damaged or locked SQLite file: on PostgreSQL the server owns the files")


def damage(path: Path) -> None:
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        extra.unlink(missing_ok=True)
    path.write_bytes(b"\x13\x37" * 4096)


@pytest.mark.parametrize("party", ["log", "municipality/212016"])
def test_a_damaged_party_database_is_one_line_and_exit_5(run: Run, home: Home, register: str, party: str) -> None:
    sqlite_only(home)
    init_parties(home, PASSPHRASE, origin="log.sekisho.test", witness_name="watchdog.sekisho.test")
    damage(home.root / party / "party.db")
    err = one_line(run("registry", "show", register, "-m", GIFU, code=5), f"{party}: ", "not a SQLite database")
    assert register not in err


@pytest.fixture
def hold_write_lock() -> Iterator[Callable[[Path], None]]:
    """Another process's long write (an import): a connection holding BEGIN IMMEDIATE on a party's file."""
    held: list[sqlite3.Connection] = []

    def hold(path: Path) -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.append(conn)

    yield hold
    for conn in held:
        conn.rollback()
        conn.close()


def test_a_procedure_waits_a_bounded_time_for_a_busy_register_then_says_so(
    run: Run, home: Home, register: str, hold_write_lock: Callable[[Path], None]
) -> None:
    sqlite_only(home)
    init_parties(home, PASSPHRASE, origin="log.sekisho.test", witness_name="watchdog.sekisho.test")
    hold_write_lock(home.root / "municipality" / GIFU / "party.db")
    # a read of a person writes its access record first: it must wait for the write lock, and gives up in one line
    one_line(run("registry", "show", register, "-m", GIFU, code=5), "municipality/212016:", "busy", "waited 1 s")


def test_a_read_that_writes_nothing_is_not_blocked_by_a_writer(
    run: Run, home: Home, register: str, hold_write_lock: Callable[[Path], None]
) -> None:
    sqlite_only(home)
    init_parties(home, PASSPHRASE, origin="log.sekisho.test", witness_name="watchdog.sekisho.test")
    run("registry", "show", register, "-m", GIFU)  # an entry in the log
    hold_write_lock(home.root / "log" / "party.db")
    tail = run("log", "tail", "-n", "1")
    assert json.loads(tail.stdout)["index"] == 0 and tail.stderr == ""
    # the log's writer, though, must wait: the next access record cannot be published
    one_line(run("registry", "show", register, "-m", GIFU, code=5), "log:", "busy")


# --- the log's writer stops cleanly -------------------------------------------------------------------------------


def test_a_successful_read_leaves_nothing_on_stderr(run: Run, home: Home, register: str) -> None:
    init_parties(home, PASSPHRASE, origin="log.sekisho.test", witness_name="watchdog.sekisho.test")
    for args in (["registry", "show", register, "-m", GIFU], ["registry", "search", "髙橋", "-m", GIFU]):
        result = run(*args)
        assert "Task was destroyed" not in result.stderr
        assert result.stderr == ""


# --- a transcryptor's key file is the transcryptor's, not the caller's input ------------------------------------


@pytest.fixture
def network(home: Home, run: Run) -> str:
    """A network with the pension agency, and 岐阜市's register with one resident (indexed); the handle."""
    init_network(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    wd = Watchdog.open(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    for pia in _pias():
        if pia.agency == "pension":
            wd.submit_pia(pia, by="agency-officer")
            wd.approve_pia(pia.id, by="wd-officer-1")
    wd.engine.dispose()
    run("agency", "create", "pension", "--purpose", "pension.benefit")
    reg = create_register(home, GIFU)  # after the network: the record gets its polymorphic pseudonym
    handle = reg.add(person(household="a")).handle
    reg.engine.dispose()
    return handle


def _pias() -> list[Any]:
    from importlib import resources

    folder = Path(str(resources.files("sekisho.policy.data").joinpath("pias")))
    return [load_pia(path) for path in sorted(folder.glob("*.yaml"))]


ENROL = ("agency", "enroll", "pension", "-m", GIFU, "--purpose", "pension.benefit", "--handle")


def test_a_missing_transcryptor_is_named_with_its_file_and_nothing_is_created(
    run: Run, home: Home, network: str
) -> None:
    t2 = home.root / "t2"
    t2.rename(home.root / "t2-away")
    # T2's database or its key file, whichever the command reaches first: named, with where it was looked for
    err = one_line(run(*ENROL, network, code=5), "t2: ", f"{t2}/")
    assert network not in err
    assert not t2.exists()  # no t2/party.db, no directory


def test_a_missing_transcryptor_key_is_named_with_its_file(run: Run, home: Home, network: str) -> None:
    key = home.root / "t2" / "transcryptor.key"
    key.unlink()
    one_line(run(*ENROL, network, code=5), "t2: ", str(key), "missing")


def test_a_damaged_transcryptor_key_is_named_with_its_file(run: Run, home: Home, network: str) -> None:
    key = home.root / "t2" / "transcryptor.key"
    doc = json.loads(key.read_text())
    doc["ciphertext"] = doc["ciphertext"][:-8] + "AAAAAAA="
    key.write_text(json.dumps(doc))
    one_line(run(*ENROL, network, code=5), "t2: ", str(key), "does not open")
