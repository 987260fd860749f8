"""Wiring of the credential issuer into a municipality's node (the composition root joins register and issuer):
the issuer reads the register only through ``RegisterService.credential_items`` (access record first) and
``sekisho.registry.events.CredentialEvents`` (the events that revoke), and keeps its state in ``vc_`` tables of
the municipality's database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI

from sekisho.config import Home
from sekisho.errors import SekishoError

if TYPE_CHECKING:
    from sekisho.credentials.issuer import Issuer
    from sekisho.credentials.store import SqlState
    from sekisho.registry.service import RegisterService


_NODE_LOG: Any = object()


def open_issuer(
    home: Home, code: str, *, passphrase: bytes, access_log: Any = _NODE_LOG
) -> tuple[Issuer, SqlState, RegisterService]:
    """Municipality ``code``'s issuer (key from its directory, state in its database) and its register, whose
    access records go to ``access_log`` — by default the node's (``sekisho.node.municipality.node_access_log``:
    the log's process over HTTP when a network runs under the home, never a second writer on its database)."""
    from sekisho.credentials.issuer import Issuer
    from sekisho.credentials.store import open_state
    from sekisho.node.municipality import node_access_log
    from sekisho.node.registers import open_register
    from sekisho.registry.events import CredentialEvents
    from sekisho.registry.service import party_of

    if access_log is _NODE_LOG:
        access_log = node_access_log(home, code)
    register = open_register(home, code, access_log=access_log)
    state = open_state(home, register.code)
    issuer = Issuer.open(
        home.party_dir(party_of(register.code), create=False),
        passphrase=passphrase,
        state=state,
        events=CredentialEvents(register.engine),
    )
    return issuer, state, register


def issuer_router(home: Home, code: str, *, access_log: Any = _NODE_LOG) -> APIRouter | None:
    """The OpenID4VCI router of municipality ``code``, or None while its issuer is not set up (no key, no
    passphrase): the node still serves its other endpoints."""
    from sekisho.credentials.api import router
    from sekisho.credentials.oid4vci import Flow
    from sekisho.keyfile import passphrase_from_env

    secret = passphrase_from_env()
    if secret is None:
        return None
    try:
        issuer, state, register = open_issuer(home, code, passphrase=secret, access_log=access_log)
    except SekishoError:
        return None
    return router(Flow(issuer, register, state))


def mount_credentials(app: FastAPI, home: Home, code: str, *, access_log: Any = _NODE_LOG) -> None:
    router = issuer_router(home, code, access_log=access_log)
    if router is not None:
        app.include_router(router)
