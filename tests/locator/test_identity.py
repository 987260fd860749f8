"""Identity confirmation (A → R): only the allowed items, the access record before the answer leaves the
municipality, and a refusal that converts nothing."""

from __future__ import annotations

import os
from typing import Any

import pytest
import sqlalchemy as sa

from pep_network import GIFU, HEALTH, PENSION, TAX, World, enrol_one, person, standard_rules
from sekisho.agency import store as agy
from sekisho.errors import InvalidInput, Refused
from sekisho.node import local
from sekisho.pep.encoding import encode_pseudonym
from sekisho.pep.group import Point
from sekisho.pseudonyms import store as pep
from sekisho.registry import store as st


def _identity_records(world: World) -> list[Any]:
    with world.register(GIFU).engine.connect() as conn:
        return list(conn.execute(sa.select(st.access).where(st.access.c.action == "identity-confirmation")).all())


def _conversions(world: World) -> int:
    total = 0
    for t in world.net._open_transcryptors():
        with t.engine.connect() as conn:
            total += conn.execute(sa.select(sa.func.count()).select_from(pep.access)).scalar_one()
    return total


@pytest.fixture
def enrolled(world: World) -> dict[str, str]:
    standard_rules(world.pdp)
    for agency, purpose in (PENSION, TAX, HEALTH):
        world.create_agency(agency, purpose)
    r = world.register(GIFU).add(person())
    return {agency: enrol_one(world, GIFU, r.handle, agency, purpose) for agency, purpose in (PENSION, TAX, HEALTH)}


def test_only_the_allowed_items_after_the_access_record(
    world: World, enrolled: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    leaving: list[int] = []
    real = local._LocalResponder.answer_identity

    def answer(self: Any, rps: Any, query: Any) -> Any:
        out = real(self, rps, query)
        leaving.append(len(_identity_records(world)))  # what is committed as the answer leaves the municipality
        return out

    monkeypatch.setattr(local._LocalResponder, "answer_identity", answer)
    [tax] = world.agency("tax").lookup([enrolled["tax"]], purpose="tax.assessment", network=world.net)
    assert tax.status == "found" and set(tax.items) == {"name", "address"}  # death is allowed but has no value
    [health] = world.agency("kyokai-kenpo").lookup(
        [enrolled["kyokai-kenpo"]], purpose="health.kyokai", network=world.net
    )
    assert set(health.items) == {"name", "birth_date", "sex"}
    assert leaving == [1, 2]
    first = _identity_records(world)[0]
    assert (first.actor_kind, first.actor, first.purpose, first.items, first.decision) == (
        "agency",
        "tax",
        "tax.assessment",
        "address,name",  # what left: "death" was allowed, but the person is alive
        "allow",
    )
    # the agency keeps its own record of the answer, under its own pseudonym
    from sekisho.agency import store as agy

    with world.agency("tax").engine.connect() as conn:
        assert conn.execute(sa.select(agy.lookup.c.status)).scalars().all() == ["found"]


def test_asking_for_an_item_beyond_the_rule_answers_nothing(world: World, enrolled: dict[str, str]) -> None:
    # refused whole with the policy's reasons, as an enrolment is (issue 9 item 17: it was a bare "refused")
    with pytest.raises(Refused, match="item-not-allowed:address"):
        world.agency("kyokai-kenpo").lookup(
            [enrolled["kyokai-kenpo"]], purpose="health.kyokai", network=world.net, items=["name", "address"]
        )
    with world.agency("kyokai-kenpo").engine.connect() as conn:  # the agency stored no answer
        assert conn.execute(sa.select(sa.func.count()).select_from(agy.lookup)).scalar_one() == 0
    [record] = _identity_records(world)
    assert (record.decision, record.items) == ("deny", "")


def test_a_refused_lookup_converts_nothing_and_reads_nothing(world: World, enrolled: dict[str, str]) -> None:
    before = _conversions(world)
    with pytest.raises(Refused):  # the tax office has no rule for a pension purpose
        world.agency("tax").lookup([enrolled["tax"]], purpose="pension.benefit", network=world.net, items=["name"])
    assert _conversions(world) == before
    assert _identity_records(world) == []


def test_death_is_told_only_to_those_entitled_to_it(world: World, enrolled: dict[str, str]) -> None:
    gifu = world.register(GIFU)
    [r] = gifu.search("髙橋")
    gifu.death(r.handle, died_on="2026-11-18")
    [pension] = world.agency("pension").lookup([enrolled["pension"]], purpose="pension.benefit", network=world.net)
    assert pension.status == "died" and pension.items["death"] == "2026-11-18"
    [health] = world.agency("kyokai-kenpo").lookup(
        [enrolled["kyokai-kenpo"]], purpose="health.kyokai", network=world.net
    )
    assert health.status == "refused" and health.items == {}  # no "death" item for it


def test_unknown_and_foreign_pseudonyms(world: World, enrolled: dict[str, str]) -> None:
    stranger = encode_pseudonym("pension", Point.from_hash(os.urandom(64)).to_bytes())
    answers = world.agency("pension").lookup(
        [stranger, enrolled["pension"]], purpose="pension.benefit", network=world.net
    )
    assert [a.status for a in answers] == ["not-found", "found"]
    with pytest.raises(InvalidInput):  # another agency's pseudonym is refused before anything is sent
        world.agency("pension").lookup([enrolled["tax"]], purpose="pension.benefit", network=world.net)
