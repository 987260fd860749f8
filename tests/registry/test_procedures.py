"""The procedures of one register, end to end through the service and its database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
import sqlalchemy as sa

from sekisho.errors import Conflict, InvalidInput, NotFound
from sekisho.registry import store as st
from sekisho.registry.model import ClosedReason, EventKind, Resident, Status
from sekisho.registry.service import RegisterService

from .conftest import CHIYODA, foreigner, person


def _count(svc: RegisterService, table: sa.Table) -> int:
    with svc.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_add_stores_names_exactly_and_kana_normalised(gifu: RegisterService) -> None:
    r = gifu.add(person())
    assert r.family_name == "髙橋"  # the old character stays
    assert r.family_name_kana == "タカハシ"  # hiragana → katakana
    assert r.given_name_kana == "ケンイチ"  # half-width → full-width
    assert r.birth_date.wareki() == "昭和50年4月1日"
    assert r.is_head and r.status is Status.ACTIVE and r.version == 1
    shown = gifu.show(r.handle)
    assert shown == r


def test_add_refuses_a_second_live_record_of_the_same_person(gifu: RegisterService) -> None:
    """The import's one-live-record rule holds for a record added by hand: the same person (old or new character,
    kana or width, another 方書) is refused with nothing written; another address, or after the first record was
    closed, is someone the register may hold."""
    first = gifu.add(person())
    before = (_count(gifu, st.resident), _count(gifu, st.household))
    for again in (person(), person(family_name="高橋", given_name_kana="けんいち", katagaki="201号", household="h2")):
        with pytest.raises(Conflict, match="already has a live record") as refused:
            gifu.add(again)
        assert refused.value.field == "person"
        assert "髙橋" not in str(refused.value) and "高橋" not in str(refused.value)  # no personal data in the error
    assert (_count(gifu, st.resident), _count(gifu, st.household)) == before
    gifu.add(person(block="3丁目5番13号", household="h2"))  # another address: another person as far as we know
    twin = gifu.add(person(household="h4"), distinct_person=True)  # the clerk checked: another person after all
    assert twin.handle != first.handle
    gifu.death(first.handle, died_on="令和6年1月5日")
    gifu.death(twin.handle, died_on="令和6年1月5日")
    gifu.add(person(household="h3"))  # both records are closed: a live record may exist again


def test_variant_kanji_search_finds_the_record(gifu: RegisterService) -> None:
    r = gifu.add(person())
    for query in ("高橋", "髙橋", "タカハシ", "たかはし", "ﾀｶﾊｼ", "高橋健一"):
        assert [x.handle for x in gifu.search(query)] == [r.handle], query


def test_every_read_writes_an_access_record_before_returning(gifu: RegisterService) -> None:
    r = gifu.add(person())
    assert _count(gifu, st.access) == 0  # a registration is history, not an access
    gifu.show(r.handle, purpose="certificate-issuance")
    gifu.history(r.handle)
    gifu.search("高橋")
    gifu.household(r.household)
    with gifu.engine.connect() as conn:
        rows = conn.execute(sa.select(st.access).order_by(st.access.c.id)).all()
    assert [row.action for row in rows] == ["register-read", "register-read", "register-search", "register-read"]
    assert rows[0].purpose == "certificate-issuance"
    assert {row.terminal for row in rows} == {"clerk-7"}
    assert all(len(row.nonce) == 32 and len(row.record_id) == 32 for row in rows)
    assert len({row.record_id for row in rows}) == 4


def test_a_failed_read_records_nothing(gifu: RegisterService) -> None:
    gifu.add(person())
    with pytest.raises(NotFound):
        gifu.show("0000-0000-000")  # well-formed (the check character of ten zeros is 0), unknown here
    assert _count(gifu, st.access) == 0


def test_birth_joins_the_household_at_its_address(gifu: RegisterService, today: date) -> None:
    head = gifu.add(person())
    child, late = gifu.birth(
        {
            "family_name": "髙橋",
            "given_name": "陽菜",
            "family_name_kana": "タカハシ",
            "given_name_kana": "ヒナ",
            "birth_date": "令和8年11月10日",
            "sex": "女",
            "relationship": "子",
        },
        household=head.household,
    )
    assert not late
    assert child.household == head.household and child.address == head.address
    assert child.became_resident_on == date(2026, 11, 10)
    members = gifu.household(head.household).members
    assert members[0].handle == head.handle
    assert len(members) == 2


def test_late_birth_is_recorded_as_late_not_refused(gifu: RegisterService) -> None:
    head = gifu.add(person())
    child, late = gifu.birth(
        {
            "family_name": "髙橋",
            "given_name": "蓮",
            "family_name_kana": "タカハシ",
            "given_name_kana": "レン",
            "birth_date": "2026-09-01",
            "sex": "男",
            "relationship": "子",
        },
        household=head.household,
    )
    assert late
    _, hist = gifu.history(child.handle)
    assert hist[0].kind is EventKind.BIRTH and hist[0].late


def test_death_closes_the_record_and_keeps_it(gifu: RegisterService) -> None:
    r = gifu.add(person())
    closed, late = gifu.death(r.handle, died_on="令和8年11月18日", filed_on="2026-11-19")
    assert not late
    assert closed.status is Status.CLOSED and closed.closed is not None
    assert closed.closed.reason is ClosedReason.DEATH and closed.closed.event_date == date(2026, 11, 18)
    # 除票 is kept and readable
    assert gifu.show(r.handle).status is Status.CLOSED
    assert gifu.search("高橋") == []
    assert [x.handle for x in gifu.search("高橋", include_closed=True)] == [r.handle]
    with pytest.raises(Conflict):
        gifu.death(r.handle, died_on="2026-11-18")
    with gifu.engine.connect() as conn:
        kinds = conn.execute(sa.select(st.event.c.kind)).scalars().all()
    assert kinds == ["died"]


def test_death_filed_after_seven_days_is_late(gifu: RegisterService) -> None:
    r = gifu.add(person())
    _, late = gifu.death(r.handle, died_on="2026-11-02", filed_on="2026-11-16")
    assert late


def test_sole_survivor_becomes_head(gifu: RegisterService) -> None:
    head = gifu.add(person())
    wife = gifu.add(
        person(given_name="花子", given_name_kana="ハナコ", relationship="妻", sex="女", birth_date="昭和52年2月3日"),
        household=head.household,
    )
    gifu.death(head.handle, died_on="2026-11-18")
    now = gifu.show(wife.handle)
    assert now.relationship == "世帯主" and now.version == 2


def test_move_within_changes_address_and_keeps_history(gifu: RegisterService) -> None:
    r = gifu.add(person())
    [(moved, late)] = gifu.move_within(r.handle, town="藍川町", block="18番地", moved_on="2026-11-15")
    assert not late
    assert moved.address.town == "藍川町" and moved.address_set_on == date(2026, 11, 15)
    _, hist = gifu.history(r.handle)
    assert [h.kind for h in hist] == [EventKind.REGISTERED, EventKind.MOVE_WITHIN]
    assert "address" in hist[1].changes
    old, new = hist[1].changes["address"]
    assert "青柳町" in old and "藍川町" in new


def test_household_moves_together_or_not_at_all(gifu: RegisterService) -> None:
    head = gifu.add(person())
    gifu.add(person(given_name="花子", given_name_kana="ハナコ", relationship="妻", sex="女"), household=head.household)
    with pytest.raises(Conflict):
        gifu.move_within(head.handle, town="藍川町", block="18番地", moved_on="2026-11-15")
    moved = gifu.move_within(head.handle, town="藍川町", block="18番地", moved_on="2026-11-15", whole_household=True)
    assert len(moved) == 2 and {r.address.town for r, _ in moved} == {"藍川町"}


def test_household_split_and_head_change(gifu: RegisterService) -> None:
    head = gifu.add(person())
    son = gifu.add(
        person(
            given_name="翔太",
            given_name_kana="ショウタ",
            relationship="子",
            birth_date="平成12年5月5日",
            became_resident_on="平成12年5月5日",
            address_set_on="平成12年5月5日",
        ),
        household=head.household,
    )
    # the son founds his own household at the same address (世帯分離)
    [split] = gifu.household_change([(son.handle, None, "世帯主")], changed_on="2026-11-10")
    assert split.household != head.household and split.is_head
    # two heads in one household are refused, and nothing is written
    with pytest.raises(Conflict):
        gifu.household_change([(son.handle, head.household, "世帯主")], changed_on="2026-11-12")
    assert gifu.show(son.handle).household == split.household
    # merging back as 子 works
    [back] = gifu.household_change([(son.handle, head.household, "子")], changed_on="2026-11-12")
    assert back.household == head.household


def test_head_change_swaps_roles_in_one_procedure(gifu: RegisterService) -> None:
    head = gifu.add(person())
    wife = gifu.add(
        person(given_name="花子", given_name_kana="ハナコ", relationship="妻", sex="女"), household=head.household
    )
    out = gifu.household_change(
        [(head.handle, head.household, "夫"), (wife.handle, head.household, "世帯主")], changed_on="2026-11-10"
    )
    assert {r.handle: r.relationship for r in out} == {head.handle: "夫", wife.handle: "世帯主"}


def test_correction_keeps_the_old_value_in_history(gifu: RegisterService) -> None:
    r = gifu.add(person())
    fixed = gifu.correct(r.handle, {"given_name": "健市", "given_name_kana": "ケンイチ"}, reason="届出書の誤記")
    assert fixed.given_name == "健市" and fixed.version == 2
    _, hist = gifu.history(r.handle)
    assert hist[1].kind is EventKind.CORRECTION and hist[1].changes["given_name"] == ["健一", "健市"]
    assert hist[1].note == "届出書の誤記"
    with gifu.engine.connect() as conn:
        assert conn.execute(sa.select(st.event.c.kind)).scalars().all() == ["name_changed"]


def test_correction_rejects_unknown_items_and_invalid_values(gifu: RegisterService) -> None:
    r = gifu.add(person())
    with pytest.raises(InvalidInput):
        gifu.correct(r.handle, {"root": "x"}, reason="r")
    with pytest.raises(InvalidInput) as exc:
        gifu.correct(r.handle, {"birth_date": "平成31年5月1日"}, reason="r")
    assert exc.value.field == "birth_date"
    assert gifu.show(r.handle).version == 1


def test_furigana_registration_marks_confirmed(gifu: RegisterService) -> None:
    r = gifu.add(person())
    assert not r.kana_confirmed
    done = gifu.furigana(r.handle, family_kana="タカハシ", given_kana="ケンイチ")
    assert done.kana_confirmed
    f = gifu.add(foreigner())
    with pytest.raises(InvalidInput):
        gifu.furigana(f.handle, family_kana="グエン", given_kana="アン")


def test_foreign_resident_items(gifu: RegisterService) -> None:
    f = gifu.add(foreigner())
    assert f.is_foreign and f.display_kana == "＊"
    assert f.foreign is not None and f.foreign.residence_card_number == "AB12345678CD"
    assert f.birth_date_display().startswith("1995")
    with pytest.raises(InvalidInput):
        gifu.add(foreigner(family_name_kana="グエン"))


def test_move_out_and_move_in_hand_over(open_register: Callable[..., RegisterService]) -> None:
    gifu = open_register()
    chiyoda = open_register(CHIYODA)
    r = gifu.add(person())
    out, token, late = gifu.move_out(r.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25")
    assert token and token.startswith("212016-") and out.moving_out and out.status is Status.ACTIVE and not late
    res = chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    moved = res.resident
    assert (
        moved.status is Status.ACTIVE
        and moved.family_name == "髙橋"
        and moved.previous_address.startswith("岐阜県岐阜市")
    )
    closed = gifu.show(r.handle)
    assert closed.status is Status.CLOSED and closed.closed is not None
    assert closed.closed.reason is ClosedReason.MOVE_OUT
    assert closed.closed.destination_confirmed.startswith("東京都千代田区飯田橋")
    # the root moved with the person
    with gifu.engine.connect() as c1, chiyoda.engine.connect() as c2:
        root_gifu = c1.execute(sa.select(st.resident.c.root)).scalar_one()
        root_chiyoda = c2.execute(sa.select(st.resident.c.root)).scalar_one()
    assert root_gifu == root_chiyoda and len(root_gifu) == 32
    # retrying the move-in changes nothing
    again = chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    assert again.already_done and again.resident.handle == moved.handle
    assert chiyoda.count() == 1 and gifu.count() == 0


def test_move_in_resumes_after_a_crash_between_steps(
    open_register: Callable[..., RegisterService], monkeypatch: pytest.MonkeyPatch
) -> None:
    gifu = open_register()
    chiyoda = open_register(CHIYODA)
    r = gifu.add(person())
    _, token, _ = gifu.move_out(r.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25")
    assert token
    from sekisho.node import local

    calls = {"n": 0}
    real = local._LocalMunicipality.complete_transfer

    def crash_once(self: local._LocalMunicipality, *a: object, **kw: object) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("network dropped")
        real(self, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(local._LocalMunicipality, "complete_transfer", crash_once)
    with pytest.raises(ConnectionError):
        chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    # never two active records: the destination's record is still incoming, the origin's still active
    assert gifu.count() == 1 and chiyoda.count() == 0 and chiyoda.count(status=Status.INCOMING) == 1
    res = chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    assert res.resident.status is Status.ACTIVE
    assert gifu.count() == 0 and chiyoda.count() == 1 and chiyoda.count(status=None) == 1


def test_moving_there_and_back_keeps_one_live_record(open_register: Callable[..., RegisterService]) -> None:
    gifu = open_register()
    chiyoda = open_register(CHIYODA)
    r = gifu.add(person())
    _, token, _ = gifu.move_out(r.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25")
    chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    moved = chiyoda.search("高橋")[0]
    _, back, _ = chiyoda.move_out(moved.handle, destination="岐阜県岐阜市藍川町18番地", planned_on="2026-11-30")
    gifu.move_in({"town": "藍川町", "block": "18番地"}, moved_on="2026-11-20", transfer=back)
    assert gifu.count() == 1 and chiyoda.count() == 0
    assert gifu.count(status=None) == 2  # the 除票 of the first stay is kept beside the new record
    # a register cannot take over its own transfer
    with pytest.raises(InvalidInput):
        gifu.move_in({"town": "藍川町", "block": "18番地"}, moved_on="2026-11-20", transfer=token)


def test_move_abroad_closes_without_transfer(gifu: RegisterService) -> None:
    r = gifu.add(person())
    closed, token, _ = gifu.move_out(r.handle, destination="アメリカ合衆国", planned_on="2026-11-18", abroad=True)
    assert token is None and closed.closed is not None and closed.closed.reason is ClosedReason.ABROAD


def test_cancelled_move_out_cannot_be_taken_over(open_register: Callable[..., RegisterService]) -> None:
    gifu = open_register()
    chiyoda = open_register(CHIYODA)
    r = gifu.add(person())
    _, token, _ = gifu.move_out(r.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25")
    gifu.cancel_move_out(r.handle)
    with pytest.raises(Conflict):
        chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    assert gifu.count() == 1 and chiyoda.count(status=None) == 0


def test_move_in_from_outside_the_network(gifu: RegisterService) -> None:
    row = person(previous_address="アメリカ合衆国カリフォルニア州")
    res = gifu.move_in(row, moved_on="2026-11-10")
    assert res.resident.became_resident_on == date(2026, 11, 10)
    _, hist = gifu.history(res.resident.handle)
    assert hist[0].kind is EventKind.MOVE_IN and hist[0].late is False
    # the same person arriving twice from outside is an obvious duplicate
    with pytest.raises(Conflict):
        gifu.move_in(person(household="x"), moved_on="2026-11-10")
    late = gifu.move_in(person(given_name="次郎", given_name_kana="ジロウ"), moved_on="2026-11-01")
    _, hist = gifu.history(late.resident.handle)
    assert hist[0].late  # 19 days after moving in


# --- the household rules (procedures.household_fault) --------------------------------------------------------


def _family(svc: RegisterService) -> tuple[Resident, Resident, Resident]:
    """A 3-person household: 世帯主, 妻, 子."""
    head = svc.add(person())
    wife = svc.add(
        person(given_name="花子", given_name_kana="ハナコ", relationship="妻", sex="女", birth_date="昭和52年2月3日"),
        household=head.household,
    )
    child = svc.add(
        person(
            given_name="翔太",
            given_name_kana="ショウタ",
            relationship="子",
            birth_date="平成12年5月5日",
            became_resident_on="平成12年5月5日",
            address_set_on="平成12年5月5日",
        ),
        household=head.household,
    )
    return head, wife, child


def _heads(svc: RegisterService, household: str) -> list[str]:
    return [m.handle for m in svc.household(household).members if m.is_head and m.status is Status.ACTIVE]


def test_head_cannot_move_out_while_members_stay(gifu: RegisterService) -> None:
    head, wife, _child = _family(gifu)
    for abroad in (False, True):
        with pytest.raises(Conflict) as exc:
            gifu.move_out(
                head.handle,
                destination="アメリカ合衆国" if abroad else "東京都千代田区飯田橋2丁目3番4号",
                planned_on="2026-11-18",
                abroad=abroad,
            )
        assert exc.value.field == "handle" and "世帯主" in exc.value.message and "household change" in exc.value.message
    # nothing was written: the head is still the active, unmoving head, and no transfer exists
    now = gifu.show(head.handle)
    assert now.version == 1 and not now.moving_out and now.status is Status.ACTIVE
    assert _count(gifu, st.transfer) == 0
    # the clerk names the new head first; then the former head moves out as a member
    gifu.household_change(
        [(head.handle, head.household, "夫"), (wife.handle, head.household, "世帯主")], changed_on="2026-11-10"
    )
    out, token, _ = gifu.move_out(head.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25")
    assert token and out.moving_out
    assert _heads(gifu, head.household) == [wife.handle]


def test_a_household_moving_together_hands_the_head_over_last_or_first(
    open_register: Callable[..., RegisterService],
) -> None:
    gifu = open_register()
    chiyoda = open_register(CHIYODA)
    head, wife, child = _family(gifu)
    dest = "東京都千代田区飯田橋2丁目3番4号"
    tokens = {}
    for r in (wife, child, head):  # every member files; the head may then leave too
        _, tokens[r.handle], _ = gifu.move_out(r.handle, destination=dest, planned_on="2026-11-25")
    # a member who now stays after all would be left without a head: the clerk must name one first
    arrived = chiyoda.move_in(
        {"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=tokens[head.handle]
    ).resident
    assert gifu.show(head.handle).status is Status.CLOSED
    assert _heads(gifu, head.household) == []  # headless while everybody left is moving out
    with pytest.raises(Conflict) as exc:
        gifu.cancel_move_out(child.handle)
    assert "世帯主" in exc.value.message and gifu.show(child.handle).moving_out
    for r in (wife, child):
        chiyoda.move_in(
            {"town": "飯田橋", "block": "2丁目3番4号", "relationship": r.relationship},
            moved_on="2026-11-20",
            transfer=tokens[r.handle],
            household=arrived.household,
        )
    assert gifu.count() == 0 and chiyoda.count() == 3
    assert _heads(chiyoda, arrived.household) == [arrived.handle]


def test_death_of_the_head_leaves_the_head_vacant_until_the_members_name_one(gifu: RegisterService) -> None:
    head, wife, _child = _family(gifu)
    gifu.death(head.handle, died_on="2026-11-15")
    # the household remains; the new head is filed by 世帯主変更届 (within 14 days)
    assert _heads(gifu, head.household) == []
    assert gifu.show(wife.handle).relationship == "妻"
    # a child born meanwhile joins the household as usual
    baby, _ = gifu.birth(
        {
            "family_name": "髙橋",
            "given_name": "陽菜",
            "family_name_kana": "タカハシ",
            "given_name_kana": "ヒナ",
            "birth_date": "2026-11-16",
            "sex": "女",
            "relationship": "子の子",
        },
        household=head.household,
    )
    # a household change that names nobody keeps the vacancy; one that names the head ends it
    [fixed] = gifu.household_change([(baby.handle, head.household, "子")], changed_on="2026-11-17")
    assert fixed.relationship == "子" and _heads(gifu, head.household) == []
    [named] = gifu.household_change([(wife.handle, head.household, "世帯主")], changed_on="2026-11-18")
    assert named.is_head and _heads(gifu, head.household) == [wife.handle]
    # once named, the household cannot be left headless again by a change
    with pytest.raises(Conflict) as exc:
        gifu.household_change([(wife.handle, head.household, "母")], changed_on="2026-11-19")
    assert exc.value.field == "changes" and "世帯主" in exc.value.message


def test_sole_member_after_a_vacancy_becomes_the_head(gifu: RegisterService) -> None:
    head, wife, child = _family(gifu)
    gifu.death(head.handle, died_on="2026-11-15")
    gifu.death(child.handle, died_on="2026-11-16")
    now = gifu.show(wife.handle)
    assert now.is_head and now.version == 2


def test_nobody_joins_a_household_whose_head_is_moving_out(gifu: RegisterService) -> None:
    head = gifu.add(person())
    gifu.move_out(head.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25")
    with pytest.raises(Conflict) as exc:
        gifu.birth(
            {
                "family_name": "髙橋",
                "given_name": "陽菜",
                "family_name_kana": "タカハシ",
                "given_name_kana": "ヒナ",
                "birth_date": "2026-11-16",
                "sex": "女",
                "relationship": "子",
            },
            household=head.household,
        )
    assert exc.value.field == "household" and "世帯主" in exc.value.message
    assert gifu.count(status=None) == 1


def test_joining_an_empty_household_needs_a_head(gifu: RegisterService) -> None:
    head = gifu.add(person())
    gifu.death(head.handle, died_on="2026-11-15")
    with pytest.raises(Conflict):
        gifu.add(
            person(given_name="花子", given_name_kana="ハナコ", relationship="妻", sex="女"), household=head.household
        )
    joined = gifu.add(person(given_name="花子", given_name_kana="ハナコ", sex="女"), household=head.household)
    assert joined.is_head
