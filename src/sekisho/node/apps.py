"""Role -> ASGI app: every party's web service, built from its home the way ``sekisho serve`` runs it.

Every app is a :func:`base_app`: ``GET /health`` (role, name, version, whether the party's database answers),
``GET /openapi.json``, and RFC 9457 problem documents for every error, unknown paths included.  A party that has
an HTTP API has its routers mounted on it: the access log, the PKI (and its agency routes), the watchdog (its
decision point, register and grant desk), an agency node (``sekisho.agency.api``) and a municipality's hand-over
(``sekisho.registry.transfer_api``); the others serve only that much until their protocols get HTTP endpoints —
which are added here, in the role's factory.

A party whose keys are not set up yet (`sekisho log init`, `sekisho pki init`, …) still starts: its health check
answers 503 and says what is missing, so that `sekisho up` on a fresh home shows every party and which ones wait.

Each factory imports its party's modules itself, so that a process loads only the party it runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import date
from typing import TYPE_CHECKING, Any, cast

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from sekisho import __version__, problems
from sekisho.config import Home
from sekisho.errors import SekishoError, Unavailable
from sekisho.node.credentials import mount_credentials
from sekisho.node.health import DatabaseProbe
from sekisho.node.login import router as login_router
from sekisho.node.roles import TITLES, Role

if TYPE_CHECKING:
    import httpx

    from sekisho.agency.service import AgencyService
    from sekisho.certificates.model import Request as CertificateRequest
    from sekisho.certificates.service import Form, Issued
    from sekisho.node.httpnet import HttpNetwork
    from sekisho.pki.hierarchy import Pki
    from sekisho.portal.municipality import CertificateDesk
    from sekisho.protocols.access import PolicyDecisionPoint
    from sekisho.protocols.agency import CrossReferenceDelivery, EnrolmentDelivery, NoticeBatch
    from sekisho.protocols.registry import RegistryIndex, TransferPackage

Hook = Callable[[], Awaitable[None]]

_HEALTH_OK: dict[str, Any] = {
    "title": "Health",
    "type": "object",
    "required": ["role", "party", "version", "status", "database"],
    "properties": {
        "role": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "party": {"type": "string"},
        "version": {"type": "string"},
        "status": {"type": "string", "enum": ["ok"]},
        "database": {"type": "string", "enum": ["ok"]},
    },
}
_HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The party is up and its database answers",
        "content": {"application/json": {"schema": _HEALTH_OK}},
    },
    503: {
        "description": "The party is not ready (RFC 9457 problem document, with role, party and version)",
        "content": {problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    },
}


def _not_set_up(exc: SekishoError) -> Unavailable:
    # the services' own messages already say which command sets the party up
    return exc if isinstance(exc, Unavailable) else Unavailable(exc.message, field=exc.field or "setup")


def base_app(
    role: Role,
    home: Home,
    *,
    not_ready: SekishoError | None = None,
    on_start: Hook | None = None,
    on_stop: Hook | None = None,
) -> FastAPI:
    """A party's app with its health check and problem documents; ``not_ready`` keeps health at 503."""
    probe = DatabaseProbe(home, role)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if on_start is not None:
            await on_start()
        try:
            yield
        finally:
            # the party's own shutdown first (e.g. the log finishes its queued appends), then the probe's engine
            if on_stop is not None:
                await on_stop()
            probe.close()

    title = f"Sekisho {TITLES[role.role]}" + (f" {role.name}" if role.name else "")
    app = FastAPI(
        title=title, version=__version__, openapi_url="/openapi.json", docs_url=None, redoc_url=None, lifespan=lifespan
    )
    problems.install(app)
    facts = {"role": role.role, "name": role.name, "party": role.party, "version": __version__}

    @app.get("/health", tags=["health"], response_class=JSONResponse, responses=_HEALTH_RESPONSES)
    def health() -> JSONResponse:
        # a plain def: FastAPI runs it on a worker thread, so a slow database does not stall the event loop
        try:
            if not_ready is not None:
                raise not_ready
            probe.check()
        except SekishoError as exc:
            body = {**problems.problem_body(_not_set_up(exc)), **facts}
            return JSONResponse(body, status_code=503, media_type=problems.MEDIA_TYPE)
        return JSONResponse({**facts, "status": "ok", "database": "ok"})

    return app


