"""Enrolment (R → A): stable pseudonyms, only the released items, access records before anything leaves,
refusals that convert nothing, and agency tables that share no identifier."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa

from pep_network import CHIYODA, GIFU, HEALTH, PENSION, TAX, World, enrol_one, person, standard_rules
from sekisho.agency import store as agy
from sekisho.errors import InvalidInput, Refused, Unavailable
from sekisho.node.local import LocalNetwork
from sekisho.pep.encoding import decode_pseudonym
from sekisho.pseudonyms import store as pep
from sekisho.registry import store as st


def _access(world: World, code: str = GIFU, action: str | None = None) -> list[sa.Row[tuple[object, ...]]]:
    stmt = sa.select(st.access).order_by(st.access.c.id)
    if action:
        stmt = stmt.where(st.access.c.action == action)
    with world.register(code).engine.connect() as conn:
        return list(conn.execute(stmt).all())


def _conversions(world: World) -> int:
    total = 0
    for party in ("t1", "t2"):
        engine = world.net._open_transcryptors()[0 if party == "t1" else 1].engine
        with engine.connect() as conn:
            total += conn.execute(sa.select(sa.func.count()).select_from(pep.access)).scalar_one()
    return total


def test_same_person_keeps_one_pseudonym_per_agency(world: World) -> None:
    """Re-enrolment, a move Gifu → Chiyoda through move-out/move-in, and a reloaded key: the same pseudonym."""
    standard_rules(world.pdp)
    world.create_agency(*PENSION)
    gifu, chiyoda = world.register(GIFU), world.register(CHIYODA)
    r = gifu.add(person())
    first = enrol_one(world, GIFU, r.handle, *PENSION)
    assert enrol_one(world, GIFU, r.handle, *PENSION) == first  # re-enrolment (a fresh re-randomisation)

    _, token, _ = gifu.move_out(r.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25")
    assert token is not None
    moved = chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    assert enrol_one(world, CHIYODA, moved.resident.handle, *PENSION) == first

    world.net.forget_agency("pension")  # the key is read from its file again
    reloaded = world.agency("pension")
    assert [p.pseudonym for p in reloaded.persons()] == [first]
    [answer] = reloaded.lookup([first], purpose="pension.benefit", network=world.net)
    assert answer.status == "found" and answer.items["address"].startswith("東京都千代田区")


def test_the_pp_and_the_registry_pseudonym_move_unchanged(world: World) -> None:
    world.pdp.allow(*PENSION, ["name"])
    gifu, chiyoda = world.register(GIFU), world.register(CHIYODA)
    r = gifu.add(person())
    with gifu.engine.connect() as conn:
        before = conn.execute(sa.select(st.resident.c.pp, st.resident.c.rp)).one()
    assert before.pp is not None and before.rp is not None
    _, token, _ = gifu.move_out(r.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25")
    chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    with chiyoda.engine.connect() as conn:
        after = conn.execute(sa.select(st.resident.c.pp, st.resident.c.rp, st.resident.c.status)).one()
    assert (bytes(after.pp), bytes(after.rp), after.status) == (bytes(before.pp), bytes(before.rp), "active")
    assert world.net.locator_service().holder(bytes(before.rp)) == CHIYODA


def test_enrolment_releases_only_the_allowed_items_after_the_access_record(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    standard_rules(world.pdp)
    tax = world.create_agency(*TAX)
    gifu = world.register(GIFU)
    r = gifu.add(person())
    seen: list[int] = []
    original = type(tax).receive_enrolment

    def receive(self: object, delivery: object) -> int:
        # the access record is committed before the agency hears anything
        seen.append(len(_access(world, action="enrolment")))
        return original(self, delivery)  # type: ignore[arg-type]

    monkeypatch.setattr(type(tax), "receive_enrolment", receive)
    report = world.releases(GIFU).enrol([r.handle], agency="tax", purpose="tax.assessment")
    assert report.enrolled == 1 and set(report.items) == {"name", "address", "death"}
    assert seen == [1]
    [row] = _access(world, action="enrolment")
    assert (row.actor_kind, row.actor, row.purpose, row.items, row.decision) == (
        "agency",
        "tax",
        "tax.assessment",
        "address,death,name",
        "allow",
    )
    [held] = tax.persons()
    # the person is alive: "death" has no value, and nothing beyond the rule arrived
    assert set(held.attributes) == {"name", "address"}
    with gifu.engine.connect() as conn:
        enrolment = conn.execute(sa.select(st.enrolment)).one()
    assert (enrolment.agency, enrolment.purpose, enrolment._mapping["items"]) == (
        "tax",
        "tax.assessment",
        "address,death,name",
    )


def test_a_failed_enrolment_is_recorded_as_failed_or_not_at_all(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 9 item 3: every failed `agency enroll` (T2 unreachable) left an "enrolment allow" record, six for one
    real release.  Now each failed attempt (a transcryptor or the agency that cannot be reached after the record was
    committed and published) gets a ``failed`` record beside its ``allow`` one."""
    standard_rules(world.pdp)
    pension = world.create_agency(*PENSION)
    r = world.register(GIFU).add(person())
    hops = LocalNetwork.hops

    def t2_unreachable(self: LocalNetwork) -> object:
        raise Unavailable("the transcryptor T2 cannot be reached", field="t2")

    monkeypatch.setattr(LocalNetwork, "hops", t2_unreachable)
    for _ in range(2):
        with pytest.raises(Unavailable):
            world.releases(GIFU).enrol([r.handle], agency="pension", purpose=PENSION[1])
    monkeypatch.setattr(LocalNetwork, "hops", hops)

    receive = type(pension).receive_enrolment

    def agency_down(self: object, delivery: object) -> int:
        raise Unavailable("the agency cannot be reached", field="agency")

    monkeypatch.setattr(type(pension), "receive_enrolment", agency_down)
    with pytest.raises(Unavailable):
        world.releases(GIFU).enrol([r.handle], agency="pension", purpose=PENSION[1])
    monkeypatch.setattr(type(pension), "receive_enrolment", receive)
    world.releases(GIFU).enrol([r.handle], agency="pension", purpose=PENSION[1])

    rows = _access(world, action="enrolment")
    ok = rows[0].reason_codes
    attempt = [("allow", True, ok), ("failed", False, "delivery-failed")]
    assert [(x.decision, bool(x._mapping["items"]), x.reason_codes) for x in rows] == [
        *attempt * 3,  # T2 twice, the agency once
        ("allow", True, ok),
    ]
    assert all(x.actor == "pension" and x.purpose == PENSION[1] for x in rows)
    assert pension.count() == 1


