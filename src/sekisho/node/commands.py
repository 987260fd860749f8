"""The wiring of the CLI's one-home commands: in this process, or over HTTP when a network runs under the home.

A command acts as one party (a municipality's clerk, an agency).  When `sekisho up` runs under the home (its run
file, :func:`networked`), the other parties are processes with databases of their own: the command reaches them
over mutual TLS as its party, signing with the party's terminal (:class:`~sekisho.node.httpnet.HttpNetwork`), and
never opens their databases — the access log above all, whose single writer the log's process holds (on
PostgreSQL a second writer is refused outright).  Without a network, every party runs in this process
(:class:`~sekisho.node.local.LocalNetwork`).  A party that does not answer is
:class:`~sekisho.errors.Unavailable` (the CLI's exit 5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

from sekisho.config import Home
from sekisho.node.registers import access_log, networked
from sekisho.protocols.agency import operator_of

if TYPE_CHECKING:
    from sekisho.agency.crossref import CrossReferenceReport
    from sekisho.agency.service import LookupResult
    from sekisho.node.httpnet import HttpNetwork
    from sekisho.registry.release import ReleaseService
    from sekisho.registry.service import RegisterService


def party_of_municipality(code: str) -> str:
    return f"municipality/{code}"


class _HttpDirectory:
    """Other municipalities' nodes, as this municipality reaches them (signed by its terminal)."""

    def __init__(self, net: HttpNetwork) -> None:
        self._net = net

    def municipality(self, code: str) -> Any:
        return self._net.transfer_source(code)


def open_register(home: Home, code: str, *, clerk: str, create: bool = False) -> RegisterService:
    """Municipality ``code``'s register for a clerk's command (``create``: `registry init`).  With a network up,
    its access records go to the log's process and new records are indexed through T1's relay and the locator,
    as municipality ``code`` over HTTP; without, the home's parties run in this process."""
    from sekisho.node.registers import create_register
    from sekisho.node.registers import open_register as open_wired
    from sekisho.registry.service import Actor

    opener = create_register if create else open_wired
    actor = Actor(clerk=clerk)
    if networked(home):
        from sekisho.node.httpnet import HttpNetwork
        from sekisho.node.municipality import MunicipalityNode, _LazyIndex

        net = HttpNetwork(home.root, party_of_municipality(code))
        node = MunicipalityNode(home, code, lambda: net)
        return opener(
            home,
            code,
            actor=actor,
            directory=_HttpDirectory(net),
            index=_LazyIndex(node.registry_index),
            access_log=access_log(home, net.party, net=net),
        )
    from sekisho.node.local import LocalDirectory

    directory = LocalDirectory(home)
    # with the network set up, new records are indexed at the locator (T1, T2 and the policy permitting)
    index = directory.network.registry_index(code) if directory.network is not None else None
    return opener(home, code, actor=actor, directory=directory, index=index)


@contextmanager
def network_register(home: Home, code: str, *, passphrase: Callable[[], bytes | None]) -> Iterator[RegisterService]:
    """Municipality ``code``'s register acting for itself (``clerk`` ``network``: `registry join-network`), its new
    records indexed over HTTP when a network runs, else through the home's parties in this process
    (``passphrase``: asked only then, for their key files)."""
    if networked(home):
        register = open_register(home, code, clerk="network")
        try:
            yield register
        finally:
            register.engine.dispose()
        return
    from sekisho.node.local import LocalNetwork

    local = LocalNetwork(home, passphrase=passphrase())
    try:
        yield local.register(code)
    finally:
        local.close()


@contextmanager
def releases(home: Home, code: str, *, passphrase: Callable[[], bytes | None]) -> Iterator[ReleaseService]:
    """Municipality ``code``'s releases to agencies (enrolments, notices): over HTTP as its node makes them when a
    network runs (the watchdog's decision point, T1's relay, the log, the agencies' nodes), else in-process
    (``passphrase``: asked only then, for the parties' key files)."""
    if networked(home):
        from sekisho.node.httpnet import HttpNetwork
        from sekisho.node.municipality import MunicipalityNode

        net = HttpNetwork(home.root, party_of_municipality(code))
        node = MunicipalityNode(home, code, lambda: net)
        try:
            yield node.releases()
        finally:
            node.close()
            net.close()
        return
    from sekisho.node.local import LocalNetwork

    local = LocalNetwork(home, passphrase=passphrase())
    try:
        yield local.releases(code)
    finally:
        local.close()


def _agency_service(home: Home, name: str, passphrase: bytes) -> tuple[Any, list[Any]]:
    """Agency ``name``'s own system in this process (its own database), and the engines to dispose."""
    if operator_of(name) == "pki":
        from sekisho.node.pki_agency import agency_of
        from sekisho.pki.hierarchy import Pki

        pki = Pki.open(home, secret=lambda: passphrase)
        return agency_of(pki, home, passphrase=passphrase), [pki.engine]
    from sekisho.agency.service import AgencyService

    svc = AgencyService.open(home, name, passphrase=passphrase)
    return svc, [svc.engine]


