"""AgencyEndpoint / CrossReferenceReceiver contract: the same behaviour in-process and over HTTP (agency node)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from pep_network import GIFU, PENSION, TAX, World, person, standard_rules
from sekisho.errors import InvalidInput, NotFound
from sekisho.problems import MEDIA_TYPE
from sekisho.protocols.agency import AgencyEndpoint, CrossReferenceDelivery, EnrolmentDelivery, NoticeBatch
from sekisho.registry import store as st


class Recorder:
    """Passes every call on and keeps what was delivered, to deliver it again."""

    def __init__(self, inner: AgencyEndpoint, seen: list[Any]) -> None:
        self.inner, self.seen = inner, seen

    def requested_items(self, purpose: str) -> tuple[str, ...]:
        return self.inner.requested_items(purpose)

    def receive_enrolment(self, delivery: EnrolmentDelivery) -> int:
        self.seen.append(delivery)
        return self.inner.receive_enrolment(delivery)

    def receive_notices(self, batch: NoticeBatch) -> int:
        self.seen.append(batch)
        return self.inner.receive_notices(batch)


def _recording(world: World, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    agency = world.net.agency
    monkeypatch.setattr(world.net, "agency", lambda name: Recorder(agency(name), seen))
    return seen


def _access(world: World, code: str = GIFU) -> Counter[tuple[str, str, str]]:
    with world.register(code).engine.connect() as conn:
        rows = conn.execute(sa.select(st.access.c.action, st.access.c.actor, st.access.c.purpose)).all()
    return Counter((r.action, r.actor, r.purpose) for r in rows)


def test_an_enrolment_and_a_notice_reach_the_agency_with_the_same_results_and_records(
    world: World, impl: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    standard_rules(world.pdp)
    world.create_agency(*PENSION)
    gifu = world.register(GIFU)
    a = gifu.add(person(household="a"))
    b = gifu.add(person(household="b", given_name="花子", given_name_kana="ハナコ", sex="女", block="3丁目5番1号"))
    seen = _recording(world, monkeypatch)

    world.releases(GIFU).enrol([a.handle, b.handle], agency="pension", purpose="pension.benefit")
    gifu.death(a.handle, died_on="2026-11-18")
    world.releases(GIFU).deliver_notices()

    pension = world.agency("pension")
    persons = sorted(pension.persons(), key=lambda p: p.status)
    assert [p.status for p in persons] == ["active", "died"]
    assert persons[1].attributes["death"] == "2026-11-18"
    assert persons[0].attributes["name"] == "髙橋\u3000花子"
    assert Counter(n["kind"] for n in pension.notices()) == Counter({"died": 1})
    # the access records written before anything left the municipality are the same whichever way it travelled
    assert _access(world) == Counter(
        {("enrolment", "pension", "pension.benefit"): 2, ("notice", "pension", "pension.benefit"): 1}
    )

    # delivered again (a retry after a lost answer): nothing is new, nothing changes
    enrolment = next(d for d in seen if isinstance(d, EnrolmentDelivery))
    notices = next(d for d in seen if isinstance(d, NoticeBatch))
    endpoint = world.net.agency("pension")
    assert endpoint.receive_enrolment(enrolment) == 0
    assert endpoint.receive_notices(notices) == 0
    assert len(pension.persons()) == 2 and len(pension.notices()) == 1

    if impl == "http":
        # nothing personal in a URL: only the fixed routes, and the purpose word
        paths = {u.removeprefix("http://party.test") for u in world.net.wire.urls}  # type: ignore[attr-defined]
        assert paths == {"/agency/purposes/pension.benefit/items", "/agency/enrolments", "/agency/notices"}


def test_requested_items_and_their_errors(world: World) -> None:
    standard_rules(world.pdp)
    world.create_agency(*PENSION)
    endpoint = world.net.agency("pension")
    assert set(endpoint.requested_items("pension.benefit")) == set(world.pdp.rules[PENSION].items)
    with pytest.raises(NotFound) as exc:
        endpoint.requested_items(TAX[1])  # a purpose this agency does not have
    assert exc.value.field == "purpose"
    with pytest.raises(NotFound) as unknown:
        world.net.agency("nobody").requested_items("pension.benefit")  # no such agency in the network
    assert "nobody" not in str(unknown.value)


def test_a_delivery_that_does_not_add_up_is_refused_as_bad_input(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    standard_rules(world.pdp)
    world.create_agency(*PENSION)
    a = world.register(GIFU).add(person(household="a"))
    seen = _recording(world, monkeypatch)
    world.releases(GIFU).enrol([a.handle], agency="pension", purpose="pension.benefit")
    delivery = next(d for d in seen if isinstance(d, EnrolmentDelivery))
    endpoint = world.net.agency("pension")
    broken = replace(delivery, delivery_id="another", items=delivery.items * 2)  # two item sets, one person
    with pytest.raises(InvalidInput) as exc:
        endpoint.receive_enrolment(broken)
    assert exc.value.field == "items"
    assert "髙橋" not in str(exc.value)
    assert len(world.agency("pension").persons()) == 1


@pytest.mark.parametrize("impl", ["http"], indirect=True)  # a body exists only over HTTP
def test_a_malformed_body_is_a_problem_document_that_echoes_nothing(world: World, impl: str) -> None:
    standard_rules(world.pdp)
    world.create_agency(*PENSION)
    world.net.agency("pension")  # starts the agency node
    client = world.net._agency_clients["pension"]  # type: ignore[attr-defined]
    for path, body in [
        ("/agency/enrolments", {"delivery_id": "d1", "purpose": "pension.benefit", "items": [{"name": "髙橋 健一"}]}),
        ("/agency/notices", ["not", "an", "object"]),
        (
            "/agency/enrolments",
            {
                "delivery_id": "d1",
                "purpose": "pension.benefit",
                "items": [{"name": "髙橋 健一"}],
                "result": {"party": "t2", "request_id": "r", "ciphertexts": ["髙橋!"], "key": "AAAA"},
            },
        ),
    ]:
        response = client.post(path, json=body)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith(MEDIA_TYPE)
        problem = response.json()
        assert problem["type"] == "urn:sekisho:problem:invalid-input"
        assert "髙橋" not in response.text
    assert world.agency("pension").persons() == []


def test_a_purpose_that_is_not_one_is_refused_alike(world: World) -> None:
    standard_rules(world.pdp)
    world.create_agency(*PENSION)
    endpoint = world.net.agency("pension")
    for purpose in ("pension.benefit/../x", "pension.benefit?x=1", "年金"):
        with pytest.raises((InvalidInput, NotFound)) as exc:
            endpoint.requested_items(purpose)
        assert exc.value.field == "purpose"


def test_a_cross_reference_result_reaches_agency_b_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    standard_rules(world.pdp)
    world.create_agency(*PENSION)
    gifu = world.register(GIFU)
    people = [gifu.add(person(household="a")), gifu.add(person(household="b", given_name="花子", sex="女"))]
    seen = _recording(world, monkeypatch)
    world.releases(GIFU).enrol([p.handle for p in people], agency="pension", purpose="pension.benefit")
    enrolled = next(d for d in seen if isinstance(d, EnrolmentDelivery))
    # a result for B has the form of an enrolment's: Enc_{Y_B}(s_B·P), B's own pseudonyms of the persons
    delivery = CrossReferenceDelivery(
        request_id="xref-1",
        requester="tax",
        purpose="tax.assessment",
        warrant="0" * 32,
        positions=(4, 0),
        result=enrolled.result,
    )
    receiver = world.net.cross_reference_receiver("pension")
    assert receiver.receive_cross_reference(delivery) == 2
    assert receiver.receive_cross_reference(delivery) == 0  # re-delivered: nothing new
    links = world.agency("pension").received_cross_references("xref-1")
    assert sorted(link.position for link in links) == [0, 4]
    assert {link.pseudonym for link in links} == {p.pseudonym for p in world.agency("pension").persons()}
    for broken, field in [
        (replace(delivery, request_id="xref-2", positions=(1,)), "positions"),
        (replace(delivery, request_id="xref-2", positions=(1, 1)), "positions"),
        (replace(delivery, request_id="xref-2", requester="Tax Office"), "requester"),
    ]:
        with pytest.raises(InvalidInput) as exc:
            receiver.receive_cross_reference(broken)
        assert exc.value.field == field
    assert world.agency("pension").received_cross_references("xref-2") == []
