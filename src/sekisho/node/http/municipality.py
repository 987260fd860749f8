"""A municipality node over HTTP (``sekisho.registry.responder_api``), as the locator reaches it."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from sekisho.errors import IntegrityError
from sekisho.problems import send
from sekisho.protocols import agency_messages as messages
from sekisho.protocols import frames
from sekisho.protocols.agency import CrossReferenceQuery, CrossReferenceStatus, IdentityAnswer, IdentityQuery

_FRAME = {"content-type": frames.MEDIA_TYPE}


class HttpResponder:
    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def answer_identity(self, rps: Sequence[bytes], query: IdentityQuery) -> list[IdentityAnswer]:
        body = frames.points_frame({"query": messages.identity_query_json(query)}, rps)
        got = messages.answers(send(self._client, "POST", "/identity", content=body, headers=_FRAME).json())
        if len(got) != len(rps):
            raise IntegrityError("the municipality answered for another number of persons", field="answers")
        return got

    def record_cross_reference(self, rps: Sequence[bytes], query: CrossReferenceQuery) -> list[CrossReferenceStatus]:
        body = frames.points_frame({"query": messages.crossref_query_json(query)}, rps)
        got = messages.statuses(send(self._client, "POST", "/cross-reference", content=body, headers=_FRAME).json())
        if len(got) != len(rps):
            raise IntegrityError("the municipality answered for another number of persons", field="statuses")
        return got