def test_refused_enrolment_converts_and_records_nothing(world: World) -> None:
    world.create_agency("tax", "tax.assessment", items=["name"])  # no rule for tax at all
    gifu = world.register(GIFU)
    r = gifu.add(person())
    conversions = _conversions(world)
    with pytest.raises(Refused):
        world.releases(GIFU).enrol([r.handle], agency="tax", purpose="tax.assessment")
    assert _conversions(world) == conversions
    assert _access(world, action="enrolment") == []
    assert world.agency("tax").count() == 0


def test_asking_for_more_than_the_rule_is_refused_whole(world: World) -> None:
    standard_rules(world.pdp)
    world.create_agency(*HEALTH)
    r = world.register(GIFU).add(person())
    with pytest.raises(Refused, match="item-not-allowed:address"):
        world.releases(GIFU).enrol([r.handle], agency="kyokai-kenpo", purpose="health.kyokai", items=["address"])
    with pytest.raises(InvalidInput):
        world.releases(GIFU).enrol([r.handle], agency="kyokai-kenpo", purpose="health.kyokai", items=["honseki"])
    assert world.agency("kyokai-kenpo").count() == 0


def test_exported_tables_of_two_agencies_share_no_identifier(world: World, tmp_path: Path) -> None:
    standard_rules(world.pdp)
    world.create_agency(*PENSION)
    world.create_agency(*TAX)
    gifu = world.register(GIFU)
    names = [("健一", "ケンイチ"), ("花子", "ハナコ"), ("次郎", "ジロウ"), ("三郎", "サブロウ")]
    handles = [
        gifu.add(person(household=f"h{i}", given_name=given, given_name_kana=kana, block=f"3丁目5番{i + 1}号")).handle
        for i, (given, kana) in enumerate(names)
    ]
    for agency, purpose in (PENSION, TAX):
        report = world.releases(GIFU).enrol(handles, agency=agency, purpose=purpose)
        assert report.enrolled == len(handles)
    files = {}
    for agency in ("pension", "tax"):
        out = tmp_path / f"{agency}.csv"
        assert world.agency(agency).export_csv(out) == len(handles)
        files[agency] = out
    rows = {a: list(csv.DictReader(f.open(encoding="utf-8"))) for a, f in files.items()}
    for agency, table in rows.items():
        assert list(table[0])[:2] == ["pseudonym", "status"]
        assert all(decode_pseudonym(r["pseudonym"], domain=agency) for r in table)
    values = {a: {decode_pseudonym(r["pseudonym"])[1] for r in t} for a, t in rows.items()}
    assert len(values["pension"]) == len(values["tax"]) == len(handles)
    assert not values["pension"] & values["tax"]
    texts = {a: {r["pseudonym"] for r in t} for a, t in rows.items()}
    assert not texts["pension"] & texts["tax"]
    # no 32-byte value of one table appears anywhere in the other file, raw or in any text encoding we use
    for a, b in (("pension", "tax"), ("tax", "pension")):
        other = files[b].read_bytes()
        for v in values[a]:
            assert v not in other and v.hex().encode() not in other
            assert texts[a].isdisjoint(other.decode().split())
    # and no column beyond the pseudonym identifies anyone: the attributes are exactly the released items
    assert set(rows["tax"][0]) == {"pseudonym", "status", "name", "address"}


def test_agency_tables_hold_only_their_own_pseudonyms(world: World) -> None:
    standard_rules(world.pdp)
    world.create_agency(*PENSION)
    r = world.register(GIFU).add(person())
    enrol_one(world, GIFU, r.handle, *PENSION)
    svc = world.agency("pension")
    with svc.engine.connect() as conn:
        persons = conn.execute(sa.select(agy.person)).all()
        receipts = conn.execute(sa.select(agy.receipt)).all()
    with world.register(GIFU).engine.connect() as conn:
        reg = conn.execute(sa.select(st.resident.c.root, st.resident.c.pp, st.resident.c.rp)).one()
    held = {bytes(p.pseudonym) for p in persons} | {bytes(x.pseudonym) for x in receipts}
    assert len(held) == 1
    assert not held & {bytes(reg.root), bytes(reg.rp)}
    assert all(len(v) == 32 for v in held)
