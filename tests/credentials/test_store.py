"""The issuer's state in the municipality's database (``vc_`` tables): one-time OpenID4VCI secrets spent exactly
once (``DELETE … RETURNING``, also when two requests race), kept across a restart, stored only as digests; status
indices distinct and random."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from tests.credentials.conftest import GIFU

from sekisho.config import Home
from sekisho.credentials import store as vc_store
from sekisho.credentials.issuer import Issuer
from sekisho.credentials.oid4vci import GRANT, Flow
from sekisho.credentials.store import SqlState, open_state
from sekisho.errors import Unauthenticated
from sekisho.registry.service import RegisterService


def test_a_secret_is_spent_once_and_only_as_its_kind(state: SqlState) -> None:
    state.put("code", "c-1", handle="H", expires_at=200.0, now=100.0)
    assert state.spend("token", "c-1", now=100.0) is None  # the wrong kind spends it too: nothing to try twice
    assert state.spend("code", "c-1", now=100.0) is None
    state.put("code", "c-2", handle="H", expires_at=200.0, now=100.0)
    assert state.spend("code", "c-2", now=100.0) == ("H",)
    assert state.spend("code", "c-2", now=100.0) is None
    state.put("nonce", "n-1", handle=None, expires_at=200.0, now=100.0)
    assert state.spend("nonce", "n-1", now=300.0) is None  # expired


def test_the_database_holds_digests_not_the_secrets(state: SqlState) -> None:
    state.put("code", "the-code-itself", handle="H", expires_at=200.0, now=100.0)
    with state.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.select(vc_store.secret))]
    assert rows and all("the-code-itself" not in str(r) for r in rows)


def test_two_racing_requests_with_one_code_get_one_token(net_home: Home, state: SqlState) -> None:
    state.put("code", "raced", handle="H", expires_at=10.0**10, now=100.0)
    other = open_state(net_home, GIFU)  # a second engine: another worker process's
    results: list[object] = []
    start = threading.Barrier(2)

    def spend(s: SqlState) -> None:
        start.wait()
        results.append(s.spend("code", "raced", now=100.0))

    threads = [threading.Thread(target=spend, args=(s,)) for s in (state, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [("H",), None]


def test_an_offer_survives_a_restart_of_the_node(
    issuer: Issuer, register: RegisterService, net_home: Home, handle: str
) -> None:
    offer = Flow(issuer, register, issuer.state).offer(handle)
    code = offer["grants"][GRANT]["pre-authorized_code"]
    restarted = Flow(issuer, register, open_state(net_home, GIFU))
    assert restarted.token(grant_type=GRANT, code=code)["token_type"] == "Bearer"
    with pytest.raises(Unauthenticated, match="used pre-authorized code"):
        restarted.token(grant_type=GRANT, code=code)


def test_indices_are_distinct_and_not_sequential(state: SqlState) -> None:
    from datetime import UTC, datetime

    got = state.take("H", 50, size=1 << 12, at=datetime.now(UTC))
    assert len(set(got)) == 50 and got != sorted(got)
    assert state.revoke(["H"]) == 50 and state.revoked() == sorted(got)
