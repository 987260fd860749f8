"""An agency node as a municipality (or a cross-reference) reaches it over HTTP (``sekisho.agency.api``)."""

from __future__ import annotations

import httpx

from sekisho.agency.api import (
    PREFIX,
    CrossReferenceBody,
    EnrolmentBody,
    ItemsAnswer,
    NoticeBatchBody,
    Received,
)
from sekisho.node.http.base import send
from sekisho.protocols.agency import CrossReferenceDelivery, EnrolmentDelivery, NoticeBatch
from sekisho.protocols.conversion import check_purpose


class HttpAgency:
    """:class:`~sekisho.protocols.agency.AgencyEndpoint` and
    :class:`~sekisho.protocols.agency.CrossReferenceReceiver` over ``client`` (base URL: the agency node)."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def requested_items(self, purpose: str) -> tuple[str, ...]:
        # checked here as the agency checks it: only a purpose code goes into the path (one segment, no person)
        answer = send(self._client, "GET", f"{PREFIX}/purposes/{check_purpose(purpose)}/items")
        return tuple(ItemsAnswer.model_validate(answer.json()).items)

    def receive_enrolment(self, delivery: EnrolmentDelivery) -> int:
        body = EnrolmentBody.of(delivery).model_dump(mode="json")
        return Received.model_validate(send(self._client, "POST", f"{PREFIX}/enrolments", json=body).json()).new

    def receive_notices(self, batch: NoticeBatch) -> int:
        body = NoticeBatchBody.of(batch).model_dump(mode="json")
        return Received.model_validate(send(self._client, "POST", f"{PREFIX}/notices", json=body).json()).new

    def receive_cross_reference(self, delivery: CrossReferenceDelivery) -> int:
        body = CrossReferenceBody.of(delivery).model_dump(mode="json")
        answer = send(self._client, "POST", f"{PREFIX}/cross-references", json=body)
        return Received.model_validate(answer.json()).new

    def __repr__(self) -> str:
        return "HttpAgency()"
