"""A municipality node in its own process: its register and releases, wired to the other parties over HTTP.

:class:`MunicipalityNode` is what the municipality's app answers the locator with (identity confirmations and the
record leg of cross-references, ``sekisho.registry.responder_api``).  Its own register, policy tables and release
service run here, on its own database; everything else is another party reached through the clients
:class:`~sekisho.node.httpnet.HttpNetwork` hands out: the watchdog's decision point and published keys, the access
log (appends signed by the node's service terminal), T1 (a conversion is one ``/relay`` request), the locator (its
index) and the agencies.

A node served alone (no network of processes under its home: no run file, e.g. an app in a test) keeps the home's
other parties in its own process (:class:`~sekisho.node.local.LocalNetwork`); which of the two is decided on the
first request, when ``sekisho up`` has written its run file.  The node's other services (portal, credentials, moves)
append through :func:`node_access_log`, for the same reason: the log has a single writer, the log's process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sekisho.auditlog.keys import LOG_PARTY
from sekisho.config import Home
from sekisho.pep.flows import conversion_request
from sekisho.pep.flows import prepare_batch as _prepare_batch
from sekisho.pep.keys import NetworkParams, load_network
from sekisho.protocols.access import AccessRequest, Decision, PolicyDecisionPoint, RequesterKind, SubjectFacts
from sekisho.protocols.agency import (
    AgencyEndpoint,
    CrossReferenceQuery,
    CrossReferenceStatus,
    IdentityAnswer,
    IdentityQuery,
    NoticeFeedPage,
    operator_of,
)
from sekisho.protocols.conversion import REGISTRY_DOMAIN, ConversionRequest

if TYPE_CHECKING:
    from sekisho.node.http.relay import HttpRelay
    from sekisho.node.httpnet import HttpNetwork
    from sekisho.node.local import LocalNetwork
    from sekisho.policy.municipality import MunicipalityPolicy
    from sekisho.protocols.registry import IndexEntry, RegistryIndex
    from sekisho.registry.release import ReleaseService
    from sekisho.registry.service import RegisterService


class MunicipalityNode:
    """Municipality ``code`` of ``home``, its peers reached through ``net`` (made on first use: the run file
    exists only once every party has started)."""

    def __init__(self, home: Home, code: str, net: Callable[[], HttpNetwork]) -> None:
        self.home = home
        self.code = code
        self._net = net
        self._lock = threading.Lock()
        self._params: NetworkParams | None = None
        self._register: RegisterService | None = None
        self._policy: MunicipalityPolicy | None = None
        self._releases: ReleaseService | None = None
        self._local: LocalNetwork | None = None

    @property
    def party(self) -> str:
        return f"municipality/{self.code}"

    # --- what the release service needs from the network (sekisho.registry.release.ReleaseNetwork) ---------

    @property
    def params(self) -> NetworkParams:
        if self._params is None:
            self._params = load_network(self.home.root)
        return self._params

    def hops(self) -> HttpRelay:
        """T1's ``/relay``, signed by the node's terminal: a release converts R → A (an access)."""
        from sekisho.node.http.relay import HttpRelay

        return HttpRelay(self._net().client("t1", signed=True))

    def conversion_grant(
        self,
        *,
        requester: str,
        requester_kind: RequesterKind,
        from_domain: str,
        to_domain: str,
        purpose: str,
        count: int,
        municipality: str | None = None,
    ) -> str:
        return http_conversion_grant(
            self._net(),
            requester=requester,
            requester_kind=requester_kind,
            from_domain=from_domain,
            to_domain=to_domain,
            purpose=purpose,
            count=count,
            municipality=municipality,
        )

    def agency(self, name: str) -> AgencyEndpoint:
        # the PKI is an agency run by a party of its own
        return self._net().agency_at(operator_of(name))

    # --- the node's own parts -----------------------------------------------------------------------------

    def registry_index(self) -> RegistryIndex:
        """The index at the locator as this municipality: its PPs R → R through T1's relay, then ``/index``."""
        from sekisho.node.http.locator import HttpRegistryIndex
        from sekisho.policy.grants import INDEX_PURPOSE

        net = self._net()

        def prepare(pps: Sequence[bytes]) -> ConversionRequest:
            return conversion_request(
                _prepare_batch(pps, self.params.public_key),
                network=self.params,
                from_domain=REGISTRY_DOMAIN,
                to_domain=REGISTRY_DOMAIN,
                purpose=INDEX_PURPOSE,
                grant=net.grant_desk().index_grant(municipality=self.code, count=len(pps)),
                requester=self.party,
            )

        return HttpRegistryIndex(net.locator(), code=self.code, hops=self.hops(), prepare=prepare)

    def releases(self) -> ReleaseService:
        """The release service on the node's register: decisions at the watchdog, records in the log (HTTP); the
        home's parties in this process when no network runs under the home."""
        with self._lock:
            if self._releases is None:
                self._releases = (
                    self._open_releases() if networked(self.home) else self._in_process().releases(self.code)
                )
            return self._releases

    def _in_process(self) -> LocalNetwork:
        from sekisho.keyfile import passphrase_from_env
        from sekisho.node.local import LocalNetwork

        if self._local is None:
            self._local = LocalNetwork(self.home, passphrase=passphrase_from_env())
        return self._local

    def _open_releases(self) -> ReleaseService:
        from sekisho.node.http.watchdog import HttpDecisionPoint
        from sekisho.node.registers import open_register
        from sekisho.policy.municipality import MunicipalityPolicy
        from sekisho.registry.release import ReleaseService
        from sekisho.registry.service import Actor

        net = self._net()
        register = open_register(
            self.home,
            self.code,
            actor=Actor(clerk="network"),
            index=_LazyIndex(self.registry_index),
            # the log's process, once the home has a log (`sekisho log init`); without one, none
            access_log=net.access_log() if _has_log(self.home) else None,
        )
        self._register = register
        self._policy = MunicipalityPolicy.open(self.home, self.code, households=register.household_members)
        return ReleaseService(
            register,
            network=self,
            pdp=_LazyDecisionPoint(lambda: HttpDecisionPoint(self._net().client("watchdog"))),
            facts=self._policy,
        )

    # --- as the locator reaches it (sekisho.registry.responder_api) ------------------------------------------

    def answer_identity(self, rps: Sequence[bytes], query: IdentityQuery) -> list[IdentityAnswer]:
        return self.releases().answer_identity(rps, query)

    def record_cross_reference(self, rps: Sequence[bytes], query: CrossReferenceQuery) -> list[CrossReferenceStatus]:
        releases = self.releases()
        # the warrant is read with the watchdog's published keys, as every party reads it
        keys = self._local.warrant_keys() if self._local is not None else self._net().watchdog().warrant_keys()
        return releases.record_cross_reference(rps, query, warrant_keys=keys)

    # --- as an agency pulls its change notices (sekisho.node.feed) ---------------------------------------------

    def notice_feed(self, agency: str, *, after: int = 0, limit: int = 1000) -> NoticeFeedPage:
        return self.releases().notice_feed(agency, after=after, limit=limit)

    def close(self) -> None:
        with self._lock:
            for part in (self._register, self._policy):
                if part is not None:
                    part.engine.dispose()
            if self._local is not None:
                self._local.close()
            self._register = self._policy = self._releases = self._local = None

    def __repr__(self) -> str:
        return f"MunicipalityNode(code={self.code!r})"


