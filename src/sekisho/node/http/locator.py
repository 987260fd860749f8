"""The locator over HTTP (``sekisho.locator.api``): as agencies reach it (:class:`Locator`,
:class:`CrossReferenceLocator`) and as one municipality reaches it (:class:`RegistryIndex`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx

from sekisho.errors import IntegrityError
from sekisho.problems import send
from sekisho.protocols import agency_messages as messages
from sekisho.protocols import frames
from sekisho.protocols.agency import CrossReferenceQuery, CrossReferenceStatus, IdentityAnswer, IdentityQuery
from sekisho.protocols.conversion import ConversionRequest, HopResult, Hops
from sekisho.protocols.registry import IndexEntry

_FRAME = {"content-type": frames.MEDIA_TYPE}

#: the municipality's index request for a batch of PPs (re-randomised, under its index grant)
IndexRequestFactory = Callable[[Sequence[bytes]], ConversionRequest]


def _checked(answers: list[object], n: int) -> None:
    if len(answers) != n:
        raise IntegrityError("the locator answered for another number of persons", field="answers")


class HttpLocator:
    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def confirm(self, result: HopResult, query: IdentityQuery) -> list[IdentityAnswer]:
        body = frames.result_frame(result, query=messages.identity_query_json(query))
        got = messages.answers(send(self._client, "POST", "/confirm", content=body, headers=_FRAME).json())
        _checked(list(got), len(result.ciphertexts))
        return got

    def cross_reference(self, result: HopResult, query: CrossReferenceQuery) -> list[CrossReferenceStatus]:
        body = frames.result_frame(result, query=messages.crossref_query_json(query))
        got = messages.statuses(send(self._client, "POST", "/cross-reference", content=body, headers=_FRAME).json())
        _checked(list(got), len(result.ciphertexts))
        return got

    def index(self, result: HopResult, *, requester: str) -> list[IndexEntry]:
        body = frames.result_frame(result, requester=requester)
        response = send(self._client, "POST", "/index", content=body, headers=_FRAME)
        header, records = frames.unpack(response.content)
        rps = frames.read_points(header, records)
        here = header.get("here")
        if not isinstance(here, list) or len(here) != len(rps) or not all(isinstance(h, bool) for h in here):
            raise IntegrityError("the locator's index answer is malformed", field="here")
        _checked(list(rps), len(result.ciphertexts))
        return [IndexEntry(rp=rp, here=h) for rp, h in zip(rps, here, strict=True)]

    def hand_over(self, rp: bytes, *, requester: str, to: str) -> None:
        body = frames.points_frame({"requester": requester, "to": to}, [rp])
        send(self._client, "POST", "/hand-over", content=body, headers=_FRAME)


class HttpRegistryIndex:
    """The registry index as municipality ``code``: its PPs R → R through the two hops, then the locator."""

    def __init__(self, locator: HttpLocator, *, code: str, hops: Hops, prepare: IndexRequestFactory) -> None:
        self._locator = locator
        self._code = code
        self._hops = hops
        self._prepare = prepare

    def index(self, pps: Sequence[bytes]) -> list[IndexEntry]:
        from sekisho.pep.flows import convert_batch

        if not pps:
            return []
        result = convert_batch(self._prepare(pps), self._hops)
        return self._locator.index(result, requester=self._code)

    def hand_over(self, rp: bytes, *, to: str) -> None:
        self._locator.hand_over(rp, requester=self._code, to=to)
