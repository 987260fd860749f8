"""In-process implementations of the network: every party in one process, each with its own database.

This is the demo's network.  It keeps the same boundaries as the HTTP one: a party gets a client object for
another party and calls its public procedures; it never opens another party's tables, and no client hands out
another party's secrets (a transcryptor's client gives a key share only to the domain it belongs to).

:class:`LocalNetwork` is the switchboard: it opens each party of one Sekisho home lazily (key files need the
passphrase, ``SEKISHO_PASSPHRASE`` or the prompt) and gives out the client objects:

- ``hops()`` — T1 and T2, each with its conversion journal as access hook and, once the watchdog has published
  its policy key (``watchdog.json``), the policy's own transcryptor hook (each decides every conversion on its
  verified copies of the watchdog's publications); before that, the signed-grant policy;
- ``conversion_grant(...)`` — with the policy hook, nothing (the transcryptors decide); with signed grants, the
  watchdog's grant desk, which asks the policy decision point first;
- ``locator()`` — routes identity confirmations; ``registry_index(code)`` — the index as municipality ``code``;
- ``register(code)`` / ``releases(code)`` — a municipality's register and its releases to agencies;
- ``agency(name)`` — an agency as municipalities reach it; ``key_shares(name)`` — its shares, from T1 and T2;
  the PKI is one of the agencies (domain ``pki``, run by the ``pki`` party: ``pki()``);
- ``cross_reference(a, b, warrant, pseudonyms, purpose=…)`` — design flow 6 on A's behalf
  (``sekisho.agency.crossref``): A → B under the warrant, the record leg A → R to the municipalities, and B's
  result only after their records commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sekisho.auditlog.client import local_access_log
from sekisho.config import Home
from sekisho.errors import InvalidInput, Unavailable
from sekisho.keyfile import passphrase_from_env
from sekisho.node.registers import open_register
from sekisho.pep.flows import conversion_request, convert_batch, prepare_batch
from sekisho.pep.group import Scalar
from sekisho.pep.keys import NetworkParams, load_network, network_path
from sekisho.protocols.access import PolicyDecisionPoint, RequesterKind
from sekisho.protocols.agency import (
    AgencyEndpoint,
    CrossReferenceDelivery,
    CrossReferenceLocator,
    CrossReferenceQuery,
    CrossReferenceReceiver,
    CrossReferenceStatus,
    EnrolmentDelivery,
    IdentityAnswer,
    IdentityQuery,
    Locator,
    LocatorRoute,
    NoticeBatch,
    operator_of,
)
from sekisho.protocols.conversion import REGISTRY_DOMAIN, ConversionRequest, Hop, HopResult
from sekisho.protocols.registry import IndexEntry, RegistryIndex, TransferPackage, TransferSource
from sekisho.registry.service import Actor, RegisterService

if TYPE_CHECKING:
    from sekisho.agency.crossref import CrossReferenceReport
    from sekisho.agency.service import AgencyService
    from sekisho.locator.service import LocatorService
    from sekisho.pki.hierarchy import Pki
    from sekisho.policy.grants import GrantBroker
    from sekisho.policy.hook import TranscryptorPolicy
    from sekisho.policy.municipality import MunicipalityPolicy
    from sekisho.policy.service import Watchdog
    from sekisho.pseudonyms.transcryptor import Transcryptor
    from sekisho.registry.release import ReleaseService


class _LocalMunicipality:
    def __init__(self, home: Home, code: str, today: Callable[[], date] | None, network: LocalNetwork | None) -> None:
        self.home = home
        self.code = code
        self.today = today
        self.network = network

    def _service(self) -> RegisterService:
        # the origin acts on its own authority in the hand-over, not as one of its clerks; it needs the locator
        # to hand the person's entry over to the destination
        index = self.network.registry_index(self.code) if self.network is not None else None
        return open_register(self.home, self.code, actor=Actor(clerk="network"), today=self.today, index=index)

    def fetch_transfer(self, token: str, *, requester: str) -> TransferPackage:
        return self._service().fetch_transfer(token, requester=requester)

    def complete_transfer(self, token: str, *, requester: str, moved_on: date, destination_line: str) -> None:
        self._service().complete_transfer(
            token, requester=requester, moved_on=moved_on, destination_line=destination_line
        )


class LocalDirectory:
    """Finds every municipality's register in one Sekisho home."""

    def __init__(
        self, home: Home, *, today: Callable[[], date] | None = None, network: LocalNetwork | None = None
    ) -> None:
        self.home = home
        self.today = today
        if network is None and network_path(home.root).exists():
            # the network is set up: a hand-over must move the locator's entry (no key needed for that)
            network = LocalNetwork(home, passphrase=passphrase_from_env(), today=today)
        self.network = network

    def municipality(self, code: str) -> TransferSource:
        return _LocalMunicipality(self.home, code, self.today, self.network)


