"""Contract tests: one suite per protocol, run against the in-process implementation and the HTTP one.

The HTTP side goes through the party's real app (``sekisho.node.apps``) in a ``TestClient`` — an
``httpx.Client`` — so requests, bodies, problem documents and the client's mapping back to ``sekisho.errors`` are
all exercised; only the socket is left out.  Every URL a client sends is recorded, to check that no token or
personal item ever travels in one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pep_network import CHIYODA, GIFU, PASSPHRASE, TODAY, TablePDP, World
from sekisho.auditlog.client import close_access_logs
from sekisho.config import Home
from sekisho.node.apps import agency_app, base_app, mount_transfer
from sekisho.node.http.agency import HttpAgency
from sekisho.node.http.transfer import HttpDirectory
from sekisho.node.local import LocalNetwork
from sekisho.node.registers import create_register, open_register
from sekisho.node.roles import Role
from sekisho.protocols.agency import AgencyEndpoint, CrossReferenceReceiver
from sekisho.pseudonyms.service import init_network
from sekisho.registry.service import Actor, RegisterService

FAST_N = 2**14


class Wire:
    """The HTTP clients a network made, and every URL they sent."""

    def __init__(self) -> None:
        self.clients: list[TestClient] = []
        self.urls: list[str] = []

    def client(self, app: FastAPI) -> httpx.Client:
        c = TestClient(app, base_url="http://party.test", raise_server_exceptions=False)
        c.__enter__()  # runs the app's lifespan, as a served party does
        c.event_hooks["request"].append(lambda request: self.urls.append(str(request.url)))
        self.clients.append(c)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.__exit__(None, None, None)
        self.clients.clear()


class HttpNetwork(LocalNetwork):
    """The in-process network, except that municipalities reach agencies, and each other's registers for a
    hand-over, only over HTTP through the real apps."""

    def __init__(self, home: Home, wire: Wire, **kw: Any) -> None:
        super().__init__(home, **kw)
        self.wire = wire
        self._agency_clients: dict[str, httpx.Client] = {}
        self._municipality_clients: dict[str, httpx.Client] = {}

    def _agency_client(self, name: str) -> httpx.Client:
        if name not in self._agency_clients:
            self._agency_clients[name] = self.wire.client(agency_app(Role("agency", name), self.home))
        return self._agency_clients[name]

    def agency(self, name: str) -> AgencyEndpoint:
        return HttpAgency(self._agency_client(name))

    def cross_reference_receiver(self, name: str) -> CrossReferenceReceiver:
        return HttpAgency(self._agency_client(name))

    def municipality_client(self, code: str) -> httpx.Client | None:
        if code not in (GIFU, CHIYODA):
            return None  # not in this network
        if code not in self._municipality_clients:
            role = Role("municipality", code)
            app = base_app(role, self.home)
            # the origin moves the person's locator entry as itself, through this network's index
            mount_transfer(app, role, self.home, index=self.registry_index(code))
            self._municipality_clients[code] = self.wire.client(app)
        return self._municipality_clients[code]

    def register(self, code: str, *, actor: Actor | None = None) -> RegisterService:
        key = code if actor is None else f"{code}/{actor.clerk}"
        svc = self._registers.get(key)
        if svc is None:
            svc = open_register(
                self.home,
                code,
                actor=actor or Actor(clerk="network"),
                today=self.today,
                directory=HttpDirectory(self.municipality_client),
                index=self.registry_index(code),
            )
            self._registers[key] = svc
        return svc


@pytest.fixture(params=["in-process", "http"])
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def wire() -> Iterator[Wire]:
    w = Wire()
    yield w
    w.close()


@pytest.fixture
def world(home: Home, impl: str, wire: Wire, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The agency tests' world (two registers, a table decision point), its agencies and hand-overs in-process or
    over HTTP."""
    monkeypatch.setenv("SEKISHO_PASSPHRASE", PASSPHRASE.decode())  # the agency node opens its key file with it
    init_network(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    for code in (GIFU, CHIYODA):
        create_register(home, code, today=lambda: TODAY).engine.dispose()
    pdp = TablePDP()
    net: LocalNetwork
    if impl == "http":
        net = HttpNetwork(home, wire, passphrase=PASSPHRASE, pdp=pdp, today=lambda: TODAY)
    else:
        net = LocalNetwork(home, passphrase=PASSPHRASE, pdp=pdp, today=lambda: TODAY)
    yield World(home, net, pdp)
    wire.close()
    net.close()
    close_access_logs()
