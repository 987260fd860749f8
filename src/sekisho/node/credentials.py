"""Wiring of the credential issuer into a municipality's node (the composition root joins register and issuer):
the issuer reads the register only through ``RegisterService.credential_items`` (access record first) and
``sekisho.registry.events.CredentialEvents`` (the events that revoke), and keeps its state in ``vc_`` tables of
the municipality's database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI

from sekisho.config import Home
from sekisho.errors import SekishoError

if TYPE_CHECKING:
    from sekisho.credentials.issuer import Issuer
    from sekisho.credentials.store import SqlState
    from sekisho.registry.service import RegisterService


def open_issuer(home: Home, code: str, *, passphrase: bytes) -> tuple[Issuer, SqlState, RegisterService]:
    """Municipality ``code``'s issuer (key from its directory, state in its database) and its register."""
    from sekisho.credentials.issuer import Issuer
    from sekisho.credentials.store import open_state
    from sekisho.registry.events import CredentialEvents
    from sekisho.registry.service import RegisterService, party_of

    register = RegisterService.open(home, code)
    state = open_state(home, register.code)
    issuer = Issuer.open(
        home.party_dir(party_of(register.code), create=False),
        passphrase=passphrase,
        state=state,
        events=CredentialEvents(register.engine),
    )
    return issuer, state, register


def issuer_router(home: Home, code: str) -> APIRouter | None:
    """The OpenID4VCI router of municipality ``code``, or None while its issuer is not set up (no key, no
    passphrase): the node still serves its other endpoints."""
    from sekisho.credentials.api import router
    from sekisho.credentials.oid4vci import Flow
    from sekisho.keyfile import passphrase_from_env

    secret = passphrase_from_env()
    if secret is None:
        return None
    try:
        issuer, state, register = open_issuer(home, code, passphrase=secret)
    except SekishoError:
        return None
    return router(Flow(issuer, register, state))


def mount_credentials(app: FastAPI, home: Home, code: str) -> None:
    router = issuer_router(home, code)
    if router is not None:
        app.include_router(router)