def municipalities_in(home: Home) -> list[str]:
    """The codes of the municipalities whose registers live in ``home`` (directories, or PostgreSQL schemas)."""
    import sqlalchemy as sa

    from sekisho.storage import create_engine_for

    codes = {p.name for p in (home.root / "municipality").glob("*") if p.name.isdigit() and len(p.name) == 6}
    if home.db_url and home.db_url.startswith("postgresql"):
        prefix = home.party_schema("municipality/000000")[: -len("000000")]
        engine = create_engine_for(home.db_url)
        try:
            with engine.connect() as conn:
                names = conn.execute(
                    sa.text("SELECT schema_name FROM information_schema.schemata WHERE starts_with(schema_name, :p)"),
                    {"p": prefix},
                ).scalars()
                codes |= {n[len(prefix) :] for n in names if n[len(prefix) :].isdigit()}
        finally:
            engine.dispose()
    return sorted(codes)


class _TranscryptorClient:
    """T1 or T2 as other parties reach it: convert a batch; hand a domain its own key share."""

    def __init__(self, transcryptor: Transcryptor) -> None:
        self._t = transcryptor

    @property
    def party(self) -> str:
        return self._t.party

    def convert(self, request: ConversionRequest) -> HopResult:
        return self._t.convert(request)

    def key_share(self, domain: str, *, requester: str) -> Scalar:
        # in-process the requester's name is the authenticated channel; over HTTP it is the client certificate
        if requester != operator_of(domain):
            raise InvalidInput("a key share goes only to the operator of its domain", field="requester")
        if domain == REGISTRY_DOMAIN:
            raise InvalidInput("the registry's key was made at set-up", field="domain")
        return self._t.secrets.key_share(domain)

    def __repr__(self) -> str:
        return f"_TranscryptorClient(party={self.party!r})"


class _LocalRegistryIndex:
    """The registry index as municipality ``code``: R → R through T1 and T2, then the locator."""

    def __init__(self, network: LocalNetwork, code: str) -> None:
        self._network = network
        self._code = code

    def index(self, pps: Sequence[bytes]) -> list[IndexEntry]:
        if not pps:
            return []
        net = self._network
        requester = f"municipality/{self._code}"
        request = conversion_request(
            prepare_batch(pps, net.params.public_key),
            network=net.params,
            from_domain=REGISTRY_DOMAIN,
            to_domain=REGISTRY_DOMAIN,
            purpose=_index_purpose(),
            grant=net.grants().index_grant(municipality=self._code, count=len(pps)),
            requester=requester,
        )
        result = convert_batch(request, net.hops())
        return net.locator_service().index(result, requester=self._code)

    def hand_over(self, rp: bytes, *, to: str) -> None:
        self._network.locator_service(key=False).hand_over(rp, requester=self._code, to=to)


def _index_purpose() -> str:
    from sekisho.policy.grants import INDEX_PURPOSE

    return INDEX_PURPOSE


class _LocalLocator:
    def __init__(self, network: LocalNetwork) -> None:
        self._network = network

    def confirm(self, result: HopResult, query: IdentityQuery) -> list[IdentityAnswer]:
        return self._network.locator_service().confirm(result, query, municipalities=self._network.responder)

    def cross_reference(self, result: HopResult, query: CrossReferenceQuery) -> list[CrossReferenceStatus]:
        return self._network.locator_service().cross_reference(result, query, municipalities=self._network.responder)


class _LocalRoute:
    """An agency's batch through T1 and T2 (one call each, in turn), then to the locator."""

    def __init__(self, network: LocalNetwork) -> None:
        self._network = network

    def confirm(self, request: ConversionRequest, query: IdentityQuery) -> list[IdentityAnswer]:
        return self._network.locator().confirm(convert_batch(request, self._network.hops()), query)

    def cross_reference(self, request: ConversionRequest, query: CrossReferenceQuery) -> list[CrossReferenceStatus]:
        located = convert_batch(request, self._network.hops())
        return self._network.cross_reference_locator().cross_reference(located, query)


