"""The registry pseudonym index: s_R·P → municipality, made at registration, moved at hand-over, kept at death;
PPs for registers loaded before the network (join-network) and for bulk imports."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from pep_network import CHIYODA, GIFU, TODAY, World, person
from sekisho.errors import Conflict, Unavailable
from sekisho.node import local
from sekisho.node.registers import create_register
from sekisho.pseudonyms.service import init_network
from sekisho.registry import release
from sekisho.registry import store as st
from sekisho.registry.model import Status
from sekisho.registry.service import RegisterService


def _rows(reg: RegisterService) -> list[sa.Row[tuple[object, ...]]]:
    with reg.engine.connect() as conn:
        return list(
            conn.execute(sa.select(st.resident.c.handle, st.resident.c.status, st.resident.c.pp, st.resident.c.rp))
        )


def test_every_kind_of_registration_is_indexed_at_its_municipality(world: World) -> None:
    gifu = world.register(GIFU)
    head = gifu.add(person())
    gifu.birth(
        {"family_name": "髙橋", "given_name": "陽菜", "family_name_kana": "タカハシ", "given_name_kana": "ヒナ",
         "birth_date": "2026-11-17", "sex": "女", "relationship": "子"},
        household=head.household,
    )  # fmt: skip
    gifu.move_in(
        person(household="x", given_name="次郎", given_name_kana="ジロウ", block="1番地"), moved_on="2026-11-10"
    )
    rows = _rows(gifu)
    assert len(rows) == 3 and all(r.pp is not None and len(r.rp) == 32 for r in rows)
    assert len({bytes(r.rp) for r in rows}) == 3
    locator = world.net.locator_service()
    assert {locator.holder(bytes(r.rp)) for r in rows} == {GIFU}
    # indexing again changes nothing: one entry per person, still here
    assert all(e.here for e in world.net.registry_index(GIFU).index([bytes(r.pp) for r in rows]))


def test_the_entry_moves_at_hand_over_and_survives_a_crash_in_between(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    gifu, chiyoda = world.register(GIFU), world.register(CHIYODA)
    r = gifu.add(person())
    [row] = _rows(gifu)
    rp = bytes(row.rp)
    locator = world.net.locator_service()
    _, token, _ = gifu.move_out(r.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25")
    assert locator.holder(rp) == GIFU  # a move-out alone changes nothing

    real = local._LocalRegistryIndex.hand_over
    monkeypatch.setattr(
        local._LocalRegistryIndex, "hand_over", lambda self, rp, *, to: (_ for _ in ()).throw(Unavailable("down"))
    )
    with pytest.raises(Unavailable):
        chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    # the origin closed its record, the destination's is still incoming, the locator still names the origin
    assert chiyoda.count(status=Status.INCOMING) == 1 and gifu.count() == 0
    assert locator.holder(rp) == GIFU
    monkeypatch.setattr(local._LocalRegistryIndex, "hand_over", real)
    done = chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    assert done.resident.status is Status.ACTIVE
    assert locator.holder(rp) == CHIYODA
    # only the holder may move an entry; repeating a completed move is harmless
    with pytest.raises(Conflict):
        locator.hand_over(rp, requester=GIFU, to="011002")
    locator.hand_over(rp, requester=GIFU, to=CHIYODA)
    assert locator.holder(rp) == CHIYODA


def test_a_death_leaves_the_entry_at_the_last_municipality(world: World) -> None:
    gifu = world.register(GIFU)
    r = gifu.add(person())
    gifu.death(r.handle, died_on="2026-11-18")
    [row] = _rows(gifu)
    assert row.status == "closed" and world.net.locator_service().holder(bytes(row.rp)) == GIFU


def test_join_network_gives_an_old_register_its_pps_and_index(world: World) -> None:
    # a register loaded before the network existed: built in a home of its own, without network.json
    from sekisho.config import Home

    old_home = Home(root=world.home.root.parent / "old", db_url=world.home.db_url, namespace=world.home.namespace + "o")
    old_home.root.mkdir()
    reg = create_register(old_home, GIFU, today=lambda: TODAY)
    for i in range(5):
        reg.add(person(household=f"h{i}", block=f"1番{i + 1}号"))
    reg.death(reg.search("髙橋", limit=1)[0].handle, died_on="2026-11-18")
    assert all(r.pp is None for r in _rows(reg))
    init_network(old_home, passphrase=b"pw", scrypt_n=2**14)
    net = local.LocalNetwork(old_home, passphrase=b"pw", pdp=world.pdp)
    try:
        joined = net.register(GIFU)
        assert release.count_without_pp(joined) == 5
        assert release.join_network(joined, chunk=2, workers=1) == 5
        assert release.join_network(joined) == 0  # idempotent
        report = release.index_pending(joined, chunk=2)
        assert (report.indexed, report.elsewhere) == (5, 0)  # the dead are indexed too (they answer "died")
        rows = _rows(joined)
        assert all(r.pp is not None and r.rp is not None for r in rows)
        assert {net.locator_service().holder(bytes(r.rp)) for r in rows} == {GIFU}
        assert release.count_unindexed(joined) == 0
    finally:
        net.close()
        reg.engine.dispose()


def test_a_bulk_import_with_the_network_gives_every_record_a_pp(world: World) -> None:
    gifu = world.register(GIFU)
    rows = [(i + 2, person(household=f"h{i}", block=f"2番{i + 1}号")) for i in range(30)]
    result = gifu.import_rows(rows, source_sha256=hashlib.sha256(b"test").hexdigest())
    assert result.rows == 30
    stored = _rows(gifu)
    assert all(r.pp is not None and len(r.pp) == 64 for r in stored)
    assert len({bytes(r.pp) for r in stored}) == 30
    # the batch waits for the index (join-network indexes it in batches)
    assert release.count_unindexed(gifu) == 30
    assert release.index_pending(gifu).indexed == 30
    assert len({bytes(r.rp) for r in _rows(gifu)}) == 30
