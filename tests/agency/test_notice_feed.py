"""The notice feed: an agency pulls its change notices from a municipality by cursor — the same notices a push
would deliver, each applied once however often a page is handed out, resuming where the agency stopped."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

from pep_network import GIFU, PENSION, TAX, World, enrol_one, person, shipped_network, standard_rules
from sekisho.config import Home
from sekisho.errors import InvalidInput
from sekisho.registry import store as st


def _kinds(world: World, agency: str) -> Counter[tuple[str, str]]:
    return Counter((n["pseudonym"], n["kind"]) for n in world.agency(agency).notices())


def test_an_agency_pulls_its_notices_once_and_resumes_from_its_cursor(world: World) -> None:
    standard_rules(world.pdp)
    for agency, purpose in (PENSION, TAX):
        world.create_agency(agency, purpose)
    gifu = world.register(GIFU)
    a = gifu.add(person(household="a"))
    b = gifu.add(person(household="b", given_name="花子", given_name_kana="ハナコ", sex="女", block="3丁目5番1号"))
    pa = enrol_one(world, GIFU, a.handle, *PENSION)
    pb = enrol_one(world, GIFU, b.handle, *PENSION)
    enrol_one(world, GIFU, b.handle, *TAX)
    gifu.death(a.handle, died_on="2026-11-18")
    feed = world.releases(GIFU)
    pension = world.agency("pension")

    assert pension.feed_cursor(GIFU) == 0
    assert pension.pull_notices(feed, GIFU, limit=1) == 1  # one event a page: the cursor moves page by page
    assert _kinds(world, "pension") == Counter({(pa, "died"): 1})
    cursor = pension.feed_cursor(GIFU)
    assert cursor > 0
    assert pension.pull_notices(feed, GIFU) == 0  # nothing newer
    assert pension.feed_cursor(GIFU) == cursor

    # a page handed out again (the agency died before moving its cursor): applied once
    again = feed.notice_feed("pension", after=0)
    assert [n.kind for batch in again.batches for n in batch.notices] == ["died"]
    assert sum(pension.receive_notices(batch) for batch in again.batches) == 0

    gifu.move_within(b.handle, town="青柳町", block="1丁目1番1号", moved_on="2026-11-19")
    assert pension.pull_notices(feed, GIFU) == 1  # only what came after the cursor
    assert _kinds(world, "pension") == Counter({(pa, "died"): 1, (pb, "moved_within"): 1})
    # the tax office reads its own feed: the move, not the death of someone it never enrolled
    assert Counter(n["kind"] for n in world.agency("tax").notices()) == Counter()
    assert world.agency("tax").pull_notices(feed, GIFU) == 1
    assert Counter(n["kind"] for n in world.agency("tax").notices()) == Counter({"moved_within": 1})

    # every page that left recorded its release (a page handed out twice, twice), before it left
    with gifu.engine.connect() as conn:
        records = Counter(
            r.actor for r in conn.execute(sa.select(st.access.c.actor).where(st.access.c.action == "notice"))
        )
    assert records == Counter({"pension": 3, "tax": 1})


def test_the_feed_refuses_a_bad_cursor_or_page_size(world: World) -> None:
    feed = world.releases(GIFU)
    with pytest.raises(InvalidInput) as exc:
        feed.notice_feed("pension", after=-1)
    assert exc.value.field == "after"
    with pytest.raises(InvalidInput):
        feed.notice_feed("pension", limit=0)
    assert feed.notice_feed("pension").cursor == 0  # an empty outbox: the cursor stays


def test_a_notice_about_a_protected_person_reaches_only_whom_the_measure_allows(home: Home) -> None:
    """On the shipped policy: a DV support measure naming the tax office as a refused requester withholds the tax
    office's notice about the protected person (and only theirs); the pension office, not named, still gets it."""
    for network in shipped_network(home, approve=("tax", "pension"), agencies=(TAX, PENSION), codes=(GIFU,)):
        gifu = network.register(GIFU)
        a = gifu.add(person(household="a"))
        b = gifu.add(person(household="b", given_name="花子", given_name_kana="ハナコ", sex="女", block="3丁目5番1号"))
        for agency, purpose in (TAX, PENSION):
            network.releases(GIFU).enrol([a.handle, b.handle], agency=agency, purpose=purpose)
        network.facts(GIFU).add_measure(handle=b.handle, kind="dv", by="clerk-7", named_requesters=["tax"])
        today = gifu.today().isoformat()
        gifu.move_within(a.handle, town="青柳町", block="1丁目1番1号", moved_on=today)
        gifu.move_within(b.handle, town="青柳町", block="2丁目2番2号", moved_on=today)
        feed = network.releases(GIFU)
        tax, pension = network.agency_service("tax"), network.agency_service("pension")
        assert tax.pull_notices(feed, GIFU) == 1  # a's move only
        assert pension.pull_notices(feed, GIFU) == 2
        addresses = sorted(n["items"].get("address", "") for n in tax.notices())
        assert len(addresses) == 1 and "1丁目1番1号" in addresses[0]
        assert tax.feed_cursor(GIFU) == pension.feed_cursor(GIFU)  # the withheld notice does not hold the cursor
