"""In-process implementations of the network: every party in one process, each with its own database.

This is the demo's network.  It keeps the same boundaries as the HTTP one: a party gets a client object for
another party and calls its public procedures; it never opens another party's tables.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sekisho.config import Home
from sekisho.registry.interfaces import TransferPackage, TransferSource
from sekisho.registry.service import Actor, RegisterService


class _LocalMunicipality:
    def __init__(self, home: Home, code: str, today: Callable[[], date] | None) -> None:
        self.home = home
        self.code = code
        self.today = today

    def _service(self) -> RegisterService:

        # the origin acts on its own authority in the hand-over, not as one of its clerks
        return RegisterService.open(self.home, self.code, actor=Actor(clerk="network"), today=self.today)

    def fetch_transfer(self, token: str, *, requester: str) -> TransferPackage:
        return self._service().fetch_transfer(token, requester=requester)

    def complete_transfer(self, token: str, *, requester: str, moved_on: date, destination_line: str) -> None:
        self._service().complete_transfer(
            token, requester=requester, moved_on=moved_on, destination_line=destination_line
        )


class LocalDirectory:
    """Finds every municipality's register in one Sekisho home."""

    def __init__(self, home: Home, *, today: Callable[[], date] | None = None) -> None:
        self.home = home
        self.today = today

    def municipality(self, code: str) -> TransferSource:
        return _LocalMunicipality(self.home, code, self.today)