class _LocalResponder:
    def __init__(self, network: LocalNetwork, code: str) -> None:
        self._network = network
        self._code = code

    def answer_identity(self, rps: Sequence[bytes], query: IdentityQuery) -> list[IdentityAnswer]:
        return self._network.releases(self._code).answer_identity(rps, query)

    def record_cross_reference(self, rps: Sequence[bytes], query: CrossReferenceQuery) -> list[CrossReferenceStatus]:
        # the municipality reads the warrant with the watchdog's published keys, as every party does
        return self._network.releases(self._code).record_cross_reference(
            rps, query, warrant_keys=self._network.warrant_keys()
        )


class _LocalAgency:
    def __init__(self, network: LocalNetwork, name: str) -> None:
        self._network = network
        self._name = name

    def requested_items(self, purpose: str) -> tuple[str, ...]:
        return self._network.agency_service(self._name).requested_items(purpose)

    def receive_enrolment(self, delivery: EnrolmentDelivery) -> int:
        return self._network.agency_service(self._name).receive_enrolment(delivery)

    def receive_notices(self, batch: NoticeBatch) -> int:
        return self._network.agency_service(self._name).receive_notices(batch)

    def receive_cross_reference(self, delivery: CrossReferenceDelivery) -> int:
        return self._network.agency_service(self._name).receive_cross_reference(delivery)


