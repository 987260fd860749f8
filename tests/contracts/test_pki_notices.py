"""The PKI as an agency: a death notice reaches it in-process or over HTTP (the agency routes on the PKI's own
node) and revokes the card's certificates the same way, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.pki.conftest import AUTH_PIN, SIGN_PIN

from pep_network import CHIYODA, FAST_N, GIFU, PASSPHRASE, person, shipped_network
from sekisho.agency import store as agy
from sekisho.config import Home
from sekisho.keyfile import PASSPHRASE_ENV
from sekisho.node import pki_agency
from sekisho.node.apps import pki_app
from sekisho.node.http.agency import HttpAgency
from sekisho.node.local import LocalNetwork
from sekisho.node.roles import Role
from sekisho.pki import counter, hierarchy, status
from sekisho.protocols.agency import AgencyEndpoint


@pytest.fixture(params=["in-process", "http"])
def net(request: pytest.FixtureRequest, home: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalNetwork]:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE.decode())
    networks = shipped_network(home, approve=("pki",), codes=(GIFU, CHIYODA))
    network = next(networks)
    hierarchy.init(home, secret=lambda: PASSPHRASE)
    assert pki_agency.join(network, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    if request.param == "in-process":
        yield network
    else:
        with TestClient(pki_app(Role("pki"), home), base_url="http://pki.test") as client:
            paths: list[str] = []
            client.event_hooks["request"].append(lambda r: paths.append(r.url.path))
            local = network.agency

            def agency(name: str) -> AgencyEndpoint:
                return HttpAgency(client) if name == "pki" else local(name)

            monkeypatch.setattr(network, "agency", agency)
            yield network
            assert "/agency/notices" in paths  # the notice did travel over HTTP
    next(networks, None)  # the network's own teardown (closes its engines)


def test_a_death_notice_revokes_the_card_once(net: LocalNetwork, tmp_path: Path) -> None:
    gifu = net.register(GIFU)
    r = gifu.add(person())
    issued, _ = counter.issue_at_counter(
        net, municipality=GIFU, handle=r.handle, auth_pin=AUTH_PIN, sign_pin=SIGN_PIN, card_out=tmp_path / "card"
    )
    assert issued.authentication is not None
    gifu.death(r.handle, died_on="2026-11-18")
    assert net.releases(GIFU).deliver_notices().pending == 0
    with net.pki().engine.connect() as conn:
        assert status.current(conn, "pref-21", issued.authentication.serial_number).state == "revoked"
        assert conn.execute(sa.select(sa.func.count()).select_from(agy.notice)).scalar_one() == 1
