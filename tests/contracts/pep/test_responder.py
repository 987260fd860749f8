"""A municipality's responder (identity answers, cross-reference record legs), in-process and over HTTP."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from contracts.httpnet import HttpNetwork, client, party_app
from pep_network import GIFU, TAX, World, person, standard_rules
from sekisho.errors import NotFound
from sekisho.protocols import frames
from sekisho.protocols.agency import CrossReferenceQuery, IdentityQuery
from sekisho.registry import responder_api
from sekisho.registry import store as st


def _responder(world: World) -> object:
    net = world.net
    return net.http_responder(GIFU) if isinstance(net, HttpNetwork) else net.responder(GIFU)


def _resident(world: World) -> bytes:
    gifu = world.register(GIFU)
    gifu.add(person())
    with gifu.engine.connect() as conn:
        return bytes(conn.execute(sa.select(st.resident.c.rp)).scalar_one())


def test_answers_in_order_with_the_access_record(world: World) -> None:
    standard_rules(world.pdp)
    world.create_agency(*TAX)
    rp = _resident(world)
    query = IdentityQuery(request_id="q1", requester="tax", purpose="tax.assessment", items=("name", "address"))
    answers = _responder(world).answer_identity([b"\x00" * 32, rp], query)  # type: ignore[attr-defined]
    assert [a.status for a in answers] == ["not-found", "found"]
    assert set(answers[1].items) == {"name", "address"} and answers[0].items == {}
    with world.register(GIFU).engine.connect() as conn:
        rows = conn.execute(sa.select(st.access.c.action, st.access.c.actor, st.access.c["items"])).all()
    assert [tuple(r) for r in rows] == [("identity-confirmation", "tax", "address,name")]


def test_a_cross_reference_before_the_watchdog_published_is_not_recorded(world: World) -> None:
    rp = _resident(world)
    query = CrossReferenceQuery(request_id="q1", requester="pension", target="tax", purpose="p", warrant="forged")
    with pytest.raises(NotFound) as caught:  # no published key to read the warrant with
        _responder(world).record_cross_reference([rp], query)  # type: ignore[attr-defined]
    assert caught.value.field == "watchdog" and "forged" not in str(caught.value)
    with world.register(GIFU).engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(st.access)).scalar_one() == 0


def test_a_malformed_body_is_a_problem_document(world: World) -> None:
    local = world.net.responder(GIFU)
    with client(party_app(responder_api.router(local, local)), "municipality/212016") as c:
        for body in (b"", frames.points_frame({"query": {"request_id": 1}}, [b"\x00" * 32])):
            response = c.post("/identity", content=body)
            assert response.status_code == 422
            assert response.headers["content-type"] == "application/problem+json"
        short = frames.points_frame({"query": {}}, [b"\x00" * 32])[:-1]
        assert c.post("/cross-reference", content=short).json()["field"] == "rps"
        doc = c.get("/openapi.json").json()
        assert {"/identity", "/cross-reference"} <= set(doc["paths"])
