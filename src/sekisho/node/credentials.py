"""Wiring of the credential issuer into a municipality's node (the composition root joins register and issuer):
the issuer reads the register only through ``RegisterService.credential_items`` (access record first)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from sekisho.config import Home
from sekisho.errors import SekishoError


def issuer_router(home: Home, code: str) -> APIRouter | None:
    """The OpenID4VCI router of municipality ``code``, or None while its issuer is not set up (no key, no
    passphrase): the node still serves its other endpoints."""
    from sekisho.credentials.api import router
    from sekisho.credentials.issuer import Issuer
    from sekisho.credentials.oid4vci import Flow
    from sekisho.pseudonyms.keyfile import passphrase_from_env
    from sekisho.registry.service import RegisterService, party_of

    secret = passphrase_from_env()
    if secret is None:
        return None
    try:
        issuer = Issuer.open(home.party_dir(party_of(code), create=False), passphrase=secret)
        register = RegisterService.open(home, code)
    except SekishoError:
        return None
    return router(Flow(issuer, register))


def mount_credentials(app: FastAPI, home: Home, code: str) -> None:
    router = issuer_router(home, code)
    if router is not None:
        app.include_router(router)