# --- the parties ---------------------------------------------------------------------------------------------


def log_app(role: Role, home: Home) -> FastAPI:
    from sekisho.auditlog.api import mount_log
    from sekisho.auditlog.service import LogService

    try:
        service = LogService.open(home)
    except SekishoError as exc:
        return base_app(role, home, not_ready=_not_set_up(exc))

    async def start() -> None:
        await service.start()

    async def stop() -> None:
        await service.aclose()  # finishes the queued appends, then releases the database

    app = base_app(role, home, on_start=start, on_stop=stop)
    mount_log(app, service)  # with the fast path for POST /append
    return app


def watchdog_app(role: Role, home: Home) -> FastAPI:
    from sekisho.auditlog.api import witness_router
    from sekisho.auditlog.witness import Witness
    from sekisho.keyfile import passphrase_from_env
    from sekisho.policy.api import router
    from sekisho.policy.service import Watchdog

    secret = passphrase_from_env()
    try:
        watchdog = Watchdog.open(home, passphrase=secret)
    except SekishoError as exc:
        return base_app(role, home, not_ready=_not_set_up(exc))
    witness = None
    if secret is not None:
        # the watchdog also cosigns the log's checkpoints, once `sekisho log init` has given it a witness key
        with contextlib.suppress(SekishoError):
            witness = Witness.open(home, secret=secret)

    async def stop() -> None:
        watchdog.engine.dispose()
        if witness is not None:
            witness.engine.dispose()

    app = base_app(role, home, on_stop=stop)
    app.include_router(router(watchdog))
    if witness is not None:
        app.include_router(witness_router(witness))
    mount_grant_desk(app, home, secret, watchdog.decision_point())
    from sekisho.portal.watchdog import portal_app, witness_status

    # the officers' dashboard (a public path with its own login: sekisho.portal)
    app.mount("/portal", portal_app(home, watchdog, log_status=witness_status(witness) if witness else None))
    return app


def mount_grant_desk(app: FastAPI, home: Home, secret: bytes | None, pdp: PolicyDecisionPoint) -> None:
    """The grant desk on the watchdog's node, when this home holds the network's grant issuer key (signed-grant
    conversions, before the watchdog publishes its policy key); the desk asks the watchdog's decision point."""
    from sekisho.policy.grants import GrantBroker
    from sekisho.policy.grants_api import router
    from sekisho.pseudonyms.service import open_grant_issuer

    if secret is None:
        return
    try:
        issuer = open_grant_issuer(home, passphrase=secret)
    except SekishoError:
        return  # no issuer key here: conversions are decided by the transcryptors' policy hooks
    app.include_router(router(GrantBroker(issuer, pdp=pdp)))


def pki_app(role: Role, home: Home) -> FastAPI:
    from sekisho.pki.api import DEFAULT_AUDIENCE, DEFAULT_TRUST, router
    from sekisho.pki.hierarchy import Pki

    try:
        pki = Pki.open(home)
        pki.keyring.session_key()  # the PKI is initialised and its keys open with the passphrase
    except SekishoError as exc:
        return base_app(role, home, not_ready=_not_set_up(exc))

    async def stop() -> None:
        pki.engine.dispose()

    app = base_app(role, home, on_stop=stop)
    audience = os.environ.get("SEKISHO_PKI_AUDIENCE", DEFAULT_AUDIENCE)
    trust = os.environ.get("SEKISHO_PKI_TRUST", DEFAULT_TRUST)
    app.include_router(router(pki, audience=audience, trust=trust))
    app.include_router(login_router(home))  # the prefectures' published card-login data (sekisho.node.login)
    mount_pki_agency(app, pki, home)
    return app


