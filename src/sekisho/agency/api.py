"""The agency node's HTTP API: what a municipality (and a cross-reference) pushes to an agency.

The same protocols as :class:`~sekisho.protocols.agency.AgencyEndpoint` and
:class:`~sekisho.protocols.agency.CrossReferenceReceiver`, one route per call, with the messages as JSON bodies
(ciphertexts in base64).  Nothing personal is in a path: a purpose is a vocabulary word; persons travel only as
ciphertexts and released items inside the body.  The message models here are the wire format of both sides: the
HTTP client in the composition root (``sekisho.node.http.agency``) builds its bodies with them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Protocol

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from sekisho.errors import IntegrityError, InvalidInput
from sekisho.protocols.agency import (
    AgencyEndpoint,
    CrossReferenceDelivery,
    CrossReferenceReceiver,
    EnrolmentDelivery,
    HopResult,
    Notice,
    NoticeBatch,
)

PREFIX = "/agency"
#: a purpose code, the only thing a path carries (``sekisho.protocols.conversion.check_purpose``)
PURPOSE = r"^[a-z][a-z0-9_.-]{0,63}$"
#: persons per message: a municipality sends its deliveries in batches well below this
MAX_BATCH = 100_000

Id = Annotated[str, Field(min_length=1, max_length=200)]
Word = Annotated[str, Field(min_length=1, max_length=100)]
B64 = Annotated[str, Field(max_length=1_000)]
ItemMap = dict[Annotated[str, Field(max_length=50)], Annotated[str, Field(max_length=1_000)]]


class AgencyNode(AgencyEndpoint, CrossReferenceReceiver, Protocol):
    """What the agency node serves: an agency as municipalities and cross-references reach it."""


def _b64(text: str, *, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("must be base64", field=field) from None


def _text(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HopResultBody(_Body):
    party: Word
    request_id: Id
    ciphertexts: Annotated[list[B64], Field(max_length=MAX_BATCH)]
    key: B64

    @classmethod
    def of(cls, result: HopResult) -> HopResultBody:
        return cls(
            party=result.party,
            request_id=result.request_id,
            ciphertexts=[_text(c) for c in result.ciphertexts],
            key=_text(result.key),
        )

    def to_domain(self, *, field: str) -> HopResult:
        return HopResult(
            party=self.party,
            request_id=self.request_id,
            ciphertexts=tuple(_b64(c, field=f"{field}.ciphertexts") for c in self.ciphertexts),
            key=_b64(self.key, field=f"{field}.key"),
        )


class EnrolmentBody(_Body):
    delivery_id: Id
    purpose: Word
    result: HopResultBody
    items: Annotated[list[ItemMap], Field(max_length=MAX_BATCH)]
    released: Annotated[list[Word], Field(max_length=50)] = []

    @classmethod
    def of(cls, d: EnrolmentDelivery) -> EnrolmentBody:
        return cls(
            delivery_id=d.delivery_id,
            purpose=d.purpose,
            result=HopResultBody.of(d.result),
            items=[dict(i) for i in d.items],
            released=list(d.released),
        )

    def to_domain(self) -> EnrolmentDelivery:
        return EnrolmentDelivery(
            delivery_id=self.delivery_id,
            purpose=self.purpose,
            result=self.result.to_domain(field="result"),
            items=tuple(self.items),
            released=tuple(self.released),
        )


class NoticeBody(_Body):
    notice_id: Id
    kind: Word
    event_date: date
    items: ItemMap = {}
    recorded_at: datetime | None = None
    source: Annotated[str, Field(max_length=100)] | None = None
    sequence: int | None = None
    move: Annotated[str, Field(max_length=200)] | None = None

    @classmethod
    def of(cls, n: Notice) -> NoticeBody:
        return cls(
            notice_id=n.notice_id,
            kind=n.kind,
            event_date=n.event_date,
            items=dict(n.items),
            recorded_at=n.recorded_at,
            source=n.source,
            sequence=n.sequence,
            move=n.move,
        )

    def to_domain(self) -> Notice:
        return Notice(
            notice_id=self.notice_id,
            kind=self.kind,
            event_date=self.event_date,
            items=dict(self.items),
            recorded_at=self.recorded_at,
            source=self.source,
            sequence=self.sequence,
            move=self.move,
        )


class NoticeBatchBody(_Body):
    purpose: Word
    result: HopResultBody
    notices: Annotated[list[NoticeBody], Field(max_length=MAX_BATCH)]

    @classmethod
    def of(cls, b: NoticeBatch) -> NoticeBatchBody:
        return cls(purpose=b.purpose, result=HopResultBody.of(b.result), notices=[NoticeBody.of(n) for n in b.notices])

    def to_domain(self) -> NoticeBatch:
        return NoticeBatch(
            purpose=self.purpose,
            result=self.result.to_domain(field="result"),
            notices=tuple(n.to_domain() for n in self.notices),
        )


class CrossReferenceBody(_Body):
    request_id: Id
    requester: Word
    purpose: Word
    warrant: Id
    positions: Annotated[list[int], Field(max_length=MAX_BATCH)]
    result: HopResultBody

    @classmethod
    def of(cls, d: CrossReferenceDelivery) -> CrossReferenceBody:
        return cls(
            request_id=d.request_id,
            requester=d.requester,
            purpose=d.purpose,
            warrant=d.warrant,
            positions=list(d.positions),
            result=HopResultBody.of(d.result),
        )

    def to_domain(self) -> CrossReferenceDelivery:
        return CrossReferenceDelivery(
            request_id=self.request_id,
            requester=self.requester,
            purpose=self.purpose,
            warrant=self.warrant,
            positions=tuple(self.positions),
            result=self.result.to_domain(field="result"),
        )


class ItemsAnswer(_Body):
    items: list[str]


class Received(_Body):
    """How many persons (or notices) were new to the agency."""

    new: int


@contextlib.contextmanager
def _sender_data() -> Iterator[None]:
    """A pushed batch that fails the agency's checks (under another domain's key, say) is the sender's bad input:
    a 422 problem, not a server error."""
    try:
        yield
    except IntegrityError as exc:
        raise InvalidInput(exc.message, field=exc.field) from None


def router(agency: AgencyNode) -> APIRouter:
    """The agency's routes over ``agency`` (an :class:`~sekisho.agency.service.AgencyService` in the node).

    Plain ``def`` handlers: FastAPI runs them on worker threads, so a decryption batch does not stall the loop."""
    api = APIRouter(prefix=PREFIX, tags=["agency"])

    @api.get("/purposes/{purpose}/items", response_model=ItemsAnswer)
    def requested_items(purpose: Annotated[str, Path(pattern=PURPOSE)]) -> ItemsAnswer:
        """The items the agency asks for when it enrols residents for ``purpose``."""
        return ItemsAnswer(items=list(agency.requested_items(purpose)))

    @api.post("/enrolments", response_model=Received)
    def receive_enrolment(body: EnrolmentBody) -> Received:
        """An enrolment delivery from a municipality (idempotent per delivery id)."""
        with _sender_data():
            return Received(new=agency.receive_enrolment(body.to_domain()))

    @api.post("/notices", response_model=Received)
    def receive_notices(body: NoticeBatchBody) -> Received:
        """A batch of change notices (a re-delivered notice id is ignored)."""
        with _sender_data():
            return Received(new=agency.receive_notices(body.to_domain()))

    @api.post("/cross-references", response_model=Received)
    def receive_cross_reference(body: CrossReferenceBody) -> Received:
        """A cross-reference's result for this agency as B (idempotent per request id and position)."""
        with _sender_data():
            return Received(new=agency.receive_cross_reference(body.to_domain()))

    return api
