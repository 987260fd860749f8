"""A municipality's change notices as agencies pull them over HTTP: ``POST /notices/feed`` on the municipality's
node (the agency's certificate and terminal signature; an agency reads only its own feed) and its client,
:class:`HttpNoticeFeed` (:class:`~sekisho.protocols.agency.NoticeFeed`).

The cursor is an outbox event id of that municipality, not a time: the agency asks for what came after the last
page it applied.  A page is handed out again until the agency moves past it, so delivery is at-least-once and the
agency's effect exactly once (it keeps the first copy of a notice id).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from sekisho.agency.api import NoticeBatchBody
from sekisho.errors import Refused
from sekisho.node.http.base import send
from sekisho.protocols.agency import NoticeFeed, NoticeFeedPage
from sekisho.wire.guard import Caller, terminal_caller

PATH = "/notices/feed"


class FeedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agency: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
    after: Annotated[int, Field(ge=0, le=2**62)] = 0
    limit: Annotated[int, Field(ge=1, le=10_000)] = 1000


class FeedPageBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    batches: list[NoticeBatchBody]
    cursor: Annotated[int, Field(ge=0)]

    @classmethod
    def of(cls, page: NoticeFeedPage) -> FeedPageBody:
        return cls(batches=[NoticeBatchBody.of(b) for b in page.batches], cursor=page.cursor)

    def to_domain(self) -> NoticeFeedPage:
        return NoticeFeedPage(batches=tuple(b.to_domain() for b in self.batches), cursor=self.cursor)


def feed_router(feed: Callable[[], NoticeFeed]) -> APIRouter:
    """The feed route over ``feed()`` (the municipality's release service, opened per request)."""
    api = APIRouter(tags=["notices"])

    @api.post(PATH, response_model=FeedPageBody)
    def notice_feed(body: FeedRequest, agency: Annotated[Caller, Depends(terminal_caller)]) -> FeedPageBody:
        """The notices this agency is entitled to after its cursor (access recorded before the page leaves)."""
        if agency.party.name != f"agency/{body.agency}":
            raise Refused("an agency reads only its own notice feed", field="agency")
        return FeedPageBody.of(feed().notice_feed(body.agency, after=body.after, limit=body.limit))

    return api


class HttpNoticeFeed:
    """:class:`~sekisho.protocols.agency.NoticeFeed` over ``client`` (base URL: the municipality's node)."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def notice_feed(self, agency: str, *, after: int = 0, limit: int = 1000) -> NoticeFeedPage:
        answer = send(self._client, "POST", PATH, json={"agency": agency, "after": after, "limit": limit})
        return FeedPageBody.model_validate(answer.json()).to_domain()

    def __repr__(self) -> str:
        return "HttpNoticeFeed()"
