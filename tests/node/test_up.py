"""`sekisho up`: a whole network as separate OS processes on loopback, its run file, and how it stops."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import replace

import httpx
import orjson
import pytest

from sekisho.config import Home
from sekisho.problems import MEDIA_TYPE

from .procs import PASSPHRASE, Running, ca_context, get, party_client, pid_alive, sekisho_cmd, start, wait_gone

DEFAULT_PARTIES = {
    "t1",
    "t2",
    "locator",
    "watchdog",
    "log",
    "pki",
    "municipality/212016",
    "municipality/131016",
    "agency/pension",
    "agency/tax",
    "agency/kyokai-kenpo",
}


@pytest.fixture(scope="module")
def network(net_home: Home) -> Iterator[Running]:
    """The default network, with the log's and the PKI's keys set up first (as an operator would), so that every
    party is healthy."""
    from sekisho.auditlog import keys
    from sekisho.auditlog.service import init_parties
    from sekisho.pki import hierarchy as pki

    init_parties(net_home, PASSPHRASE.encode(), origin=keys.DEFAULT_ORIGIN, witness_name=keys.DEFAULT_WITNESS)
    pki.init(net_home, secret=lambda: PASSPHRASE.encode()).engine.dispose()
    running = start(net_home, "up")
    running.wait_for("ready:")
    yield running
    running.stop()


def test_every_party_answers_health_over_a_real_socket(network: Running) -> None:
    data = network.run_file()
    assert data["supervisor"] == network.proc.pid
    assert data["state"] == "ready"
    parties = data["parties"]
    assert {p["party"] for p in parties} == DEFAULT_PARTIES
    assert len({p["pid"] for p in parties}) == len(parties)  # one OS process each
    assert len({p["port"] for p in parties}) == len(parties)
    for p in parties:
        assert pid_alive(p["pid"])
        assert p["url"].startswith("https://")
        response = get(p["url"] + "/health", network.home.root)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["party"], body["role"], body["database"]) == (p["party"], p["role"], "ok")
        assert (network.home.root / "run" / "logs" / f"{p['party'].replace('/', '-')}.log").exists()
    # the table names every party with its address
    printed = "".join(network.lines)
    for p in parties:
        assert p["party"] in printed
        assert p["url"] in printed


#: for each role, a party that may call it (sekisho.wire.guard.CALLERS)
A_CALLER = {"t1": "pki", "t2": "t1", "locator": "t2", "municipality": "t2", "agency": "t2"}


def test_each_party_answers_unknown_paths_with_problem_documents(network: Running) -> None:
    root = network.home.root
    for p in network.run_file()["parties"]:
        # without a client certificate: refused before any route is looked at
        response = get(p["url"] + "/no-such-path", root)
        assert response.status_code == 401
        assert response.headers["content-type"] == MEDIA_TYPE
        assert response.json()["type"] == "urn:sekisho:problem:unauthenticated"
        # a party that may call it: no rule for an unknown path, refused as not allowed (no route is revealed)
        with party_client(root, A_CALLER.get(p["role"], "t1"), p["party"]) as client:
            response = client.get("/no-such-path")
            assert response.status_code == 403
            assert response.headers["content-type"] == MEDIA_TYPE
            openapi = client.get("/openapi.json").json()
        assert "/health" in openapi["paths"]


def test_the_parties_that_have_apis_serve_them(network: Running) -> None:
    urls = {p["party"]: p["url"] for p in network.run_file()["parties"]}
    root = network.home.root
    # public paths: no client certificate needed
    assert get(urls["pki"] + "/pki/chain.pem", root).status_code == 200
    assert get(urls["watchdog"] + "/policy/legal-bases", root).status_code == 200
    # the log has no witnessed checkpoint yet: its own problem document, not the router's
    response = get(urls["log"] + "/checkpoint", root)
    assert response.status_code == 404
    assert response.json()["field"] == "checkpoint"


def test_status_lists_the_parties_while_up(network: Running) -> None:
    out = subprocess.run(
        sekisho_cmd("status", "--home", str(network.home.root), "--json"),
        env=network.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    data = orjson.loads(out.stdout)
    assert data["running"] is True
    assert {p["party"] for p in data["parties"]} == DEFAULT_PARTIES
    assert all(p["alive"] and p["health"] == "ok" for p in data["parties"])


def test_a_second_up_on_the_same_home_is_refused(network: Running) -> None:
    out = subprocess.run(
        sekisho_cmd("up", "--home", str(network.home.root)),
        env=network.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "already running" in out.stderr
    assert network.proc.poll() is None


# keep last in this module: it stops the module's network
def test_sigterm_stops_every_child_and_exits_0(network: Running) -> None:
    pids = [p["pid"] for p in network.run_file()["parties"]]
    network.proc.send_signal(signal.SIGTERM)
    assert network.proc.wait(timeout=120) == 0
    # the supervisor waited for its children: none is left, not even as a zombie
    assert [p for p in pids if pid_alive(p)] == []
    assert not (network.home.root / "run" / "network.json").exists()


def _own(home: Home, suffix: str) -> str:
    """A namespace under the module's (so that its clean-up drops it): the PKI's keys are per home, so two homes
    must not share the PKI's schema."""
    return f"{home.namespace}{suffix}_" if home.namespace else ""