def agency_lookup(
    home: Home,
    name: str,
    pseudonyms: Sequence[str],
    *,
    purpose: str,
    items: Sequence[str] | None,
    passphrase: bytes,
) -> list[LookupResult]:
    """Identity confirmation by agency ``name``: agency → T1 → T2 → locator → municipality (→ log), over HTTP as
    the agency's party when a network runs, else in-process."""
    if not networked(home):
        from sekisho.node.local import LocalNetwork

        local = LocalNetwork(home, passphrase=passphrase)
        try:
            return local.agency_service(name).lookup(pseudonyms, purpose=purpose, network=local, items=items)
        finally:
            local.close()
    from sekisho.node.httpnet import HttpNetwork

    svc, engines = _agency_service(home, name, passphrase)
    try:
        with HttpNetwork(home.root, operator_of(name)) as net:
            return svc.lookup(pseudonyms, purpose=purpose, network=net, items=items)  # type: ignore[no-any-return]
    finally:
        for engine in engines:
            engine.dispose()


def agency_cross_reference(
    home: Home,
    from_agency: str,
    to_agency: str,
    warrant: str,
    pseudonyms: Sequence[str],
    *,
    purpose: str,
    passphrase: bytes,
) -> CrossReferenceReport:
    """Agency ``from_agency``'s cross-reference to ``to_agency`` under ``warrant`` (token, or id read from the
    watchdog): over HTTP as A's party when a network runs, else in-process (``sekisho.agency.crossref``)."""
    if not networked(home):
        from sekisho.node.local import LocalNetwork

        local = LocalNetwork(home, passphrase=passphrase)
        try:
            return local.cross_reference(from_agency, to_agency, warrant, pseudonyms, purpose=purpose)
        finally:
            local.close()
    from sekisho.agency.crossref import run_cross_reference
    from sekisho.errors import Unavailable
    from sekisho.node.httpnet import HttpNetwork

    svc, engines = _agency_service(home, from_agency, passphrase)
    try:
        with HttpNetwork(home.root, operator_of(from_agency)) as net:
            if not net.watchdog().published():
                raise Unavailable("cross-references need the watchdog's published key (warrants)", field="watchdog")
            return run_cross_reference(
                net,
                svc,
                to_agency=to_agency,
                warrant=net.warrant_token(warrant),
                pseudonyms=pseudonyms,
                purpose=purpose,
            )
    finally:
        for engine in engines:
            engine.dispose()


def file_move_in(
    home: Home,
    code: str,
    *,
    transfer: str,
    moved_on: date,
    row: dict[str, str],
    household: str | None,
) -> dict[str, Any]:
    """転入 with a transfer token, filed at municipality ``code``'s own node (``POST /moves/in``, signed by its
    clerk terminal), which takes the person over from the origin's node.  Returns the node's answer (the new
    record's handle and household, its status, and whether an earlier request had completed the move)."""
    from sekisho.errors import InvalidInput
    from sekisho.node.httpnet import HttpNetwork
    from sekisho.node.transport import request
    from sekisho.problems import raise_for_problem

    extra = sorted(set(row) - {"town", "block", "katagaki", "relationship", "postal_code", "filed_on"})
    if extra:  # the items come from the origin's record; the node takes only the new address
        raise InvalidInput(f"a move-in with a transfer takes no {extra[0]} (it comes from the origin)", field="item")
    body: dict[str, Any] = {
        "transfer": transfer,
        "moved_on": moved_on.isoformat(),
        "town": row.get("town", ""),
        "block": row.get("block", ""),
        "katagaki": row.get("katagaki") or "",
        "relationship": row.get("relationship", ""),
    }
    if row.get("postal_code"):
        body["postal_code"] = row["postal_code"]
    if row.get("filed_on"):
        body["filed_on"] = row["filed_on"]
    if household:
        body["household"] = household
    party = party_of_municipality(code)
    with HttpNetwork(home.root, party) as net:
        answer = request(net.client(party, signed=True), "POST", "/moves/in", json=body)
        raise_for_problem(answer)
        out: dict[str, Any] = answer.json()
        return out


class _HttpCounter:
    """The counter's network (``sekisho.pki.counter.CounterNetwork``) while a network runs: the PKI's own database
    here (certificates, and its agency side that received the enrolment), the municipality's releases over HTTP as
    its node makes them (decision point, T1's relay, the log, the PKI's node)."""

    def __init__(self, home: Home, passphrase: bytes) -> None:
        self.home, self._passphrase = home, passphrase
        self._pki: Any = None
        self._nodes: list[tuple[Any, HttpNetwork]] = []

    def pki(self) -> Any:
        if self._pki is None:
            from sekisho.pki.hierarchy import Pki

            self._pki = Pki.open(self.home, secret=lambda: self._passphrase)
        return self._pki

    def agency_service(self, name: str) -> Any:
        from sekisho.node.pki_agency import agency_of

        return agency_of(self.pki(), self.home, passphrase=self._passphrase)

    def releases(self, code: str) -> ReleaseService:
        from sekisho.node.httpnet import HttpNetwork
        from sekisho.node.municipality import MunicipalityNode

        net = HttpNetwork(self.home.root, party_of_municipality(code))
        node = MunicipalityNode(self.home, code, lambda: net)
        self._nodes.append((node, net))
        return node.releases()

    def close(self) -> None:
        for node, net in self._nodes:
            node.close()
            net.close()
        if self._pki is not None:
            self._pki.engine.dispose()


@contextmanager
def counter_network(home: Home, *, passphrase: bytes) -> Iterator[Any]:
    """What a card issue at the counter goes through (``sekisho.pki.counter``): over HTTP when a network runs
    under ``home``, else every party in this process."""
    net: Any
    if networked(home):
        net = _HttpCounter(home, passphrase)
    else:
        from sekisho.node.local import LocalNetwork

        net = LocalNetwork(home, passphrase=passphrase)
    try:
        yield net
    finally:
        net.close()
