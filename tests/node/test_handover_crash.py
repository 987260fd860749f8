"""A move between two real municipality nodes, exactly once, with the real process SIGKILLed at every named step.

The network runs as separate OS processes over mutual TLS (the PKI for revocation status, the locator, 岐阜市 X and
千代田区 Y).  The clerk at Y files the move-in at Y's node (``POST /moves/in``, signed by Y's terminal); Y's node takes
the person over from X's node, which moves the locator's entry.  For every step of :data:`sekisho.failpoints.STEPS`
the party that runs it is restarted with ``SEKISHO_FAILPOINT=<step>`` and dies there by SIGKILL (no clean-up at
all); then it is restarted without the failpoint, the clerk repeats the same request, and the network is checked:
never two active records for the person, exactly one at the end (at Y), X's record closed as moved out (除票) with
its history whole, the locator pointing at Y, one "moved out" event at X and one "moved in" event at Y (the notices'
outbox), the enrolments carried once, and the enrolled agency holding one notice of each.  The matrix is printed.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from pep_network import FAST_N, PASSPHRASE, TablePDP, person
from sekisho.agency.service import AgencyService
from sekisho.config import Home
from sekisho.failpoints import ENV, STEPS
from sekisho.jp.clock import japan_today
from sekisho.locator import store as loc
from sekisho.node import server
from sekisho.node.local import LocalNetwork
from sekisho.node.registers import create_register
from sekisho.node.roles import Role
from sekisho.node.supervisor import HOST, Child, Supervisor, probe
from sekisho.pseudonyms.service import init_network
from sekisho.registry import store as st
from sekisho.registry.service import Actor

from .procs import env_for, party_client

X, Y = "212016", "131016"  # 岐阜市 → 千代田区
DESTINATION = "東京都千代田区飯田橋2丁目3番4号"
ARRIVAL = {"town": "飯田橋", "block": "2丁目3番4号"}

#: which party runs each step
RUNS = {"move-in": f"municipality/{Y}", "transfer": f"municipality/{X}", "locator": "locator"}


@dataclass
class Net:
    home: Home
    sup: Supervisor
    world: LocalNetwork
    watch: list[int]

    def child(self, party: str) -> Child:
        return next(c for c in self.sup.children if c.role.party == party)

    def restart(self, party: str, *, failpoint: str | None = None) -> None:
        """Start ``party`` again on its port (stopping it first if it runs), with or without a failpoint."""
        child = self.child(party)
        assert child.proc is not None
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
            child.proc.wait(timeout=60)
        sock = server.listen(HOST, child.port)
        watch_r, watch_w = os.pipe()
        self.watch.append(watch_w)
        if failpoint is not None:
            os.environ[ENV] = failpoint
        try:
            child.proc = self.sup._spawn(child, sock, watch_r)
        finally:
            os.environ.pop(ENV, None)
            sock.close()
            os.close(watch_r)
        deadline = time.monotonic() + 120
        while probe(HOST, child.port, timeout=1.0, context=self.sup._probe_context) is None:
            assert child.proc.poll() is None, f"{party} exited at start-up (see {child.log})"
            assert time.monotonic() < deadline, f"{party} did not answer after a restart"
            time.sleep(0.05)

    def move_in(self, token: str) -> httpx.Response:
        with party_client(self.home.root, f"municipality/{Y}", f"municipality/{Y}", signed=True) as clerk:
            return clerk.post(
                "/moves/in", json={"transfer": token, "moved_on": japan_today().isoformat(), **ARRIVAL}, timeout=60
            )


@pytest.fixture(scope="module")
def net(net_home: Home) -> Iterator[Net]:
    home = net_home
    saved = dict(os.environ)
    os.environ.update(env_for(home))
    os.environ.pop(ENV, None)
    os.environ["SEKISHO_DB_NAMESPACE"] = home.namespace
    from sekisho.pki import hierarchy as pki

    init_network(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    os.environ["SEKISHO_PASSPHRASE"] = PASSPHRASE.decode()
    pki.init(home, secret=lambda: PASSPHRASE).engine.dispose()
    for code in (X, Y):
        create_register(home, code).engine.dispose()
    pdp = TablePDP()
    pdp.allow("tax", "tax.assessment", {"name", "address"}, {"moved_out", "moved_in"})
    world = LocalNetwork(home, passphrase=PASSPHRASE, pdp=pdp)
    # the agency that enrolled every person: it must hear of each move once, from each end
    AgencyService.create(
        home,
        "tax",
        purposes=["tax.assessment"],
        shares=world.key_shares("tax"),
        passphrase=PASSPHRASE,
        items=["name", "address"],
        scrypt_n=FAST_N,
    ).engine.dispose()
    roles = [Role("pki"), Role("locator"), Role("municipality", X), Role("municipality", Y)]
    sup = Supervisor(home.root, roles, db_url_template=home.db_url)
    running = Net(home, sup, world, [])
    try:
        sup.start()
        sup.prepare()
        assert sup.wait_ready(timeout=240)
        yield running
    finally:
        sup.stop()
        for fd in running.watch:
            os.close(fd)
        world.close()
        os.environ.clear()
        os.environ.update(saved)


def _moving_person(net: Net, n: int) -> tuple[bytes, str]:
    """A resident of X, indexed at the locator and enrolled by an agency, who has filed a move-out to Y."""
    x = net.world.register(X, actor=Actor(clerk="clerk-x"))
    r = x.add(person(given_name="花子" + "一二三四五六七八九十"[n], given_name_kana="ハナコ", sex="女"))
    _, token, _ = x.move_out(r.handle, destination=DESTINATION, planned_on=japan_today().isoformat())
    assert token is not None
    with x.engine.begin() as conn:
        rid, root, rp = conn.execute(
            sa.select(st.resident.c.id, st.resident.c.root, st.resident.c.rp).where(st.resident.c.handle == r.handle)
        ).one()
        assert rp is not None  # indexed: the locator holds an entry for X
        conn.execute(
            st.enrolment.insert().values(
                resident_id=rid, agency="tax", purpose="tax.assessment", enrolled_at=st.utcnow(), items="name,address"
            )
        )
    return bytes(root), token


def _state(net: Net, root: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in (X, Y):
        reg = net.world.register(code)
        with reg.engine.connect() as conn:
            rows = conn.execute(sa.select(st.resident).where(st.resident.c.root == root)).all()
            ids = [r.id for r in rows]
            out[code] = {
                "status": sorted(r.status for r in rows),
                "events": sorted(
                    conn.execute(sa.select(st.event.c.kind).where(st.event.c.resident_id.in_(ids))).scalars()
                ),
                "history": [
                    h.kind
                    for h in conn.execute(
                        sa.select(st.history.c.kind)
                        .where(st.history.c.resident_id.in_(ids))
                        .order_by(st.history.c.resident_id, st.history.c.version)
                    )
                ],
                "enrolments": conn.execute(
                    sa.select(sa.func.count()).select_from(st.enrolment).where(st.enrolment.c.resident_id.in_(ids))
                ).scalar_one(),
                "rp": {bytes(r.rp) for r in rows if r.rp is not None},
            }
    [rp] = out[X]["rp"]
    with net.world.locator_service(key=False).engine.connect() as conn:
        out["locator"] = conn.execute(sa.select(loc.entry.c.municipality).where(loc.entry.c.rp == rp)).scalar()
    return out


def _invariant(state: dict[str, Any]) -> None:
    """At every instant: never two active records; the person has exactly one record of authority — X's active
    record until X has closed it, then Y's (incoming until Y activates it)."""
    x, y = state[X]["status"], state[Y]["status"]
    assert x.count("active") + y.count("active") <= 1, state
    assert len(y) <= 1, state  # never a second record at Y, whatever was retried
    if x == ["active"]:
        assert y in ([], ["incoming"]), state
    else:
        assert x == ["closed"] and y in (["incoming"], ["active"]), state


