"""Change notices (design flow 4): exactly the entitled enrolled agencies, once each, also across crashes."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from pep_network import CHIYODA, GIFU, HEALTH, PENSION, TAX, World, enrol_one, person, standard_rules
from sekisho.errors import Unavailable
from sekisho.registry import store as st
from sekisho.registry.release import ReleaseService


def _kinds(world: World, agency: str) -> Counter[tuple[str, str]]:
    """(pseudonym, kind) of every notice the agency holds."""
    return Counter((n["pseudonym"], n["kind"]) for n in world.agency(agency).notices())


def _deliver_everywhere(world: World) -> None:
    for code in (GIFU, CHIYODA):
        world.releases(code).deliver_notices()


def _setup(world: World) -> dict[str, Any]:
    standard_rules(world.pdp)
    for agency, purpose in (PENSION, TAX, HEALTH):
        world.create_agency(agency, purpose)
    gifu = world.register(GIFU)
    a = gifu.add(person(household="a"))
    b = gifu.add(person(household="b", given_name="花子", given_name_kana="ハナコ", sex="女", block="3丁目5番1号"))
    ps = {
        ("a", "pension"): enrol_one(world, GIFU, a.handle, *PENSION),
        ("a", "tax"): enrol_one(world, GIFU, a.handle, *TAX),
        ("b", "pension"): enrol_one(world, GIFU, b.handle, *PENSION),
        ("b", "tax"): enrol_one(world, GIFU, b.handle, *TAX),
        ("b", "kyokai-kenpo"): enrol_one(world, GIFU, b.handle, *HEALTH),
    }
    return {"a": a, "b": b, "ps": ps}


def test_a_death_and_a_move_reach_exactly_the_entitled_agencies_once(world: World) -> None:
    s = _setup(world)
    a, b, ps = s["a"], s["b"], s["ps"]
    gifu, chiyoda = world.register(GIFU), world.register(CHIYODA)
    gifu.death(a.handle, died_on="2026-11-18")
    _, token, _ = gifu.move_out(b.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25")
    chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    _deliver_everywhere(world)
    _deliver_everywhere(world)  # nothing is sent twice

    assert _kinds(world, "pension") == Counter(
        {(ps["a", "pension"], "died"): 1, (ps["b", "pension"], "moved_out"): 1, (ps["b", "pension"], "moved_in"): 1}
    )
    # tax: death and move-in, not move-out; health: only the move-in, and nothing about a, whom it never enrolled
    assert _kinds(world, "tax") == Counter({(ps["a", "tax"], "died"): 1, (ps["b", "tax"], "moved_in"): 1})
    assert _kinds(world, "kyokai-kenpo") == Counter({(ps["b", "kyokai-kenpo"], "moved_in"): 1})

    pension = {p.pseudonym: p for p in world.agency("pension").persons()}
    assert pension[ps["a", "pension"]].status == "died"
    assert pension[ps["a", "pension"]].attributes["death"] == "2026-11-18"
    assert pension[ps["b", "pension"]].attributes["address"].startswith("東京都千代田区飯田橋")
    health = {p.pseudonym: p for p in world.agency("kyokai-kenpo").persons()}
    assert "address" not in health[ps["b", "kyokai-kenpo"]].attributes  # never released to it
    notices = {n["kind"]: n for n in world.agency("kyokai-kenpo").notices()}
    assert notices["moved_in"]["items"] == {}

    # every outbox event is marked, and each notice left an access record at the municipality that sent it
    for reg in (gifu, chiyoda):
        with reg.engine.connect() as conn:
            assert conn.execute(sa.select(st.event).where(st.event.c.delivered_at.is_(None))).all() == []
    with gifu.engine.connect() as conn:
        records = Counter(
            r.actor for r in conn.execute(sa.select(st.access.c.actor).where(st.access.c.action == "notice"))
        )
    assert records == Counter({"pension": 2, "tax": 1})


def test_a_crash_between_delivery_and_marking_redelivers_and_the_agency_keeps_one(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _setup(world)
    world.register(GIFU).death(s["a"].handle, died_on="2026-11-18")
    confirm = ReleaseService._confirm_delivered

    def crash(self: ReleaseService, agency: str, event_ids: list[int]) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(ReleaseService, "_confirm_delivered", crash)
    with pytest.raises(RuntimeError):
        world.releases(GIFU).deliver_notices()
    # the first agency had it before the crash
    assert sum(_kinds(world, "pension").values()) + sum(_kinds(world, "tax").values()) == 1
    monkeypatch.setattr(ReleaseService, "_confirm_delivered", confirm)

    mark = ReleaseService._mark_events
    monkeypatch.setattr(ReleaseService, "_mark_events", lambda self, ids: (_ for _ in ()).throw(RuntimeError("again")))
    with pytest.raises(RuntimeError):
        world.releases(GIFU).deliver_notices()
    monkeypatch.setattr(ReleaseService, "_mark_events", mark)
    report = world.releases(GIFU).deliver_notices()
    assert report.pending == 0
    assert world.releases(GIFU).deliver_notices().events == 0
    # re-delivered, de-duplicated: one notice each
    assert _kinds(world, "pension") == Counter({(s["ps"]["a", "pension"], "died"): 1})
    assert _kinds(world, "tax") == Counter({(s["ps"]["a", "tax"], "died"): 1})


def test_an_unreachable_agency_keeps_the_event_pending_for_it_alone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _setup(world)
    world.register(GIFU).death(s["a"].handle, died_on="2026-11-18")
    tax = world.agency("tax")
    calls: Counter[str] = Counter()
    real = {name: type(world.agency(name)).receive_notices for name in ("pension", "tax")}

    def receive(self: Any, batch: Any) -> int:
        calls[self.name] += 1
        if self.name == "tax" and calls["tax"] == 1:
            raise Unavailable("tax office offline", field="agency")
        return real[self.name](self, batch)  # type: ignore[no-any-return]

    monkeypatch.setattr(type(tax), "receive_notices", receive)
    first = world.releases(GIFU).deliver_notices()
    assert (first.events, first.pending) == (0, 1)
    second = world.releases(GIFU).deliver_notices()
    assert (second.events, second.pending) == (1, 0)
    assert calls == Counter({"pension": 1, "tax": 2})  # pension is not sent it again
    assert sum(_kinds(world, "tax").values()) == 1


def test_a_change_before_the_enrolment_is_not_noticed(world: World) -> None:
    standard_rules(world.pdp)
    world.create_agency(*PENSION)
    gifu = world.register(GIFU)
    r = gifu.add(person())
    gifu.move_within(r.handle, town="藍川町", block="18番地", moved_on="2026-11-19")
    with gifu.engine.begin() as conn:  # a minute ago (within one second the notice goes out: never one missed)
        created = conn.execute(sa.select(st.event.c.created_at)).scalar_one()
        conn.execute(st.event.update().values(created_at=created - timedelta(minutes=1)))
    enrol_one(world, GIFU, r.handle, *PENSION)  # enrolled with the new address already
    report = world.releases(GIFU).deliver_notices()
    assert (report.events, report.notices) == (1, 0)
    assert world.agency("pension").notices() == []


def _clock_behind(register: Any, by: timedelta) -> None:
    """As if the register's clock were ``by`` behind: the times it recorded events and enrolments move back."""
    with register.engine.begin() as conn:
        for row in conn.execute(sa.select(st.event.c.id, st.event.c.created_at)).all():
            conn.execute(st.event.update().where(st.event.c.id == row.id).values(created_at=row.created_at - by))
        e = st.enrolment.c
        for row in conn.execute(sa.select(e.id, e.enrolled_at)).all():
            conn.execute(st.enrolment.update().where(e.id == row.id).values(enrolled_at=row.enrolled_at - by))


