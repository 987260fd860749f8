"""The work one identity confirmation costs, counted (never timed): the durable commits and SQL statements of every
party's database — agency, T1, T2, locator, municipality, policy, log — for one lookup through the in-process
network on the shipped policy with the public access log.

Issue 11 aims at <= 2 durable commits per request.  The ceilings below are what the path costs now; a change
that adds work to the path fails here.  Tighten them when the path is optimised —
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

#: what one identity confirmation costs, per database (issue 11's goal: <= 2 durable commits per request).
#: 2026-12-05, when this test was written: 11 durable commits (agency 1, T1 2, T2 2, policy (watchdog) 1,
#: municipality 2, log 3 batches) and 42 statements on SQLite / 23 on PostgreSQL.
#: 2026-12-06: each party commits once — T1 and T2 record the decision and the journal row in one transaction, the
#: municipality appends its access records to the log first and stores them with their indexes in one commit —
#: and the log commits one batch per appending party (T1, T2, the municipality; concurrent requests share them):
#: agency 1, T1 1, T2 1, policy 1, municipality 1, log 3 = 8.  Statements seen through SQLAlchemy (the log's
#: writer goes around it: COPY / executemany on the DBAPI): SQLite agency 2, T1 3, T2 3, locator 2, policy 3,
#: municipality 7, log 6 (its writer's BEGIN/reads) = 26; PostgreSQL agency 1, T1 2, T2 2, locator 1, policy 2,
#: municipality 4 = 12 (the transcryptors' copies of the watchdog's rules and the agency's requested items are
#: read once, not per request).
MAX_DURABLE_COMMITS = {"sqlite": 8, "postgresql": 8}
MAX_STATEMENTS = {"sqlite": 26, "postgresql": 12}

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
    # every party on the path commits its own records once per request (the log: once per party appending)
    assert all(n <= 1 for party, n in count.durable.items() if party != "log"), report
    assert count.total(count.durable) <= MAX_DURABLE_COMMITS[dialect], report
    assert count.total(count.statements) <= MAX_STATEMENTS[dialect], report