class LocalNetwork:
    """Every party of one Sekisho home, in this process, behind client objects (see the module docstring)."""

    def __init__(
        self,
        home: Home,
        *,
        passphrase: bytes | None,
        pdp: PolicyDecisionPoint | None = None,
        today: Callable[[], date] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.home = home
        self._passphrase = passphrase
        self.pdp = pdp
        self.today = today
        #: the policy's clock (the watchdog, the decision point, the transcryptors' hooks, the releases); tests move it
        self.clock = clock
        self._params: NetworkParams | None = None
        self._transcryptors: list[Transcryptor] | None = None
        self._policies: list[TranscryptorPolicy] = []
        self._municipal_policies: dict[str, MunicipalityPolicy] = {}
        self._watchdog: Watchdog | None = None
        self._grants: GrantBroker | None = None
        self._locator: LocatorService | None = None
        self._locator_keyless: LocatorService | None = None
        self._agencies: dict[str, AgencyService] = {}
        self._registers: dict[str, RegisterService] = {}
        self._pki: Pki | None = None

    def _need_passphrase(self) -> bytes:
        if not self._passphrase:
            raise Unavailable("the parties' key files need the passphrase (set SEKISHO_PASSPHRASE)", field="passphrase")
        return self._passphrase

    def policy(self) -> PolicyDecisionPoint:
        """The policy decision point given, or the home's own (``sekisho.policy``)."""
        if self.pdp is None:
            self.pdp = default_pdp(self.home, clock=self.clock)
        return self.pdp

    @property
    def params(self) -> NetworkParams:
        if self._params is None:
            self._params = load_network(self.home.root)
        return self._params

    # --- transcryptors and the grant desk ------------------------------------------------------------------

    def policy_published(self) -> bool:
        """Whether the watchdog has published its policy key: then the transcryptors run the policy's own hook."""
        from sekisho.policy.signing import public_path

        return public_path(self.home).exists()

    def _open_transcryptors(self) -> list[Transcryptor]:
        if self._transcryptors is None:
            from sekisho.pseudonyms.service import open_journaled_transcryptor

            passphrase = self._need_passphrase()
            opened = []
            for party in ("t1", "t2"):
                policy = None
                if self.policy_published():
                    from sekisho.policy.hook import open_transcryptor_policy
                    from sekisho.policy.service import LocalWatchdogSource, open_watchdog
                    from sekisho.pseudonyms.store import Ledger

                    # with its key open the watchdog reissues its revocation list when due (without: it goes stale
                    # and the transcryptors refuse, fail closed)
                    if self._watchdog is None:
                        self._watchdog = open_watchdog(self.home, passphrase=passphrase, **self._clocked())
                    source = LocalWatchdogSource(self._watchdog)
                    policy = open_transcryptor_policy(
                        self.home, party, source=source, ledger=Ledger(), **self._clocked()
                    )
                    self._policies.append(policy)
                opened.append(
                    open_journaled_transcryptor(
                        self.home, party, passphrase=passphrase, policy=policy, access_log=local_access_log(self.home)
                    )
                )
            self._transcryptors = opened
        return self._transcryptors

    def _clocked(self) -> dict[str, Any]:
        return {} if self.clock is None else {"clock": self.clock}

    def hops(self) -> list[Hop]:
        return [_TranscryptorClient(t) for t in self._open_transcryptors()]

    def key_shares(self, domain: str) -> list[Scalar]:
        """Domain ``domain``'s key share from T1 and from T2 (both are needed to assemble its key)."""
        return [
            _TranscryptorClient(t).key_share(domain, requester=operator_of(domain)) for t in self._open_transcryptors()
        ]

    def grants(self) -> GrantBroker:
        if self._grants is None:
            from sekisho.policy.grants import GrantBroker
            from sekisho.pseudonyms.service import open_grant_issuer

            issuer = open_grant_issuer(self.home, passphrase=self._need_passphrase())
            self._grants = GrantBroker(issuer, pdp=self.policy())
        return self._grants

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
        if self.policy_published():
            # each transcryptor decides this conversion itself (sekisho.policy.hook); the field carries nothing
            return POLICY_DECIDES
        return self.grants().conversion_grant(
            requester=requester,
            requester_kind=requester_kind,
            from_domain=from_domain,
            to_domain=to_domain,
            purpose=purpose,
            count=count,
            municipality=municipality,
        )

    # --- locator ------------------------------------------------------------------------------------------

    def locator_service(self, *, key: bool = True) -> LocatorService:
        from sekisho.locator.service import LocatorService

        if self._locator is not None:
            return self._locator
        if key:
            self._locator = LocatorService.open(self.home, passphrase=self._need_passphrase())
            return self._locator
        # a hand-over needs only the locator's table, not its key
        if self._locator_keyless is None:
            self._locator_keyless = LocatorService.open(self.home, passphrase=None)
        return self._locator_keyless

    def locator(self) -> Locator:
        return _LocalLocator(self)

    def locator_route(self) -> LocatorRoute:
        """The locator as an agency reaches it: its batch converted on the way (``sekisho.agency.interfaces``)."""
        return _LocalRoute(self)

    def registry_index(self, code: str) -> RegistryIndex:
        return _LocalRegistryIndex(self, code)

    # --- municipalities -----------------------------------------------------------------------------------

    def register(self, code: str, *, actor: Actor | None = None) -> RegisterService:
        """Municipality ``code``'s register, wired to this network (directory, index)."""
        key = code if actor is None else f"{code}/{actor.clerk}"
        svc = self._registers.get(key)
        if svc is None:
            svc = open_register(
                self.home,
                code,
                actor=actor or Actor(clerk="network"),
                today=self.today,
                directory=LocalDirectory(self.home, today=self.today, network=self),
                index=self.registry_index(code),
            )
            self._registers[key] = svc
        return svc

    def releases(self, code: str) -> ReleaseService:
        from sekisho.registry.release import ReleaseService

        return ReleaseService(
            self.register(code), network=self, pdp=self.policy(), facts=self.facts(code), **self._clocked()
        )

    def facts(self, code: str) -> MunicipalityPolicy:
        """Municipality ``code``'s per-resident policy facts (its own ``pol_`` tables, beside the register)."""
        from sekisho.policy.municipality import MunicipalityPolicy

        policy = self._municipal_policies.get(code)
        if policy is None:
            policy = self._municipal_policies[code] = MunicipalityPolicy.open(
                self.home, code, households=self.register(code).household_members
            )
        return policy

    def responder(self, code: str) -> _LocalResponder:
        """Municipality ``code`` as the locator reaches it (identity confirmations, cross-references' record legs)."""
        return _LocalResponder(self, code)

    # --- agencies -----------------------------------------------------------------------------------------

    def agency(self, name: str) -> AgencyEndpoint:
        return _LocalAgency(self, name)

    def agency_service(self, name: str) -> AgencyService:
        from sekisho.agency.service import AgencyService

        svc = self._agencies.get(name)
        if svc is None:
            if operator_of(name) == "pki":
                from sekisho.node.pki_agency import agency_of

                # the PKI's agency runs on the PKI's own database, where its notices revoke certificates
                svc = agency_of(self.pki(), self.home, passphrase=self._need_passphrase())
            else:
                svc = AgencyService.open(self.home, name, passphrase=self._need_passphrase())
            self._agencies[name] = svc
        return svc

    # --- cross-references (design flow 6) -----------------------------------------------------------------

    def warrant_keys(self) -> dict[str, Ed25519PublicKey]:
        """The watchdog's published policy keys, with which every party reads a warrant."""
        from sekisho.policy.signing import public_keys

        return public_keys(self.home)

    def warrant_token(self, warrant: str) -> str:
        """The token of a warrant given as its token or its id.  By id, the token is read from the watchdog's
        register (in-process, where agency A keeps its copy); a warrant not approved (or no longer) has no usable
        token: refused here with the reason the register gives (``warrant-not-approved``, ``warrant-refused``,
        ``warrant-revoked``) rather than sent on to be refused as a bare id."""
        from sekisho.protocols.statements import is_statement
        from sekisho.protocols.warrants import check_warrant_id, usable_token

        if is_statement(warrant, "warrant"):
            return warrant
        return usable_token(self.watchdog().warrant(check_warrant_id(warrant)))

    def approved_pia(self, agency: str) -> tuple[frozenset[str], frozenset[str]] | None:
        """The purposes and items of the agency's PIA in force at the watchdog (read-only), or ``None``."""
        from sekisho.policy.pia import approved_scope
        from sekisho.policy.service import Watchdog

        return approved_scope(Watchdog.open(self.home).pias(agency=agency))

    def watchdog(self) -> Watchdog:
        """The watchdog party (its signing key open: it reissues its revocation list when due)."""
        from sekisho.policy.service import open_watchdog

        if self._watchdog is None:
            self._watchdog = open_watchdog(self.home, passphrase=self._need_passphrase(), **self._clocked())
        return self._watchdog

    def cross_reference_locator(self) -> CrossReferenceLocator:
        return _LocalLocator(self)

    def cross_reference_receiver(self, name: str) -> CrossReferenceReceiver:
        return _LocalAgency(self, name)

    def cross_reference(
        self,
        from_agency: str,
        to_agency: str,
        warrant: str,
        pseudonyms: Sequence[str],
        *,
        purpose: str,
    ) -> CrossReferenceReport:
        """Agency ``from_agency`` cross-references its persons (``pseudonyms``, its text form) to ``to_agency``
        under ``warrant`` (token or id): A → B through T1 and T2, the record leg A → R to the residents'
        municipalities, and only after their records commit, B's result (``sekisho.agency.crossref``)."""
        from sekisho.agency.crossref import run_cross_reference

        if not self.policy_published():
            raise Unavailable("cross-references need the watchdog's published key (warrants)", field="watchdog")
        return run_cross_reference(
            self,
            self.agency_service(from_agency),
            to_agency=to_agency,
            warrant=self.warrant_token(warrant),
            pseudonyms=pseudonyms,
            purpose=purpose,
        )

    def pki(self) -> Pki:
        """The PKI party (its CAs, certificates and, as an agency, its pseudonyms of card holders)."""
        if self._pki is None:
            from sekisho.pki.hierarchy import Pki

            passphrase = self._need_passphrase()
            self._pki = Pki.open(self.home, secret=lambda: passphrase)
        return self._pki

    def forget_agency(self, name: str) -> None:
        """Drop a cached agency (its key is loaded again from its file on the next use)."""
        svc = self._agencies.pop(name, None)
        if svc is not None and (self._pki is None or svc.engine is not self._pki.engine):
            svc.engine.dispose()

    def close(self) -> None:
        """Dispose every engine this network opened."""
        for t in self._transcryptors or []:
            t.engine.dispose()  # the journal hook writes through the same engine
        for p in self._policies:
            p.engine.dispose()
        self._policies.clear()
        for m in self._municipal_policies.values():
            m.engine.dispose()
        self._municipal_policies.clear()
        if self._watchdog is not None:
            self._watchdog.engine.dispose()
            self._watchdog = None
        for loc in (self._locator, self._locator_keyless):
            if loc is not None:
                loc.engine.dispose()
        for svc in self._agencies.values():
            svc.engine.dispose()
        for reg in self._registers.values():
            reg.engine.dispose()
        if self._pki is not None:
            self._pki.engine.dispose()
            self._pki = None
        self._transcryptors, self._locator, self._locator_keyless = None, None, None
        self._agencies.clear()
        self._registers.clear()

    def __repr__(self) -> str:
        return f"LocalNetwork(home={str(self.home.root)!r})"


#: the grant field of a conversion the transcryptors' own policy hook decides (only warrants travel there)
POLICY_DECIDES = "policy"


def default_pdp(home: Home, *, clock: Callable[[], datetime] | None = None) -> PolicyDecisionPoint:
    """The national policy decision point of ``home`` (``sekisho.policy``, in the watchdog's party)."""
    from sekisho.policy.service import open_decision_point

    return open_decision_point(home) if clock is None else open_decision_point(home, clock=clock)
