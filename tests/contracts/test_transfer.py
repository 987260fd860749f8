"""TransferSource / Directory contract: a move hand-over behaves the same whether the destination reaches the
origin in-process or only over HTTP (the origin's transfer router on its node)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
import sqlalchemy as sa

from pep_network import CHIYODA, GIFU, PENSION, World, person, standard_rules
from sekisho.errors import Conflict, InvalidInput, NotFound
from sekisho.locator import store as loc
from sekisho.problems import MEDIA_TYPE
from sekisho.protocols.registry import TransferSource
from sekisho.registry import store as st

DESTINATION = "東京都千代田区飯田橋2丁目3番4号"
NEW_ADDRESS = {"town": "飯田橋", "block": "2丁目3番4号"}
MOVED_ON = date(2026, 11, 20)
SAPPORO = "011002"  # a real municipality with no register in this network


def _origin(world: World, code: str = GIFU) -> TransferSource:
    """The origin as the destination's register reaches it (its own directory)."""
    directory = world.register(CHIYODA).directory
    assert directory is not None
    return directory.municipality(code)


def _move_out(world: World) -> tuple[str, str]:
    gifu = world.register(GIFU)
    r = gifu.add(person(household="b", given_name="花子", given_name_kana="ハナコ", sex="女"))
    _, token, _ = gifu.move_out(r.handle, destination=DESTINATION, planned_on="2026-11-25")
    assert token is not None
    return r.handle, token


def _status(world: World, code: str) -> list[str]:
    with world.register(code).engine.connect() as conn:
        return sorted(conn.execute(sa.select(st.resident.c.status)).scalars())


def test_a_move_from_212016_to_131016_hands_the_person_over_the_same_way(world: World, impl: str) -> None:
    standard_rules(world.pdp)
    world.create_agency(*PENSION)
    handle, token = _move_out(world)
    world.releases(GIFU).enrol([handle], agency="pension", purpose="pension.benefit")

    moved = world.register(CHIYODA).move_in(NEW_ADDRESS, moved_on="2026-11-20", transfer=token)
    assert moved.resident.address.line().startswith(DESTINATION[:6])
    assert _status(world, GIFU) == ["closed"]
    assert _status(world, CHIYODA) == ["active"]
    # the origin recorded the hand-over as an access by the destination, before the package left
    with world.register(GIFU).engine.connect() as conn:
        records = Counter(
            (r.action, r.actor_kind, r.actor)
            for r in conn.execute(sa.select(st.access.c.action, st.access.c.actor_kind, st.access.c.actor))
        )
    assert records[("transfer", "municipality", CHIYODA)] == 1
    # the locator's entry moved with the person, and the destination sends the person's notices from now on
    with world.net.locator_service(key=False).engine.connect() as conn:
        assert list(conn.execute(sa.select(loc.entry.c.municipality)).scalars()) == [CHIYODA]
    for code in (GIFU, CHIYODA):
        world.releases(code).deliver_notices()
    assert Counter(n["kind"] for n in world.agency("pension").notices()) == Counter({"moved_out": 1, "moved_in": 1})

    # a second move-in with the same transfer is already done, and completing again is idempotent for the taker
    again = world.register(CHIYODA).move_in(NEW_ADDRESS, moved_on="2026-11-20", transfer=token)
    assert again.already_done
    _origin(world).complete_transfer(token, requester=CHIYODA, moved_on=MOVED_ON, destination_line=DESTINATION)
    if impl == "http":
        # the token (and everything personal) travelled in bodies only
        paths = {u.removeprefix("http://party.test") for u in world.net.wire.urls}  # type: ignore[attr-defined]
        assert {p for p in paths if p.startswith("/transfers")} == {"/transfers/fetch", "/transfers/complete"}
        assert not any(token in u for u in world.net.wire.urls)  # type: ignore[attr-defined]


def test_the_package_and_the_refusals_of_the_origin(world: World) -> None:
    _, token = _move_out(world)
    origin = _origin(world)
    package = origin.fetch_transfer(token, requester=CHIYODA)
    assert package.source == GIFU and package.token == token
    assert len(package.root) == 32 and package.rp is not None and package.pp is not None
    assert package.items["given_name"] == "花子"
    assert package.destination_planned == DESTINATION and package.planned_on == date(2026, 11, 25)
    assert "花子" not in repr(package)

    origin.complete_transfer(token, requester=CHIYODA, moved_on=date(2026, 11, 20), destination_line=DESTINATION)
    with pytest.raises(Conflict) as taken:  # completed by another municipality
        origin.complete_transfer(token, requester=SAPPORO, moved_on=date(2026, 11, 20), destination_line="x")
    assert taken.value.field == "transfer"
    with pytest.raises(Conflict):  # no longer open for anyone else
        origin.fetch_transfer(token, requester=SAPPORO)

    unknown = f"{GIFU}-{'0' * 32}"
    with pytest.raises(NotFound) as missing:
        origin.fetch_transfer(unknown, requester=CHIYODA)
    assert missing.value.field == "transfer" and unknown not in str(missing.value)


def test_an_unknown_municipality_is_not_found(world: World) -> None:
    _, token = _move_out(world)
    with pytest.raises(NotFound) as exc:
        _origin(world, SAPPORO).fetch_transfer(token, requester=CHIYODA)
    assert token not in str(exc.value)


def test_a_bad_requester_is_bad_input(world: World, impl: str) -> None:
    _, token = _move_out(world)
    if impl == "http":
        with pytest.raises(InvalidInput) as exc:
            _origin(world).fetch_transfer(token, requester="not-a-code")
        assert token not in str(exc.value)
    # either way nothing was handed over
    assert _status(world, GIFU) == ["active"]


@pytest.mark.parametrize("impl", ["http"], indirect=True)  # a body exists only over HTTP
def test_a_malformed_transfer_request_is_a_problem_document_that_echoes_nothing(world: World, impl: str) -> None:
    _, token = _move_out(world)
    client = world.net.municipality_client(GIFU)  # type: ignore[attr-defined]
    for path, body in [
        ("/transfers/fetch", {"token": token}),
        ("/transfers/fetch", {"token": token, "requester": CHIYODA, "extra": "髙橋"}),
        ("/transfers/complete", {"token": token, "requester": CHIYODA, "moved_on": "髙橋", "destination_line": "x"}),
        ("/transfers/fetch", [token]),
    ]:
        response = client.post(path, json=body)
        assert response.status_code == 422, path
        assert response.headers["content-type"].startswith(MEDIA_TYPE)
        assert response.json()["type"] == "urn:sekisho:problem:invalid-input"
        assert token not in response.text and "髙橋" not in response.text
    with world.register(GIFU).engine.connect() as conn:  # nothing was read, so nothing was recorded as read
        assert conn.execute(sa.select(st.access).where(st.access.c.action == "transfer")).all() == []
