"""The prefectures' published login data over HTTP, on the PKI's node: ``GET /login/issuers/<prefecture>`` is the
AnonCreds issuer's public document (schema, credential definition, revocation registry and its newest status list:
``sekisho.credentials.anon.PublicIssuerData``), which every relying party fetches to check a card login
(docs/login.md).  Public — a relying party holds no party certificate — and the same document for everybody, so a
fetch says nothing about which card logs in where.  The document is the file ``sekisho login`` keeps up to date
(``<home>/pki/anoncreds/<prefecture>/public.json``), read at each request: a revocation shows at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from sekisho.config import Home
from sekisho.credentials.anon import check_prefecture
from sekisho.errors import NotFound

MEDIA = "application/json"


def public_document(home: Home, prefecture: str) -> Path:
    return home.party_dir("pki", create=False) / "anoncreds" / check_prefecture(prefecture) / "public.json"


def router(home: Home) -> APIRouter:
    r = APIRouter(prefix="/login", tags=["login"])

    @r.get("/issuers/{prefecture}", response_class=Response, responses={200: {"content": {MEDIA: {}}}})
    def issuer(prefecture: str) -> Any:
        try:
            body = public_document(home, prefecture).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound("this prefecture publishes no login issuer here", field="prefecture") from None
        # no-cache: a revocation must reach relying parties at their next login
        return Response(body, media_type=MEDIA, headers={"Cache-Control": "no-cache"})

    return r
