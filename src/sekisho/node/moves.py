"""A municipality node's part in moves between municipalities, wired over HTTP: the origin's transfer routes (its
locator entry moved through the locator's ``/hand-over``) and the destination's ``POST /moves/in`` (reaching the
origin's node with this node's certificate, signed by its service terminal).

The peers' clients are built on the first request, from the network's run file (``sekisho.node.httpnet``): a node
starts before its peers are all listening.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI

from sekisho.config import Home
from sekisho.errors import Unavailable
from sekisho.node.httpnet import HttpNetwork
from sekisho.node.roles import Role
from sekisho.protocols.registry import IndexEntry, TransferSource
from sekisho.wire.guard import Caller


class _Peers:
    """This node's HTTP view of the network, opened once, on first use."""

    def __init__(self, home: Home, party: str) -> None:
        self.home, self.party = home, party
        self._net: HttpNetwork | None = None
        self._lock = threading.Lock()

    @property
    def net(self) -> HttpNetwork:
        with self._lock:
            if self._net is None:
                self._net = HttpNetwork(self.home.root, self.party)
            return self._net

    def close(self) -> None:
        if self._net is not None:
            self._net.close()


class LocatorHandOver:
    """The register's :class:`~sekisho.protocols.registry.RegistryIndex` as the hand-over needs it: moving the
    person's locator entry to the destination.  Indexing new records goes through T1 and T2 under the index grant
    (``sekisho registry join-network``), not through this node's hand-over."""

    def __init__(self, peers: _Peers, code: str) -> None:
        self._peers, self._code = peers, code

    def index(self, pps: Sequence[bytes]) -> list[IndexEntry]:
        raise Unavailable("this node indexes new records with `sekisho registry join-network`", field="index")

    def hand_over(self, rp: bytes, *, to: str) -> None:
        self._peers.net.locator().hand_over(rp, requester=self._code, to=to)


class _Directory:
    """Other municipalities' nodes, as the destination's register reaches them (signed by this node's terminal)."""

    def __init__(self, peers: _Peers) -> None:
        self._peers = peers

    def municipality(self, code: str) -> TransferSource:
        return self._peers.net.transfer_source(code)


def mount_moves(app: FastAPI, role: Role, home: Home) -> _Peers:
    """Both sides of a move on municipality ``role``'s app; returns what the app closes when it stops."""
    from sekisho.node.apps import mount_transfer
    from sekisho.node.municipality import node_access_log
    from sekisho.registry import moves_api

    code = role.name or ""
    peers = _Peers(home, role.party)
    index = LocatorHandOver(peers, code)
    # the access records of a hand-over go where the node's others go (the log's process when a network runs)
    log = node_access_log(home, code, lambda: peers.net)
    mount_transfer(app, role, home, index=index, access_log=log)

    @contextlib.contextmanager
    def destination(clerk: Caller) -> Iterator[Any]:
        from sekisho.node.registers import open_register
        from sekisho.registry.service import Actor

        actor = Actor(clerk="counter", terminal=clerk.terminal)
        register = open_register(home, code, actor=actor, directory=_Directory(peers), index=index, access_log=log)
        try:
            yield register
        finally:
            register.engine.dispose()

    app.include_router(moves_api.router(code, destination))
    return peers