def mount_pki_agency(app: FastAPI, pki: Pki, home: Home) -> None:
    """The PKI as municipalities reach it as an agency (``sekisho.agency.api``): enrolments and change notices on
    the PKI's own database, where a notice revokes certificates in the transaction that stores it.  Not mounted
    until the PKI has joined the network (its domain key) and its key files open (``SEKISHO_PASSPHRASE``)."""
    from sekisho.agency.api import router
    from sekisho.keyfile import passphrase_from_env
    from sekisho.node.pki_agency import agency_of

    secret = passphrase_from_env()
    if secret is None:
        return
    try:
        agency = agency_of(pki, home, passphrase=secret)
    except SekishoError:
        return
    app.include_router(router(agency))


def municipality_app(role: Role, home: Home) -> FastAPI:
    from sekisho.jp.catalogue import get_municipality
    from sekisho.node.feed import feed_router
    from sekisho.node.moves import mount_moves
    from sekisho.node.municipality import MunicipalityNode, node_access_log
    from sekisho.node.residence import mount_residence
    from sekisho.registry.responder_api import router as responder_router

    code = role.name or ""
    get_municipality(code, field="name")  # a real municipality's code, with its check digit
    # the node answers the locator and the agencies' notice feed with its own register and policy tables (its
    # release service writes the access records before an answer leaves); every other party it reaches over HTTP
    # in a network of processes, in this process when it is served alone (sekisho.node.municipality)
    peers = LazyPeers(home, role.party)
    node = MunicipalityNode(home, code, peers.get)
    # the node's other services append to the log as the node does: through the log's process when a network runs
    log = node_access_log(home, code, peers.get)

    from sekisho.portal.municipality import portal_app

    # the clerk console and the resident portal (public paths with their own login: sekisho.portal)
    offers, offer_engines = _credential_offers(home, code, log)
    opener = _portal_registers(home, code, log)
    portal = portal_app(
        home,
        code,
        opener=opener,
        credential_offer=offers,
        certificate=_certificate_desk(home, code),
        login_issuers=_login_issuers(home, code),
    )

    async def stop() -> None:
        portal.state.close()
        opener.close()  # type: ignore[attr-defined]
        for engine in offer_engines:
            engine.dispose()
        node.close()
        moves.close()
        peers.close()

    app = base_app(role, home, on_stop=stop)
    app.include_router(responder_router(node, node))
    # OpenID4VCI issuer and status list (sekisho.node.credentials)
    mount_credentials(app, home, code, access_log=log)
    mount_residence(app, home, code)  # certificates of residence (sekisho.node.residence)
    moves = mount_moves(app, role, home)  # both sides of a move hand-over, over HTTP (sekisho.node.moves)
    app.include_router(feed_router(lambda: node))  # the agencies' notice feed (sekisho.node.feed)
    app.mount("/portal", portal)
    return app


def _certificate_desk(home: Home, code: str) -> CertificateDesk:
    """Certificates asked at municipality ``code``'s portal (its counter, its residents online): the home
    municipality issues them, over the network as this municipality's party when one runs (sekisho.node.residence)."""
    from sekisho.keyfile import passphrase_from_env
    from sekisho.node.residence import request_certificate

    def secret() -> bytes:
        value = passphrase_from_env()
        if not value:
            raise Unavailable("the signer's key file needs SEKISHO_PASSPHRASE", field="passphrase")
        return value

    def issue(request: CertificateRequest, form: Form) -> Issued:
        return request_certificate(home, request, form=form, passphrase=secret)

    return issue


def _login_issuers(home: Home, code: str) -> Callable[[], list[Any]]:
    """The public login document of the municipality's prefecture (the cards of its residents), read at each card
    login as the PKI's node serves it (``sekisho.node.login``): a revocation counts at once."""
    from sekisho.credentials.anon import PublicIssuerData
    from sekisho.node.login import public_document

    def issuers() -> list[Any]:
        try:
            text = public_document(home, code[:2]).read_text()
        except (FileNotFoundError, NotADirectoryError):
            raise Unavailable("the prefecture publishes no login issuer here", field="card") from None
        return [PublicIssuerData.from_json(json.loads(text))]

    return issuers


