"""What the destination and the origin refuse in a hand-over, the same in-process and over HTTP — each refusal
before anything is written or leaves, so that no record is left stuck half-way — and what a hand-over carries
besides the record (本人通知 registration)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from pep_network import CHIYODA, GIFU, World, person
from sekisho.errors import Conflict, InvalidInput, Refused
from sekisho.policy import store as pst
from sekisho.protocols.registry import TransferSource
from sekisho.registry import store as st

DESTINATION = "東京都千代田区飯田橋2丁目3番4号"
OSAKA = "大阪府大阪市北区梅田1丁目1番1号"
NEW_ADDRESS = {"town": "飯田橋", "block": "2丁目3番4号"}
SAPPORO = "011002"


def _origin(world: World) -> TransferSource:
    directory = world.register(CHIYODA).directory
    assert directory is not None
    return directory.municipality(GIFU)


def _move_out(world: World, *, destination: str = DESTINATION, planned_on: str = "2026-11-20") -> tuple[str, str]:
    gifu = world.register(GIFU)
    r = gifu.add(person(household="b", given_name="花子", given_name_kana="ハナコ", sex="女"))
    _, token, _ = gifu.move_out(r.handle, destination=destination, planned_on=planned_on)
    assert token is not None
    return r.handle, token


def _statuses(world: World) -> tuple[list[str], list[str]]:
    out = []
    for code in (GIFU, CHIYODA):
        with world.register(code).engine.connect() as conn:
            out.append(sorted(conn.execute(sa.select(st.resident.c.status)).scalars()))
    return out[0], out[1]


def _released(world: World) -> int:
    with world.register(GIFU).engine.connect() as conn:
        return len(conn.execute(sa.select(st.access.c.id).where(st.access.c.action == "transfer")).all())


def test_a_token_meant_for_another_municipality_is_refused_and_nothing_leaves(world: World) -> None:
    _, token = _move_out(world, destination=OSAKA)
    with pytest.raises(Refused) as exc:
        world.register(CHIYODA).move_in(NEW_ADDRESS, moved_on="2026-11-20", transfer=token)
    assert exc.value.field == "transfer" and token not in str(exc.value)
    assert _statuses(world) == (["active"], [])
    assert _released(world) == 0


def test_an_expired_token_is_refused(world: World) -> None:
    # planned 2026-10-01: a card-based move-in was due by 2026-10-31 (30 days); today is 2026-11-20
    _, token = _move_out(world, planned_on="2026-10-01")
    with pytest.raises(Refused) as exc:
        world.register(CHIYODA).move_in(NEW_ADDRESS, moved_on="2026-10-05", transfer=token)
    assert "expired" in str(exc.value)
    assert _statuses(world) == (["active"], [])
    assert _released(world) == 0


def test_completing_before_taking_the_package_is_refused(world: World) -> None:
    _, token = _move_out(world)
    with pytest.raises(Conflict) as exc:
        _origin(world).complete_transfer(
            token, requester=CHIYODA, moved_on=date(2026, 11, 20), destination_line=DESTINATION
        )
    assert exc.value.field == "transfer"
    assert _statuses(world) == (["active"], [])


def test_a_date_the_origin_cannot_accept_is_a_clear_error_not_a_stuck_record(world: World) -> None:
    _, token = _move_out(world)
    # the person's address at 岐阜市 dates from 平成10年4月1日 (1998): nobody moved out of it in 1997
    with pytest.raises(InvalidInput) as exc:
        world.register(CHIYODA).move_in(NEW_ADDRESS, moved_on="1997-05-01", transfer=token)
    assert exc.value.field == "moved_on"
    assert _statuses(world) == (["active"], [])  # no incoming record waits at the destination
    # the origin checks the same itself (a destination that skipped its check is refused there too)
    origin = _origin(world)
    origin.fetch_transfer(token, requester=CHIYODA)
    with pytest.raises(InvalidInput):
        origin.complete_transfer(token, requester=CHIYODA, moved_on=date(1997, 5, 1), destination_line=DESTINATION)
    assert _statuses(world) == (["active"], [])
    # and the move then completes with the right date
    moved = world.register(CHIYODA).move_in(NEW_ADDRESS, moved_on="2026-11-20", transfer=token)
    assert moved.resident.status.value == "active"
    assert _statuses(world) == (["closed"], ["active"])


def test_a_third_municipality_cannot_take_or_complete_the_transfer(world: World) -> None:
    _, token = _move_out(world)
    origin = _origin(world)
    with pytest.raises(Refused):
        origin.fetch_transfer(token, requester=SAPPORO)
    with pytest.raises(Conflict):
        origin.complete_transfer(token, requester=SAPPORO, moved_on=date(2026, 11, 20), destination_line="x")
    assert _statuses(world) == (["active"], [])


def test_the_honnin_tsuchi_registration_moves_with_the_person(world: World) -> None:
    handle, token = _move_out(world)
    world.register(GIFU)._transfer_annex().register_for_notices(handle)  # type: ignore[attr-defined]
    moved = world.register(CHIYODA).move_in(NEW_ADDRESS, moved_on="2026-11-20", transfer=token)
    chiyoda = world.register(CHIYODA)
    chiyoda._transfer_annex()  # its policy tables exist
    with chiyoda.engine.connect() as conn:
        registered = conn.execute(sa.select(pst.notice_registration.c.handle)).scalars().all()
    assert registered == [moved.resident.handle]
