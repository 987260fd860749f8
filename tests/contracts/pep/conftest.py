from __future__ import annotations

from collections.abc import Iterator

import pytest

from contracts.httpnet import HttpNetwork
from pep_network import CHIYODA, FAST_N, GIFU, PASSPHRASE, TODAY, TablePDP, World
from sekisho.config import Home
from sekisho.node.local import LocalNetwork
from sekisho.node.registers import create_register
from sekisho.pseudonyms.service import init_network


@pytest.fixture(params=["in-process", "http"])
def world(request: pytest.FixtureRequest, home: Home) -> Iterator[World]:
    """The same network, its parties reached in-process or through the HTTP clients and routers."""
    init_network(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    for code in (GIFU, CHIYODA):
        create_register(home, code, today=lambda: TODAY).engine.dispose()
    pdp = TablePDP()
    cls = HttpNetwork if request.param == "http" else LocalNetwork
    net = cls(home, passphrase=PASSPHRASE, pdp=pdp, today=lambda: TODAY)
    yield World(home, net, pdp)
    net.close()