@pytest.mark.parametrize("first", [GIFU, CHIYODA])
def test_a_move_ends_active_at_the_destination_whichever_register_delivers_first(world: World, first: str) -> None:
    """Issue 9 item 1: the destination's moved_in delivered before the origin's moved_out left the person
    moved-out.  The destination's clock is an hour behind the origin's, so recorded_at alone cannot order them."""
    standard_rules(world.pdp)
    world.create_agency(*PENSION)
    gifu, chiyoda = world.register(GIFU), world.register(CHIYODA)
    r = gifu.add(person())
    ps = enrol_one(world, GIFU, r.handle, *PENSION)
    _, token, _ = gifu.move_out(r.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25")
    chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    _clock_behind(chiyoda, timedelta(hours=1))
    for code in (first, CHIYODA if first == GIFU else GIFU):
        world.releases(code).deliver_notices()

    assert _kinds(world, "pension") == Counter({(ps, "moved_out"): 1, (ps, "moved_in"): 1})
    (held,) = world.agency("pension").persons()
    assert held.status == "active"
    assert held.attributes["address"].startswith("東京都千代田区飯田橋")


@pytest.mark.parametrize("first", [GIFU, CHIYODA])
def test_two_moves_on_one_day_and_back_end_where_the_person_is(world: World, first: str) -> None:
    """岐阜市 → 千代田区 → 岐阜市 on the same day: each register's sequence and the move links order the four
    notices; the clocks (千代田区 a day behind) and the dates (all equal) cannot."""
    standard_rules(world.pdp)
    world.create_agency(*PENSION)
    gifu, chiyoda = world.register(GIFU), world.register(CHIYODA)
    r = gifu.add(person())
    ps = enrol_one(world, GIFU, r.handle, *PENSION)
    _, token, _ = gifu.move_out(r.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-20")
    there = chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token).resident
    _, back, _ = chiyoda.move_out(there.handle, destination="岐阜県岐阜市美殿町40番地", planned_on="2026-11-20")
    gifu.move_in({"town": "美殿町", "block": "40番地"}, moved_on="2026-11-20", transfer=back)
    _clock_behind(chiyoda, timedelta(days=1))
    for code in (first, CHIYODA if first == GIFU else GIFU):
        world.releases(code).deliver_notices()

    assert _kinds(world, "pension") == Counter({(ps, "moved_out"): 2, (ps, "moved_in"): 2})
    (held,) = world.agency("pension").persons()
    assert held.status == "active"
    assert held.attributes["address"].startswith("岐阜県岐阜市美殿町")
