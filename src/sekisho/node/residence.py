"""Wiring of certificates of residence (``sekisho.certificates``) into a municipality (the composition root joins
the register, the decision point, the municipality's protections and the PKI).

At the **home** municipality, the desk's gate asks the national decision point (legal basis ∩ request), then the
municipality's protections narrow it for the resident (support measures: a third party or a named requester is
refused on every path, with a task for a clerk; 本人通知: a notification when a proxy or third party obtains a
certificate); a refusal is recorded with the resident (``sekisho.registry.certificates.certificate_refused``).  The
register then reads the allowed items, its access record in the public log first.  The PDF's timestamp comes from
the PKI's time-stamp authority and its revocation data from the organisation CA's CRL: in-process (the CLI), or
over HTTP from the network's PKI (a node).

At the **counter** (any municipality), :func:`request_certificate` hands the request to the home: in-process, or as
the counter's party over mutual TLS with its clerk terminal's signature when a network runs (`sekisho up`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from sekisho.certificates.model import POLICY_KIND, Request
from sekisho.certificates.service import Allowed, Desk, Form, Issued
from sekisho.certificates.signing import AskTimestamp, DocumentSigner, FetchCrl
from sekisho.config import Home
from sekisho.errors import Refused, Unavailable

if TYPE_CHECKING:
    from sekisho.policy.municipality import MunicipalityPolicy
    from sekisho.protocols.access import PolicyDecisionPoint
    from sekisho.registry.service import RegisterService


def municipality_root(home: Home, code: str, *, create: bool = False) -> Path:
    from sekisho.registry.service import party_of

    return home.party_dir(party_of(code), create=create)


class PolicyGate:
    """The decision point, then the resident's protections; a refusal is recorded with the resident."""

    def __init__(self, *, pdp: PolicyDecisionPoint, policy: MunicipalityPolicy, register: RegisterService) -> None:
        self.pdp, self.policy, self.register = pdp, policy, register

    def allow(self, request: Request) -> Allowed:
        from sekisho.protocols.access import AccessRequest
        from sekisho.protocols.handles import parse_handle
        from sekisho.registry.certificates import certificate_refused, same_household

        parse_handle(request.handle, field="for")  # a malformed handle is bad input, before any decision is recorded
        if request.kind == "household" and not same_household(self.register, request.handle, request.requester or ""):
            certificate_refused(
                self.register,
                request.handle,
                purpose=request.purpose,
                counter=request.counter,
                reasons=("not-same-household",),
            )
            raise Refused("the certificate is refused (not-same-household)", field="requester")
        asked = AccessRequest(
            # the requester's id (a mandate, an office registration) for a proxy or a third party — a support
            # measure may name it; the resident, or a member of their household (whose handle stays in the
            # register), is named by the counter
            requester=request.requester
            if request.kind in ("proxy", "third-party") and request.requester
            else f"municipality/{request.counter}",
            requester_kind=POLICY_KIND[request.kind],  # type: ignore[arg-type]
            action="certificate",
            purpose=request.purpose,
            items=request.items,
            at=datetime.now(UTC),
            municipality=request.home,
            count=request.copies,
            self_service=request.self_service,
        )
        decision = self.pdp.decide(asked)
        screened = self.policy.screen(request.handle, decision, asked, pdp=self.pdp) if decision.allow else decision
        if not screened.allow:
            reasons = screened.reasons or ("refused",)
            certificate_refused(
                self.register, request.handle, purpose=request.purpose, counter=request.counter, reasons=reasons
            )
            raise Refused(f"the certificate is refused ({', '.join(reasons)})", field="for")
        if request.scope != "household":
            return Allowed(items=screened.items, legal_basis=screened.legal_basis)
        # 世帯全員: the row's decision holds for every member, and each member's own protections narrow it — a
        # member under a support measure is withheld from a third party (recorded with that member, a clerk's
        # task, nothing on the certificate says so); 本人通知 for each member shown who registered for it
        members = [request.handle]
        for member in self.register.household_members(request.handle, purpose=request.purpose):
            if member == request.handle:
                continue
            each = self.policy.screen(member, decision, asked, pdp=self.pdp)
            if each.allow:
                members.append(member)
            else:
                certificate_refused(
                    self.register,
                    member,
                    purpose=request.purpose,
                    counter=request.counter,
                    reasons=each.reasons or ("refused",),
                )
        return Allowed(items=screened.items, legal_basis=screened.legal_basis, members=tuple(members))

    def refuse(self, request: Request, reasons: tuple[str, ...]) -> None:
        from sekisho.registry.certificates import certificate_refused

        certificate_refused(
            self.register, request.handle, purpose=request.purpose, counter=request.counter, reasons=reasons
        )


class RegisterSource:
    def __init__(self, register: RegisterService) -> None:
        self.register = register

    def items(self, request: Request, *, allowed: Allowed) -> dict[str, Any]:
        from sekisho.registry.certificates import certificate_items, household_certificate_items

        if request.scope == "household":
            members = household_certificate_items(
                self.register,
                request.handle,
                members=allowed.members,
                items=allowed.items,
                purpose=request.purpose,
                counter=request.counter,
                legal_basis=allowed.legal_basis,
            )
            return {"members": members}
        return certificate_items(
            self.register,
            request.handle,
            items=allowed.items,
            purpose=request.purpose,
            counter=request.counter,
            legal_basis=allowed.legal_basis,
            closed=request.closed,
        )


# --- the PKI's time-stamp authority and CRL ---------------------------------------------------------------------


