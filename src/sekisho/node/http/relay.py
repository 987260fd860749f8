"""A conversion relayed through the transcryptors over HTTP: ``POST /relay`` at T1, which hands on to T2.

A caller reaches T1 only, T1 reaches T2 only, and only T2 reaches the locator (``sekisho.wire.guard.CALLERS``), so
a conversion that ends at the locator — an agency's identity confirmation, a cross-reference's record leg — is one
request that travels agency → T1 → T2 → locator → municipality and whose answer comes back the same way; the
converted batch never returns to the agency.  The request frame's header carries ``then``, where the last hop's
result goes:

    {"to": "caller"}                         the result frame back to the caller (enrolment, an A → B leg, an index)
    {"to": "confirm", "query": {...}}        to the locator's /confirm (IdentityQuery) -> {"answers": [...]}
    {"to": "cross-reference", "query": ...}  to the locator's /cross-reference (CrossReferenceQuery) -> {"statuses"}

:class:`HttpRelay` is the client (a :class:`~sekisho.protocols.conversion.Relay` and an agency's
:class:`~sekisho.protocols.agency.LocatorRoute`); :func:`t1_onward` and :func:`t2_onward` are what each
transcryptor's ``/relay`` does with its result (``sekisho.pseudonyms.api``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from sekisho.agency.service import party_of
from sekisho.errors import Forbidden, IntegrityError, InvalidInput
from sekisho.pep.flows import checked_relay
from sekisho.problems import send
from sekisho.protocols import agency_messages as messages
from sekisho.protocols import frames
from sekisho.protocols.agency import CrossReferenceQuery, CrossReferenceStatus, IdentityAnswer, IdentityQuery
from sekisho.protocols.conversion import REGISTRY_DOMAIN, ConversionRequest, HopResult

PATH = "/relay"
_FRAME = {"content-type": frames.MEDIA_TYPE}
#: where a relayed result may go (the header's ``then.to``)
CALLER, CONFIRM, CROSS_REFERENCE = "caller", "confirm", "cross-reference"


def _post(client: httpx.Client, request: ConversionRequest, then: Mapping[str, Any]) -> httpx.Response:
    return send(client, "POST", PATH, content=frames.request_frame(request, then=dict(then)), headers=_FRAME)


class HttpRelay:
    """T1's ``/relay`` through ``client`` (base URL: T1; signed by the caller's terminal: the conversion is an
    access).  T1 also uses it towards T2 (:func:`t1_onward`)."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def relay(self, request: ConversionRequest) -> HopResult:
        response = _post(self._client, request, {"to": CALLER})
        header, records = frames.unpack(response.content)
        return checked_relay(request, frames.read_result(header, records))

    def confirm(self, request: ConversionRequest, query: IdentityQuery) -> list[IdentityAnswer]:
        then = {"to": CONFIRM, "query": messages.identity_query_json(query)}
        got = messages.answers(_post(self._client, request, then).json())
        _same_count(got, request)
        return got

    def cross_reference(self, request: ConversionRequest, query: CrossReferenceQuery) -> list[CrossReferenceStatus]:
        then = {"to": CROSS_REFERENCE, "query": messages.crossref_query_json(query)}
        got = messages.statuses(_post(self._client, request, then).json())
        _same_count(got, request)
        return got

    def forward(self, request: ConversionRequest, then: Mapping[str, Any]) -> tuple[bytes, str]:
        """The request (already converted by the sender) to this relay, ``then`` unchanged: the answer as is."""
        response = _post(self._client, request, then)
        return response.content, response.headers.get("content-type", frames.MEDIA_TYPE)

    def __repr__(self) -> str:
        return "HttpRelay()"


def _same_count(got: list[Any], request: ConversionRequest) -> None:
    if len(got) != len(request.ciphertexts):
        raise IntegrityError("the locator answered for another number of persons", field="answers")


def _next(request: ConversionRequest, result: HopResult) -> ConversionRequest:
    # the next hop takes this one's output and key, as convert_batch hands it on in-process
    return replace(request, ciphertexts=result.ciphertexts, key=result.key)


def t1_onward(t2: Callable[[], HttpRelay]) -> Callable[[ConversionRequest, HopResult, Mapping[str, Any]], Any]:
    """T1's ``/relay``: its result to T2's ``/relay``, ``then`` unchanged; T2's answer back as it came."""

    def onward(request: ConversionRequest, result: HopResult, then: Mapping[str, Any]) -> tuple[bytes, str]:
        return t2().forward(_next(request, result), then)

    return onward


def t2_onward(locator: Callable[[], httpx.Client]) -> Callable[[ConversionRequest, HopResult, Mapping[str, Any]], Any]:
    """T2's ``/relay``, the last hop: its result back to the caller (through T1), or to the locator with the query."""

    def onward(request: ConversionRequest, result: HopResult, then: Mapping[str, Any]) -> tuple[bytes, str]:
        to = then.get("to")
        if to == CALLER:
            return frames.result_frame(result), frames.MEDIA_TYPE
        if to not in (CONFIRM, CROSS_REFERENCE):
            raise InvalidInput("must be caller, confirm or cross-reference", field="then")
        if request.to_domain != REGISTRY_DOMAIN:
            # only a batch now under the registry's key means anything to the locator
            raise InvalidInput("only a conversion to the registry goes to the locator", field="then")
        # the query is read here as the locator reads it (a malformed one goes nowhere), and it must be asked by
        # the agency whose batch this is: the municipalities decide on the query's requester
        query: IdentityQuery | CrossReferenceQuery
        if to == CONFIRM:
            query = messages.identity_query(then.get("query"))
            header = messages.identity_query_json(query)
        else:
            query = messages.crossref_query(then.get("query"))
            header = messages.crossref_query_json(query)
        if party_of(query.requester) != request.requester:
            raise Forbidden("the query names another requester than the conversion", field="requester")
        body = frames.result_frame(result, query=header)
        response = send(locator(), "POST", f"/{to}", content=body, headers=_FRAME)
        return response.content, response.headers.get("content-type", "application/json")

    return onward