def test_children_die_with_a_killed_supervisor(tmp_path_factory: pytest.TempPathFactory, net_home: Home) -> None:
    # a home of its own, database too (on PostgreSQL: its own schemas, cleaned up with the module's)
    home = replace(net_home, root=tmp_path_factory.mktemp("killed") / "home", namespace=_own(net_home, "k"))
    home.root.mkdir()
    running = start(home, "up", "--municipalities", "131016", "--agencies", "tax")
    running.wait_for("ready:")
    pids = [p["pid"] for p in running.run_file()["parties"]]
    assert len(pids) == 8
    os.kill(running.proc.pid, signal.SIGKILL)  # no clean-up runs in the supervisor
    running.proc.wait(timeout=30)
    assert wait_gone(pids) == []
    # the run file is stale now: status says so, down removes it
    status = subprocess.run(
        sekisho_cmd("status", "--home", str(home.root), "--json"), env=running.env, capture_output=True, timeout=120
    )
    data = orjson.loads(status.stdout)
    assert data["running"] is False
    assert not any(p["alive"] for p in data["parties"])
    down = subprocess.run(
        sekisho_cmd("down", "--home", str(home.root)), env=running.env, capture_output=True, timeout=120, check=True
    )
    assert b"stopped" in down.stdout
    assert not (home.root / "run" / "network.json").exists()


def test_serve_one_party_alone(tmp_path_factory: pytest.TempPathFactory, net_home: Home) -> None:
    from sekisho.auditlog import keys
    from sekisho.auditlog.service import init_parties

    home = replace(net_home, root=tmp_path_factory.mktemp("alone") / "home", namespace=_own(net_home, "a"))
    home.root.mkdir()
    init_parties(home, PASSPHRASE.encode(), origin=keys.DEFAULT_ORIGIN, witness_name=keys.DEFAULT_WITNESS)
    running = start(home, "serve", "log", "--init")
    line = running.wait_for("serving log on ")
    url = line.split(" on ", 1)[1].strip()
    assert url.startswith("https://")
    try:
        health = get(url + "/health", home.root)
        assert health.status_code == 200, health.text
        assert health.json()["party"] == "log"
        # its key is private to the operator
        assert (home.root / "log" / "tls" / "party.key").stat().st_mode & 0o077 == 0
        # the log's public read API needs no certificate; an append does
        assert get(url + "/checkpoint", home.root).json()["field"] == "checkpoint"
        refused = httpx.post(url + "/append", content=b"x", verify=ca_context(home.root), trust_env=False)
        assert refused.status_code == 401
    finally:
        assert running.stop() == 0
