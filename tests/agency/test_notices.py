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