def test_a_move_completes_exactly_once_whatever_step_a_node_dies_at(net: Net) -> None:
    matrix: list[tuple[str, str, str, str]] = []
    for n, step in enumerate(STEPS):
        party = RUNS[step.split(".", 1)[0]]
        root, token = _moving_person(net, n)
        net.restart(party, failpoint=step)
        child = net.child(party)
        try:
            first = net.move_in(token)
            first_outcome = f"{first.status_code}"
        except httpx.TransportError:
            first_outcome = "connection lost"
        assert child.proc is not None
        # the party died at the step, by SIGKILL, not by an exception
        assert child.proc.wait(timeout=60) == -signal.SIGKILL, (step, first_outcome)
        _invariant(_state(net, root))
        net.restart(party)
        again = net.move_in(token)
        assert again.status_code == 200, (step, again.text)
        body = again.json()
        assert body["status"] == "active"
        state = _state(net, root)
        _invariant(state)
        assert state[X]["status"] == ["closed"] and state[Y]["status"] == ["active"], (step, state)
        assert state[X]["history"][-1] == "handed-over", (step, state)
        assert state[X]["events"] == ["moved_out"] and state[Y]["events"] == ["moved_in"], (step, state)
        assert state[Y]["enrolments"] == 1, (step, state)
        assert state[Y]["rp"] == state[X]["rp"], step
        assert state["locator"] == Y, (step, state)
        # and once more: nothing changes
        assert net.move_in(token).json()["already_done"] is True
        assert _state(net, root) == state
        # the agency's notices, pushed from both registers (twice: a second run sends nothing again)
        for _ in range(2):
            for code in (X, Y):
                net.world.releases(code).deliver_notices()
        kinds = Counter(n["kind"] for n in net.world.agency_service("tax").notices())
        assert kinds == Counter({"moved_out": n + 1, "moved_in": n + 1}), (step, kinds)
        matrix.append(
            (step, party, first_outcome, "exactly once" + (" (retry found it done)" if body["already_done"] else ""))
        )
    width = max(len(s) for s in STEPS)
    print("\nhand-over crash matrix (SIGKILL of the real process at each step, restart, the clerk repeats):")
    for step, party, first, result in matrix:
        print(f"  {step:<{width}}  killed {party:<22} first answer {first:<16} -> {result}")