class _LazyIndex:
    """The index at the locator, its clients made on first use: a network without a locator or T1 (a partial
    one, or before they listen) still serves what needs neither."""

    def __init__(self, make: Callable[[], RegistryIndex]) -> None:
        self._make = make
        self._index: RegistryIndex | None = None

    def _get(self) -> RegistryIndex:
        if self._index is None:
            self._index = self._make()
        return self._index

    def index(self, pps: Sequence[bytes]) -> list[IndexEntry]:
        return self._get().index(pps)

    def hand_over(self, rp: bytes, *, to: str) -> None:
        self._get().hand_over(rp, to=to)


class _LazyDecisionPoint:
    """The watchdog's decision point, its client made on first use (a release that decides nothing needs none)."""

    def __init__(self, make: Callable[[], PolicyDecisionPoint]) -> None:
        self._make = make
        self._pdp: PolicyDecisionPoint | None = None

    def _get(self) -> PolicyDecisionPoint:
        if self._pdp is None:
            self._pdp = self._make()
        return self._pdp

    def decide(self, request: AccessRequest) -> Decision:
        return self._get().decide(request)

    def check_subject(self, decision: Decision, facts: SubjectFacts, request: AccessRequest) -> Decision:
        return self._get().check_subject(decision, facts, request)


def http_conversion_grant(net: HttpNetwork, **request: Any) -> str:
    """The grant field of a conversion over HTTP: once the watchdog has published its policy key the transcryptors
    decide every conversion themselves (the field carries nothing); before, the watchdog's grant desk signs one."""
    from sekisho.node.local import POLICY_DECIDES

    if net.watchdog().published():
        return POLICY_DECIDES
    return net.grant_desk().conversion_grant(**request)


def networked(home: Home) -> bool:
    """Whether the parties of ``home`` run as processes of a network (``sekisho up``'s run file): then a party
    reaches the others over HTTP, never through their databases."""
    from sekisho.node.supervisor import run_file

    return run_file(home.root).exists()


def _has_log(home: Home) -> bool:
    return (home.root / LOG_PARTY / "log.json").exists()


def node_access_log(home: Home, code: str, net: Callable[[], HttpNetwork] | None = None) -> Any:
    """The access log municipality ``code``'s services append to (``None`` while the home has no log): the log's
    process over HTTP, signed by the node's terminal, when a network runs under the home — opening the log here
    would make this process a second writer on it (refused outright on PostgreSQL) — else the home's log in this
    process.  Chosen on first use (the run file appears while the network starts); ``net``: the node's own view
    of the network (by default one of its own)."""
    if not _has_log(home):
        return None
    return _NodeLog(home, code, net)


class _NodeLog:
    """:class:`~sekisho.transparency.AccessLog` of :func:`node_access_log`, resolved on first use."""

    def __init__(self, home: Home, code: str, net: Callable[[], HttpNetwork] | None) -> None:
        self._home, self._code, self._net = home, code, net
        self._log: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._log is None:
                if networked(self._home):
                    from sekisho.node.httpnet import HttpNetwork

                    net = (
                        self._net()
                        if self._net is not None
                        else HttpNetwork(self._home.root, f"municipality/{self._code}")
                    )
                    self._log = net.access_log()
                else:
                    from sekisho.auditlog.client import local_access_log

                    self._log = local_access_log(self._home)
            return self._log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __repr__(self) -> str:
        return f"_NodeLog(code={self._code!r}, log={self._log!r})"
