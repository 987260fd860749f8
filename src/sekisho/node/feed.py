"""A municipality's change notices as agencies pull them over HTTP: ``POST /notices/feed`` on the municipality's
node (the agency's certificate and terminal signature; an agency reads only its own feed) and its client,
:class:`HttpNoticeFeed` (:class:`~sekisho.protocols.agency.NoticeFeed`).

The cursor is an outbox event id of that municipality, not a time: the agency asks for what came after the last
page it applied.  A page is handed out again until the agency moves past it, so delivery is at-least-once and the
agency's effect exactly once (it keeps the first copy of a notice id).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from sekisho.agency.api import NoticeBatchBody
from sekisho.config import Home
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


#: ``(municipality, after, cursor, notices)``: told of each page that moves an agency's cursor
OnPage = Callable[[str, int, int, int], None]


class _Told:
    """A feed that tells ``on_page`` of each page that moves the cursor (the CLI's line a page)."""

    def __init__(self, feed: NoticeFeed, code: str, on_page: OnPage | None) -> None:
        self._feed, self._code, self._on_page = feed, code, on_page

    def notice_feed(self, agency: str, *, after: int = 0, limit: int = 1000) -> NoticeFeedPage:
        page = self._feed.notice_feed(agency, after=after, limit=limit)
        if self._on_page is not None and page.cursor > after:
            self._on_page(self._code, after, page.cursor, sum(len(b.notices) for b in page.batches))
        return page


@contextmanager
def notice_feeds(
    home: Home,
    agency: str,
    codes: Sequence[str] | None = None,
    *,
    passphrase: bytes,
    on_page: OnPage | None = None,
) -> Iterator[list[tuple[str, NoticeFeed]]]:
    """Agency ``agency``'s notice feeds at municipalities ``codes`` (default: every municipality of the network,
    or of the home): over HTTP as the agency's party (mutual TLS, its terminal's signature) when a network runs
    under the home (`sekisho up`'s run file), else each municipality's release service in this process."""
    from sekisho.node.municipality import networked

    if networked(home):
        from sekisho.node.httpnet import HttpNetwork
        from sekisho.node.supervisor import read_run_file

        if codes is None:
            parties = [p["party"] for p in (read_run_file(home.root) or {}).get("parties", [])]
            codes = sorted(p.split("/", 1)[1] for p in parties if p.startswith("municipality/"))
        with HttpNetwork(home.root, f"agency/{agency}") as net:
            yield [(code, _Told(net.notice_feed(code), code, on_page)) for code in codes]
        return
    from sekisho.node.local import LocalNetwork, municipalities_in

    local = LocalNetwork(home, passphrase=passphrase)
    try:
        yield [(code, _Told(local.releases(code), code, on_page)) for code in codes or municipalities_in(home)]
    finally:
        local.close()
