"""The roles' real apps (``sekisho.node.apps``) serve the identity-confirmation protocols: T1 and T2 convert, the
locator routes to the municipality nodes it reaches through ``PEER_CLIENT``, each municipality answers."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from pep_network import GIFU, PASSPHRASE, TAX, World, enrol_one, make_world, person, standard_rules
from sekisho.config import Home
from sekisho.node import apps, local
from sekisho.node.http.locator import HttpLocator
from sekisho.node.http.relay import HttpRelay
from sekisho.node.http.transcryptor import HttpTranscryptor
from sekisho.node.roles import Role
from sekisho.protocols.conversion import HopResult


@pytest.fixture
def served(home: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[World, dict[str, TestClient]]]:
    monkeypatch.setenv("SEKISHO_PASSPHRASE", PASSPHRASE.decode())
    for world in make_world(home):
        # the municipality node decides with the test's decision table, as the in-process network does
        monkeypatch.setattr(local, "default_pdp", lambda _home, clock=None, pdp=world.pdp: pdp)
        roles = [Role("t1"), Role("t2"), Role("locator"), Role("municipality", GIFU)]
        clients = {r.party: TestClient(apps.create_app(r, home), base_url=f"http://{r.slug}.test") for r in roles}
        monkeypatch.setattr(apps, "PEER_CLIENT", lambda _home, party, clients=clients: clients[party])
        with clients["t1"], clients["t2"], clients["locator"], clients[f"municipality/{GIFU}"]:
            yield world, clients


def test_an_identity_confirmation_through_the_served_apps(served: tuple[World, dict[str, TestClient]]) -> None:
    world, clients = served
    standard_rules(world.pdp)
    world.create_agency(*TAX)
    handle = world.register(GIFU).add(person()).handle
    pseudonym = enrol_one(world, GIFU, handle, *TAX)
    hops = [HttpTranscryptor(clients[p], party=p) for p in ("t1", "t2")]

    class Through:  # the agency's network: its grants in-process, one request to T1's relay for the rest
        params = world.net.params
        conversion_grant = world.net.conversion_grant

        def locator_route(self) -> HttpRelay:
            # T1 converts and hands on to T2, T2 to the locator, the locator asks Gifu; the answers come back
            return HttpRelay(clients["t1"])

    [answer] = world.agency("tax").lookup([pseudonym], purpose="tax.assessment", network=Through())
    assert answer.status == "found" and set(answer.items) == {"name", "address"}
    shares = [h.key_share("tax", requester="agency/tax").to_bytes() for h in hops]
    assert shares == [s.to_bytes() for s in world.net.key_shares("tax")]


def test_the_served_openapi_lists_the_protocols(served: tuple[World, dict[str, TestClient]]) -> None:
    _, clients = served
    paths = {party: set(c.get("/openapi.json").json()["paths"]) for party, c in clients.items()}
    assert {"/convert", "/key-share", "/relay"} <= paths["t1"] and {"/convert", "/key-share", "/relay"} <= paths["t2"]
    assert {"/index", "/hand-over", "/confirm", "/cross-reference"} <= paths["locator"]
    assert {"/identity", "/cross-reference"} <= paths[f"municipality/{GIFU}"]


def test_a_municipality_out_of_reach_is_a_503_problem(
    served: tuple[World, dict[str, TestClient]], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, clients = served

    def unreachable(_home: Home, _party: str) -> httpx.Client:
        return httpx.Client(base_url="http://127.0.0.1:9", timeout=1.0)  # the discard port: nothing listens

    monkeypatch.setattr(apps, "PEER_CLIENT", unreachable)
    standard_rules(world.pdp)
    world.create_agency(*TAX)
    world.register(GIFU).add(person())
    # a batch for a person the locator holds in Gifu: the locator cannot reach Gifu
    import sqlalchemy as sa

    from sekisho.pep.flows import encrypt_pseudonyms
    from sekisho.pep.keys import open_registry_key
    from sekisho.registry import store as st

    with world.register(GIFU).engine.connect() as conn:
        rp = bytes(conn.execute(sa.select(st.resident.c.rp)).scalar_one())
    key = open_registry_key(world.home, passphrase=PASSPHRASE)
    result = HopResult(
        party="t2", request_id="r1", ciphertexts=tuple(encrypt_pseudonyms([rp], key.public)), key=key.public.to_bytes()
    )
    from sekisho.errors import Unavailable
    from sekisho.protocols.agency import IdentityQuery

    with pytest.raises(Unavailable) as caught:
        HttpLocator(clients["locator"]).confirm(result, IdentityQuery("r1", "tax", "tax.assessment", ("name",)))
    assert caught.value.field == "party" and rp.hex() not in str(caught.value)
    assert os.environ["SEKISHO_PASSPHRASE"]
