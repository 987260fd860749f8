"""The work one identity confirmation costs, counted (never timed): the durable commits and SQL statements of every
party's database — agency, T1, T2, locator, municipality, policy, log — for one lookup through the in-process
network on the shipped policy with the public access log.

Issue 11 aims at <= 2 durable commits per request.  The ceilings below are what the path costs today (recorded when
this test was written); a change that adds work to the path fails here.  Tighten them when the path is optimised —
never raise them to make a change pass."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from pep_network import GIFU, person, shipped_network
from sekisho.auditlog.client import close_access_logs, local_access_log
from sekisho.auditlog.service import init_parties
from sekisho.config import Home
from sekisho.node.local import LocalNetwork

SECRET = b"test-log-passphrase"

#: today's cost of one identity confirmation, per database (issue 11's goal: <= 2 durable commits per request).
#: Durable commits, 2026-12-05: agency 1, T1 2, T2 2, policy (watchdog) 1, municipality 2, log 3 batches = 11.
#: Statements seen through SQLAlchemy (the log's writer goes around it: COPY / executemany on the DBAPI), same day:
#: SQLite agency 4, T1 7, T2 7, locator 2, policy 3, municipality 13, log 6 (its writer's BEGIN/reads) = 42;
#: PostgreSQL agency 2, T1 5, T2 5, locator 1, policy 2, municipality 8 = 23.
MAX_DURABLE_COMMITS = {"sqlite": 11, "postgresql": 11}
MAX_STATEMENTS = {"sqlite": 42, "postgresql": 23}

_READS = ("SELECT", "PRAGMA", "SAVEPOINT", "RELEASE", "SHOW", "SET", "BEGIN")


@dataclass
class Work:
    """Statements and commits seen on every SQLAlchemy engine of this process while counting."""

    statements: Counter[str] = field(default_factory=Counter)
    commits: Counter[str] = field(default_factory=Counter)
    durable: Counter[str] = field(default_factory=Counter)
    on: bool = False

    def total(self, counter: Counter[str]) -> int:
        return sum(counter.values())


def _party(conn: Any) -> str:
    # the party a connection belongs to: its SQLite file's directory, or its PostgreSQL schema (search_path)
    url = conn.engine.url
    if url.get_backend_name() == "sqlite":
        return str(url.database).rsplit("/", 2)[-2] if url.database else "memory"
    options = conn.connection.dbapi_connection.info.get_parameters().get("options", "")
    schema = options.rpartition("search_path=")[2].split()[0] if "search_path=" in options else "public"
    return schema.rpartition("_")[2] or schema


@pytest.fixture
def count() -> Iterator[Work]:
    work = Work()

    def executed(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not work.on:
            return
        work.statements[_party(conn)] += 1
        if not statement.lstrip().upper().startswith(_READS):
            conn.info["sekisho-test-wrote"] = True

    def committed(conn: Any) -> None:
        wrote = conn.info.pop("sekisho-test-wrote", False)
        if not work.on:
            return
        party = _party(conn)
        if party == "log":
            return  # counted from the log's own writer (below)
        work.commits[party] += 1
        if wrote:
            work.durable[party] += 1

    def rolled_back(conn: Any) -> None:
        conn.info.pop("sekisho-test-wrote", None)

    sa.event.listen(sa.Engine, "after_cursor_execute", executed)
    sa.event.listen(sa.Engine, "commit", committed)
    sa.event.listen(sa.Engine, "rollback", rolled_back)
    yield work
    sa.event.remove(sa.Engine, "after_cursor_execute", executed)
    sa.event.remove(sa.Engine, "commit", committed)
    sa.event.remove(sa.Engine, "rollback", rolled_back)


@pytest.fixture
def net(home: Home) -> Iterator[LocalNetwork]:
    init_parties(home, SECRET, origin="log.sekisho.test", witness_name="watchdog.sekisho.test")
    yield from shipped_network(home, approve=("pension",), agencies=(("pension", "pension.benefit"),))
    close_access_logs()


def test_one_identity_confirmation_costs_no_more_commits_and_statements_than_today(
    net: LocalNetwork, count: Work
) -> None:
    gifu = net.register(GIFU)
    r = gifu.add(person())
    net.releases(GIFU).enrol([r.handle], agency="pension", purpose="pension.benefit")
    pension = net.agency_service("pension")
    [held] = pension.persons()
    # a first lookup opens every party's database and loads keys and policy: not the per-request cost
    [first] = pension.lookup([held.pseudonym], purpose="pension.benefit", network=net)
    assert first.status == "found"

    # the log commits its batches on the DBAPI connection (psycopg's own COMMIT on PostgreSQL), which SQLAlchemy's
    # commit event does not see: its durable commits are its writer's committed batches
    log = local_access_log(net.home)
    assert log is not None
    sequencer = log.service.sequencer
    batches = sequencer.batches
    count.on = True
    [answer] = pension.lookup([held.pseudonym], purpose="pension.benefit", network=net)
    count.on = False
    count.durable["log"] = count.commits["log"] = sequencer.batches - batches
    dialect = gifu.engine.dialect.name

    assert answer.status == "found" and answer.items["name"] == "髙橋\u3000健一"
    # the counting saw the path: the municipality's access record and the log's leaf are written every time
    assert count.durable, (count.statements, count.commits)
    report = (
        f"durable commits {dict(count.durable)}, commits {dict(count.commits)}, statements {dict(count.statements)}"
    )
    assert count.durable["212016"] >= 1 and count.durable["log"] >= 1, report
    assert count.total(count.durable) <= MAX_DURABLE_COMMITS[dialect], report
    assert count.total(count.statements) <= MAX_STATEMENTS[dialect], report