def _portal_registers(home: Home, code: str, log: Any) -> Callable[[Any], Any]:
    """The portal's registers of ``code``, one per actor, sharing one engine (opened on first use) and appending
    to ``log`` (the node's access log)."""
    import copy

    from sekisho.node.registers import open_register
    from sekisho.registry.service import Actor, RegisterService

    lock = threading.Lock()
    base: list[RegisterService] = []

    def opener(actor: Actor) -> RegisterService:
        with lock:
            if not base:
                base.append(open_register(home, code, actor=Actor(clerk="portal"), access_log=log))
        # a shallow copy shares the engine and the log's client; only the actor is this request's
        svc = copy.copy(base[0])
        svc.actor = actor
        return svc

    def close() -> None:
        with lock:
            for svc in base:
                svc.engine.dispose()
            base.clear()

    opener.close = close  # type: ignore[attr-defined]
    return opener


def _credential_offers(home: Home, code: str, log: Any) -> tuple[Callable[[str], dict[str, Any]] | None, list[Any]]:
    """The OpenID4VCI offers the resident portal makes for a logged-in resident, and the engines to dispose; none
    while the municipality's issuer is not set up (`sekisho credentials init`) or its key cannot be opened."""
    from sekisho.credentials.oid4vci import Flow
    from sekisho.keyfile import passphrase_from_env
    from sekisho.node.credentials import open_issuer

    secret = passphrase_from_env()
    if secret is None:
        return None, []
    try:
        issuer, state, register = open_issuer(home, code, passphrase=secret, access_log=log)
    except SekishoError:
        return None, []
    return Flow(issuer, register, state).offer, [register.engine, state.engine]


def mount_transfer(
    app: FastAPI, role: Role, home: Home, *, index: RegistryIndex | None = None, access_log: Any = None
) -> None:
    """The origin's side of a move hand-over (``sekisho.registry.transfer_api``) on municipality ``role``'s app.

    ``index`` is the municipality's client of the locator (to move the person's entry on completion); without one,
    completing the transfer of an indexed person is refused as unavailable and nothing is closed.  ``access_log``:
    where the register's access records go (default: the home's log)."""
    from sekisho.registry.transfer_api import router

    app.include_router(router(OwnRegister(home, role.name or "", index=index, access_log=access_log)))


class OwnRegister:
    """A municipality's register acting on its own authority in a hand-over (not as one of its clerks), opened
    for the call and closed after it: hand-overs are rare, and the node holds no engine between them."""

    def __init__(self, home: Home, code: str, *, index: RegistryIndex | None = None, access_log: Any = None) -> None:
        self.home, self.code, self.index = home, code, index
        self._log = {} if access_log is None else {"access_log": access_log}

    @contextlib.contextmanager
    def _register(self) -> Iterator[Any]:
        from sekisho.node.registers import open_register
        from sekisho.registry.service import Actor

        register = open_register(self.home, self.code, actor=Actor(clerk="network"), index=self.index, **self._log)
        try:
            yield register
        finally:
            register.engine.dispose()

    def fetch_transfer(self, token: str, *, requester: str) -> TransferPackage:
        with self._register() as register:
            package: TransferPackage = register.fetch_transfer(token, requester=requester)
            return package

    def complete_transfer(self, token: str, *, requester: str, moved_on: date, destination_line: str) -> None:
        with self._register() as register:
            register.complete_transfer(token, requester=requester, moved_on=moved_on, destination_line=destination_line)


def networked(home: Home) -> bool:
    """Whether the parties of ``home`` run as processes of a network (``sekisho up``'s run file): then a party
    reaches the others over HTTP, never through their databases."""
    from sekisho.node.supervisor import run_file

    return run_file(home.root).exists()


