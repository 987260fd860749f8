"""The locator's protocols — the index and hand-over (as a municipality), identity confirmation and the
cross-reference record leg (as an agency) — and a whole identity confirmation, in-process and over HTTP.

Over HTTP the path is agency → T1 → T2 → locator → municipality through the HTTP clients and the parties' real
routers (``contracts.httpnet``); the answers and the access records must be those of the in-process run."""

from __future__ import annotations

import os
from typing import Any

import pytest
import sqlalchemy as sa

from pep_network import CHIYODA, GIFU, HEALTH, PENSION, TAX, World, enrol_one, person, standard_rules
from sekisho.errors import Conflict, InvalidInput, Refused
from sekisho.pep.encoding import encode_pseudonym
from sekisho.pep.group import Point
from sekisho.protocols.agency import CrossReferenceQuery
from sekisho.protocols.conversion import REGISTRY_DOMAIN, HopResult
from sekisho.pseudonyms import store as pep
from sekisho.registry import store as st


def _access(world: World, code: str = GIFU) -> list[tuple[Any, ...]]:
    with world.register(code).engine.connect() as conn:
        rows = conn.execute(
            sa.select(st.access.c.action, st.access.c.actor_kind, st.access.c.actor, st.access.c.purpose,
                      st.access.c["items"], st.access.c.decision).order_by(st.access.c.id)
        )  # fmt: skip
        return [tuple(r) for r in rows]


def _journal(world: World) -> list[tuple[str, str, str, int]]:
    out = []
    for t in world.net._open_transcryptors():
        with t.engine.connect() as conn:
            out += [(t.party, r.from_domain, r.to_domain, r.batch_size) for r in conn.execute(sa.select(pep.access))]
    return sorted(out)


@pytest.fixture
def enrolled(world: World) -> dict[str, str]:
    standard_rules(world.pdp)
    for agency, purpose in (PENSION, TAX, HEALTH):
        world.create_agency(agency, purpose)
    r = world.register(GIFU).add(person())
    return {agency: enrol_one(world, GIFU, r.handle, agency, purpose) for agency, purpose in (PENSION, TAX, HEALTH)}


def test_a_whole_identity_confirmation(world: World, enrolled: dict[str, str]) -> None:
    stranger = encode_pseudonym("tax", Point.from_hash(os.urandom(64)).to_bytes())
    [found, unknown] = world.agency("tax").lookup(
        [enrolled["tax"], stranger], purpose="tax.assessment", network=world.net
    )
    assert (found.status, dict(found.items)) == (
        "found",
        {"name": "髙橋\u3000健一", "address": "岐阜県岐阜市青柳町3丁目5番12号"},
    )
    assert (unknown.status, dict(unknown.items)) == ("not-found", {})
    [health] = world.agency("kyokai-kenpo").lookup(
        [enrolled["kyokai-kenpo"]], purpose="health.kyokai", network=world.net
    )
    assert set(health.items) == {"name", "birth_date", "sex"}
    identity = [a for a in _access(world) if a[0] == "identity-confirmation"]
    assert identity == [
        ("identity-confirmation", "agency", "tax", "tax.assessment", "address,name", "allow"),
        ("identity-confirmation", "agency", "kyokai-kenpo", "health.kyokai", "birth_date,name,sex", "allow"),
    ]
    # both transcryptors journaled each conversion (index at registration, three enrolments, two confirmations)
    assert [j for j in _journal(world) if j[2] == REGISTRY_DOMAIN and j[1] != REGISTRY_DOMAIN] == [
        ("t1", "kyokai-kenpo", REGISTRY_DOMAIN, 1), ("t1", "tax", REGISTRY_DOMAIN, 2),
        ("t2", "kyokai-kenpo", REGISTRY_DOMAIN, 1), ("t2", "tax", REGISTRY_DOMAIN, 2),
    ]  # fmt: skip


def test_a_refused_confirmation_says_why_and_records_the_refusal(world: World, enrolled: dict[str, str]) -> None:
    with pytest.raises(Refused, match="item-not-allowed:address"):
        world.agency("kyokai-kenpo").lookup(
            [enrolled["kyokai-kenpo"]], purpose="health.kyokai", network=world.net, items=["name", "address"]
        )
    assert [a[-2:] for a in _access(world) if a[0] == "identity-confirmation"] == [("", "deny")]


def test_the_index_and_the_hand_over(world: World) -> None:
    gifu = world.register(GIFU)
    r = gifu.add(person())
    with gifu.engine.connect() as conn:
        pp, rp = conn.execute(sa.select(st.resident.c.pp, st.resident.c.rp)).one()
    index = world.net.registry_index(GIFU)
    [entry] = index.index([bytes(pp)])
    assert entry.rp == bytes(rp) and entry.here
    [elsewhere] = world.net.registry_index(CHIYODA).index([bytes(pp)])
    assert elsewhere.rp == bytes(rp) and not elsewhere.here
    assert index.index([]) == []
    with pytest.raises(Conflict) as caught:  # only the holder moves an entry
        world.net.registry_index(CHIYODA).hand_over(bytes(rp), to=CHIYODA)
    assert caught.value.field == "rp" and bytes(rp).hex() not in str(caught.value)
    index.hand_over(bytes(rp), to=CHIYODA)
    index.hand_over(bytes(rp), to=CHIYODA)  # idempotent
    assert world.net.locator_service().holder(bytes(rp)) == CHIYODA
    with pytest.raises(InvalidInput):
        index.hand_over(b"\x01" * 32, to="not-a-code")
    assert r.handle  # the resident stays in Gifu's register: only the locator's entry moved


def test_the_record_leg_of_unknown_persons_reaches_no_municipality(world: World) -> None:
    from sekisho.pep.flows import encrypt_pseudonyms
    from sekisho.pep.keys import open_registry_key

    key = open_registry_key(world.home, passphrase=b"correct horse battery staple")
    cts = encrypt_pseudonyms([Point.from_hash(os.urandom(64)).to_bytes() for _ in range(2)], key.public)
    result = HopResult(party="t2", request_id="r1", ciphertexts=tuple(cts), key=key.public.to_bytes())
    query = CrossReferenceQuery(request_id="r1", requester="pension", target="tax", purpose="p", warrant="w")
    assert world.net.cross_reference_locator().cross_reference(result, query) == ["not-found", "not-found"]
    identity = world.net.locator().confirm(result, _identity_query())
    assert [a.status for a in identity] == ["not-found", "not-found"]
    assert _access(world) == []


def test_a_batch_under_another_key_is_refused_whole(world: World) -> None:
    from sekisho.errors import IntegrityError

    other = Point.from_hash(os.urandom(64)).to_bytes()
    result = HopResult(party="t2", request_id="r1", ciphertexts=(), key=other)
    with pytest.raises(IntegrityError) as caught:
        world.net.locator().confirm(result, _identity_query())
    assert caught.value.field == "key"


def _identity_query() -> Any:
    from sekisho.protocols.agency import IdentityQuery

    return IdentityQuery(request_id="r1", requester="tax", purpose="tax.assessment", items=("name",))
