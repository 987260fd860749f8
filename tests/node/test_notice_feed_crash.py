"""An agency pulls its change notices from a real municipality node (``POST /notices/feed`` over mutual TLS, signed
by the agency's terminal; the node releases each page as it answers the locator: the watchdog's decision point,
T1's relay and the log's process), is SIGKILLed after applying a page and before moving its cursor, and on the next run
resumes from its cursor: every notice applied exactly once.  An agency cannot read another agency's feed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pep_network import PASSPHRASE, person, shipped_network
from sekisho.agency.service import AgencyService
from sekisho.config import Home
from sekisho.failpoints import ENV
from sekisho.node.roles import Role
from sekisho.node.supervisor import Supervisor

from .procs import env_for, party_client

X = "212016"

#: the agency's puller as its own process: its key, its database, and the municipality's feed over HTTP
PULL = """
import sys
from sekisho.agency.service import AgencyService
from sekisho.config import Home
from sekisho.node.httpnet import HttpNetwork
home = Home.from_env()
agency = AgencyService.open(home, "tax", passphrase=sys.argv[1].encode())
with HttpNetwork(home.root, "agency/tax") as net:
    print(agency.pull_notices(net.notice_feed(sys.argv[2]), sys.argv[2], limit=1))
"""


@pytest.fixture(scope="module")
def net(net_home: Home) -> Iterator[tuple[Home, dict[str, str]]]:
    home = net_home
    saved = dict(os.environ)
    env = env_for(home)
    env["SEKISHO_DB_NAMESPACE"] = home.namespace
    os.environ.update(env)
    os.environ.pop(ENV, None)
    from sekisho.auditlog.client import close_access_logs
    from sekisho.auditlog.service import init_parties
    from sekisho.pki import hierarchy as pki

    gen = shipped_network(home, approve=["tax"], agencies=[("tax", "tax.assessment")], codes=(X,))
    world = next(gen)
    os.environ["SEKISHO_PASSPHRASE"] = PASSPHRASE.decode()
    init_parties(home, PASSPHRASE)  # the log: T1 and T2 record their conversions in it
    pki.init(home, secret=lambda: PASSPHRASE).engine.dispose()
    # before the log's process starts (the log has one writer): two residents enrolled with the tax office, then a
    # death and a move within the municipality in the register's outbox
    register = world.register(X)
    a = register.add(person(household="a"))
    b = register.add(person(household="b", given_name="花子", given_name_kana="ハナコ", sex="女", block="3丁目5番1号"))
    world.releases(X).enrol([a.handle, b.handle], agency="tax", purpose="tax.assessment")
    today = register.today().isoformat()
    register.death(a.handle, died_on=today)
    register.move_within(b.handle, town="青柳町", block="1丁目1番1号", moved_on=today)
    gen.close()
    close_access_logs()
    # the municipality's node releases the feed as it answers the locator: the decision point at the watchdog,
    # R → A through T1's relay (T1 → T2 → back), the access records in the log's process
    roles = [Role("pki"), Role("log"), Role("t1"), Role("t2"), Role("watchdog"), Role("municipality", X)]
    sup = Supervisor(home.root, [*roles, Role("agency", "tax")], db_url_template=home.db_url)
    try:
        sup.start()
        sup.prepare()
        assert sup.wait_ready(timeout=240)
        yield home, dict(os.environ)
    finally:
        sup.stop()
        os.environ.clear()
        os.environ.update(saved)


def _pull(env: dict[str, str], *, failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    run_env = dict(env)
    if failpoint:
        run_env[ENV] = failpoint
    return subprocess.run(
        [sys.executable, "-c", PULL, PASSPHRASE.decode(), X],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _held(home: Home) -> list[str]:
    agency = AgencyService.open(home, "tax", passphrase=PASSPHRASE)
    try:
        return sorted(n["kind"] for n in agency.notices())
    finally:
        agency.engine.dispose()


def test_a_killed_agency_resumes_from_its_cursor_and_applies_each_notice_once(
    net: tuple[Home, dict[str, str]],
) -> None:
    home, env = net
    killed = _pull(env, failpoint="notices.applied")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _held(home) == ["died"]  # the first page was applied; the cursor did not move past it

    resumed = _pull(env)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "1"  # the page handed out again changed nothing; the next one did
    assert _held(home) == ["died", "moved_within"]

    again = _pull(env)
    assert (again.returncode, again.stdout.strip()) == (0, "0")
    assert _held(home) == ["died", "moved_within"]


def test_an_agency_reads_only_its_own_feed(net: tuple[Home, dict[str, str]]) -> None:
    home, _ = net
    with party_client(home.root, "agency/tax", f"municipality/{X}", signed=True) as tax:
        own = tax.post("/notices/feed", json={"agency": "tax", "after": 0})
        assert own.status_code == 200, own.text
        other = tax.post("/notices/feed", json={"agency": "pension", "after": 0})
    assert other.status_code == 403
    assert other.json()["field"] == "agency"
    # unsigned: refused by the guard before the route
    with party_client(home.root, "agency/tax", f"municipality/{X}") as unsigned:
        assert unsigned.post("/notices/feed", json={"agency": "tax"}).status_code in (401, 403)