def _open_transcryptor(home: Home, party: str, passphrase: bytes, net: HttpNetwork | None) -> tuple[Any, list[Any]]:
    """Transcryptor ``party`` alone (not its peer), with its journal, the access log and, once the watchdog has
    published its key, the policy's own hook; returns it and what to close.  With ``net`` (a network of
    processes) the watchdog's publications and the log are reached over HTTP; without, in this process."""
    from sekisho.auditlog.client import local_access_log
    from sekisho.policy.signing import public_path
    from sekisho.pseudonyms.service import open_journaled_transcryptor

    policy, closing = None, list[Any]()
    if public_path(home).exists():
        from sekisho.policy.hook import WatchdogSource, open_transcryptor_policy
        from sekisho.pseudonyms.store import Ledger

        source: WatchdogSource
        if net is not None:
            source = net.watchdog()
        else:
            from sekisho.policy.service import LocalWatchdogSource, open_watchdog

            watchdog = open_watchdog(home, passphrase=passphrase)
            closing.append(watchdog)
            source = LocalWatchdogSource(watchdog)
        policy = open_transcryptor_policy(home, party, source=source, ledger=Ledger())
        closing.append(policy)
    log = net.access_log() if net is not None else local_access_log(home)
    t = open_journaled_transcryptor(home, party, passphrase=passphrase, policy=policy, access_log=log)
    return t, [t, *closing]


def transcryptor_app(role: Role, home: Home) -> FastAPI:
    """T1 or T2.  Its keys open on the first request (health answers for the database before the key ceremony,
    as for a register); a request before ``sekisho network init`` or without the passphrase is a 503 problem."""
    import threading

    from sekisho.keyfile import passphrase_from_env
    from sekisho.node.http.relay import HttpRelay, t1_onward, t2_onward
    from sekisho.node.local import _TranscryptorClient
    from sekisho.pep.group import Scalar
    from sekisho.protocols.conversion import ConversionRequest, HopResult
    from sekisho.pseudonyms.api import router as transcryptor_router

    lock = threading.Lock()
    opened: list[Any] = []  # [transcryptor, closeables]
    peers = LazyPeers(home, role.party)

    def party() -> _TranscryptorClient:
        with lock:
            if not opened:
                secret = passphrase_from_env()
                if not secret:
                    raise Unavailable("the key files need SEKISHO_PASSPHRASE", field="passphrase")
                net = peers.get() if networked(home) else None
                opened.extend(_open_transcryptor(home, role.role, secret, net))
            return _TranscryptorClient(opened[0])

    def convert(request: ConversionRequest) -> HopResult:
        return party().convert(request)

    def key_share(domain: str, requester: str) -> Scalar:
        # the rule of the in-process client: only to the operator of the domain, never the registry's key
        return party().key_share(domain, requester=requester)

    # /relay: T1 hands its result to T2, T2 to the caller or the locator (sekisho.node.http.relay)
    def peer(name: str) -> httpx.Client:
        return PEER_CLIENT(home, name) if PEER_CLIENT is not None else peers.get().client(name)

    first = role.role == "t1"
    onward = t1_onward(lambda: HttpRelay(peer("t2"))) if first else t2_onward(lambda: peer("locator"))

    async def stop() -> None:
        for closeable in opened[1] if opened else []:
            closeable.engine.dispose()
        peers.close()

    app = base_app(role, home, on_stop=stop)
    app.include_router(transcryptor_router(convert, key_share, onward=onward))
    return app


class LazyPeers:
    """A party's :class:`~sekisho.node.httpnet.HttpNetwork`, made on first use: the run file and the peers'
    addresses exist only once ``sekisho up`` has started them all."""

    def __init__(self, home: Home, party: str) -> None:
        self.home, self.party = home, party
        self._net: HttpNetwork | None = None
        self._lock = threading.Lock()

    def get(self) -> HttpNetwork:
        from sekisho.node.httpnet import HttpNetwork

        with self._lock:
            if self._net is None:
                self._net = HttpNetwork(self.home.root, self.party)
            return self._net

    def close(self) -> None:
        with self._lock:
            if self._net is not None:
                self._net.close()
                self._net = None


#: how a party's app reaches another party (T1 → T2, T2 → the locator, the locator → a municipality), when set:
#: ``(home, peer) -> httpx.Client`` with ``base_url`` (tests hand in-memory clients); by default the party's own
#: mutual-TLS client from the network's run file (:class:`LazyPeers`)
PEER_CLIENT: Callable[[Home, str], httpx.Client] | None = None