def pki_in_process(home: Home) -> tuple[AskTimestamp, FetchCrl]:
    from cryptography.hazmat.primitives.serialization import Encoding

    from sekisho.pki.hierarchy import Pki
    from sekisho.pki.status import crl
    from sekisho.pki.tsa import open_tsa

    pki = Pki.open(home)
    opened: list[Any] = []

    async def ask(request_der: bytes) -> bytes:
        if not opened:
            opened.append(open_tsa(pki))
        reply: bytes = await opened[0].async_respond(request_der)
        return reply

    return ask, lambda: crl(pki, ca_id="org").public_bytes(Encoding.DER)


def pki_over_http(home: Home, party: str) -> tuple[AskTimestamp, FetchCrl]:
    """The network's PKI as ``party`` reaches it (mutual TLS; both endpoints are public, no terminal signs)."""
    import asyncio

    from sekisho.node.transport import Peers, request

    peers = Peers(home.root, party)

    def post(der: bytes) -> bytes:
        answer = request(
            peers.client("pki"),
            "POST",
            "/pki/tsa",
            content=der,
            headers={"Content-Type": "application/timestamp-query"},
        )
        if answer.status_code != 200:
            raise Unavailable("the time-stamp authority gave no timestamp", field="timestamp")
        return answer.content

    async def ask(der: bytes) -> bytes:
        return await asyncio.to_thread(post, der)

    def fetch() -> bytes:
        answer = request(peers.client("pki"), "GET", "/pki/crl/org.crl")
        if answer.status_code != 200:
            raise Unavailable("the PKI gave no CRL", field="revocation")
        return answer.content

    return ask, fetch


# --- the desk -----------------------------------------------------------------------------------------------------


def open_desk(
    home: Home,
    code: str,
    *,
    passphrase: bytes,
    pki: tuple[AskTimestamp, FetchCrl] | None = None,
    access_log: Any = None,
) -> Desk:
    """Municipality ``code``'s desk: its register, policy tables and signer, and the PKI (in-process by default).
    ``access_log``: the log's client the register's access records go to (default: ``sekisho.node.registers``)."""
    from sekisho.node.registers import open_register
    from sekisho.policy.municipality import MunicipalityPolicy
    from sekisho.policy.service import open_decision_point
    from sekisho.registry.service import Actor

    ask, fetch = pki or pki_in_process(home)
    signer = DocumentSigner.open(
        municipality_root(home, code), municipality=code, passphrase=passphrase, ask_timestamp=ask, fetch_crl=fetch
    )
    extra = {} if access_log is None else {"access_log": access_log}
    register = open_register(home, code, actor=Actor(clerk="certificates"), **extra)
    policy = MunicipalityPolicy.open(home, code, households=register.household_members)
    gate = PolicyGate(pdp=open_decision_point(home), policy=policy, register=register)
    return Desk(signer=signer, gate=gate, source=RegisterSource(register))


def mount_residence(app: FastAPI, home: Home, code: str) -> None:
    """``/certificates/<code>`` on the municipality's node; the desk opens on the first request (with
    ``SEKISHO_PASSPHRASE``, after `sekisho certificate init`), its PKI over the network's HTTP."""
    from sekisho.auditlog.keys import LOG_PARTY
    from sekisho.certificates.api import router
    from sekisho.keyfile import passphrase_from_env
    from sekisho.node.httpnet import HttpNetwork

    lock = threading.Lock()
    opened: list[Desk] = []

    def desk() -> Desk:
        with lock:
            if not opened:
                secret = passphrase_from_env()
                if not secret:
                    raise Unavailable("the signer's key file needs SEKISHO_PASSPHRASE", field="passphrase")
                # the access records go to the log's process, as the node's other services' do: opening the
                # log in this process would make it a second writer (refused outright on PostgreSQL)
                log = None
                # (a node served alone, with no network's run file, keeps the home's log in-process as before)
                if (home.root / LOG_PARTY / "log.json").exists() and (home.root / "run" / "network.json").exists():
                    log = HttpNetwork(home.root, f"municipality/{code}").access_log()
                party = f"municipality/{code}"
                opened.append(open_desk(home, code, passphrase=secret, pki=pki_over_http(home, party), access_log=log))
            return opened[0]

    app.include_router(router(code, desk))


# --- the counter --------------------------------------------------------------------------------------------------


def request_certificate(
    home: Home, request: Request, *, form: Form, passphrase: Callable[[], bytes], over_network: bool | None = None
) -> Issued:
    """The counter ``request.counter`` asks the home municipality.  Over the network when one runs under ``home``
    (``over_network=None``: when its run file exists), else in-process."""
    from sekisho.certificates.service import Issued

    if over_network is None:
        over_network = (home.root / "run" / "network.json").exists()
    if not over_network:
        desk = open_desk(home, request.home, passphrase=passphrase())
        try:
            return desk.issue(request, form=form)
        finally:
            desk.gate.register.engine.dispose()  # type: ignore[attr-defined]
    from sekisho.certificates.api import PREFIX
    from sekisho.node.httpnet import HttpNetwork
    from sekisho.node.transport import request as send
    from sekisho.problems import raise_for_problem

    body = {**request.to_json(), "form": form}
    for key in ("home",):
        body.pop(key)
    with HttpNetwork(home.root, f"municipality/{request.counter}") as net:
        client = net.client(f"municipality/{request.home}", signed=True)
        answer = send(client, "POST", f"{PREFIX}/{request.home}/issue", json=body)
        raise_for_problem(answer)
        return Issued(serial=answer.headers.get("X-Certificate-Serial", ""), form=form, body=answer.content)