def locator_app(role: Role, home: Home) -> FastAPI:
    """The locator.  Its keys open on the first request (as T1's and T2's): health answers for the database
    before the key ceremony; a request before ``sekisho network init`` or without the passphrase is a 503 problem."""
    import threading

    from sekisho.keyfile import passphrase_from_env
    from sekisho.locator.api import router as locator_router
    from sekisho.locator.service import LocatorService
    from sekisho.node.http.municipality import HttpResponder

    lock = threading.Lock()
    opened: list[LocatorService] = []
    clients: dict[str, httpx.Client] = {}
    peers = LazyPeers(home, role.party)

    def service() -> LocatorService:
        with lock:
            if not opened:
                opened.append(LocatorService.open(home, passphrase=passphrase_from_env()))
            return opened[0]

    class Lazy:
        def __getattr__(self, name: str) -> Any:
            return getattr(service(), name)

    def municipality(code: str) -> HttpResponder:
        party = f"municipality/{code}"
        if PEER_CLIENT is None:
            return HttpResponder(peers.get().client(party))  # the peers keep one client per party
        if party not in clients:
            clients[party] = PEER_CLIENT(home, party)
        return HttpResponder(clients[party])

    async def stop() -> None:
        for c in clients.values():
            c.close()
        peers.close()
        for s in opened:
            s.engine.dispose()

    app = base_app(role, home, on_stop=stop)
    app.include_router(locator_router(cast("LocatorService", Lazy()), municipality))
    return app


def agency_app(role: Role, home: Home) -> FastAPI:
    """An agency node: what municipalities push to it (enrolments, notices) and cross-references' results.

    The agency's service opens on the first request, not at start: a node whose agency is not created yet (or
    whose passphrase is not given) still starts and answers its health check, and a request it cannot serve
    gets the problem document saying why."""
    from sekisho.agency.api import router

    agency = LazyAgency(home, role.name or "")

    async def stop() -> None:
        agency.close()

    app = base_app(role, home, on_stop=stop)
    app.include_router(router(agency))
    return app


class LazyAgency:
    """An agency's service, opened on first use with ``SEKISHO_PASSPHRASE`` (its key file needs it)."""

    def __init__(self, home: Home, name: str) -> None:
        self.home, self.name = home, name
        self._service: AgencyService | None = None
        self._lock = threading.Lock()

    def _open(self) -> AgencyService:
        from sekisho.agency.service import AgencyService
        from sekisho.keyfile import passphrase_from_env

        with self._lock:
            if self._service is None:
                secret = passphrase_from_env()
                if secret is None:
                    raise Unavailable("the agency's key file needs SEKISHO_PASSPHRASE", field="passphrase")
                self._service = AgencyService.open(self.home, self.name, passphrase=secret)
            return self._service

    def requested_items(self, purpose: str) -> tuple[str, ...]:
        return self._open().requested_items(purpose)

    def receive_enrolment(self, delivery: EnrolmentDelivery) -> int:
        return self._open().receive_enrolment(delivery)

    def receive_notices(self, batch: NoticeBatch) -> int:
        return self._open().receive_notices(batch)

    def receive_cross_reference(self, delivery: CrossReferenceDelivery) -> int:
        return self._open().receive_cross_reference(delivery)

    def close(self) -> None:
        with self._lock:
            if self._service is not None:
                self._service.engine.dispose()
                self._service = None


FACTORIES: dict[str, Callable[[Role, Home], FastAPI]] = {
    "municipality": municipality_app,
    "locator": locator_app,
    "t1": transcryptor_app,
    "t2": transcryptor_app,
    "watchdog": watchdog_app,
    "log": log_app,
    "pki": pki_app,
    "agency": agency_app,
}


def create_app(role: Role, home: Home) -> FastAPI:
    return FACTORIES[role.role](role, home)


def app_from_env() -> FastAPI:
    """``uvicorn --factory sekisho.node.apps:app_from_env``: the role from ``SEKISHO_ROLE`` (and
    ``SEKISHO_NAME``), the home and database from ``SEKISHO_HOME`` / ``SEKISHO_DB``."""
    role = Role(os.environ.get("SEKISHO_ROLE", ""), os.environ.get("SEKISHO_NAME") or None)
    return create_app(role, Home.from_env())
