"""The flows on the real policy (``sekisho.policy``): the national decision point at the municipality, each
transcryptor's own policy hook, the municipality's support measures — with the shipped legal bases and PIAs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from pep_network import GIFU, person, shipped_network
from sekisho.config import Home
from sekisho.errors import Refused
from sekisho.node.local import LocalNetwork
from sekisho.policy import store as pol
from sekisho.policy.municipality import MunicipalityPolicy
from sekisho.pseudonyms import store as pep
from sekisho.registry import store as st


@pytest.fixture
def net(home: Home) -> Iterator[LocalNetwork]:
    yield from shipped_network(
        home, approve=("pension", "tax"), agencies=(("pension", "pension.benefit"), ("kyokai-kenpo", "health.kyokai"))
    )


def _conversions(net: LocalNetwork) -> int:
    total = 0
    for t in net._open_transcryptors():
        with t.engine.connect() as conn:
            total += conn.execute(sa.select(sa.func.count()).select_from(pep.access)).scalar_one()
    return total


def test_enrolment_lookup_and_notice_under_the_shipped_policy(net: LocalNetwork) -> None:
    gifu = net.register(GIFU)
    r = gifu.add(person())
    with gifu.engine.connect() as conn:
        assert conn.execute(sa.select(st.resident.c.rp)).scalar() is not None  # indexed under registry.locate
    report = net.releases(GIFU).enrol([r.handle], agency="pension", purpose="pension.benefit")
    # the agency asked for its legal-basis row's items, which its approved PIA covers
    assert report.enrolled == 1 and set(report.items) == {
        "name",
        "kana",
        "birth_date",
        "sex",
        "address",
        "death",
        "moved",
    }
    pension = net.agency_service("pension")
    [held] = pension.persons()
    [answer] = pension.lookup([held.pseudonym], purpose="pension.benefit", network=net)
    assert answer.status == "found" and answer.items["name"] == "髙橋\u3000健一"
    gifu.death(r.handle, died_on="2026-11-18")
    assert net.releases(GIFU).deliver_notices().notices == 1
    assert [n["kind"] for n in pension.notices()] == ["died"]
    # both transcryptors decided each conversion themselves and recorded it in their own databases
    for t in net._open_transcryptors():
        with t.engine.connect() as conn:
            decisions = conn.execute(sa.select(pol.decision.c.allow)).scalars().all()
        assert len(decisions) >= 4 and all(decisions)


def test_an_agency_without_an_approved_pia_gets_nothing_and_nothing_is_converted(net: LocalNetwork) -> None:
    r = net.register(GIFU).add(person())
    before = _conversions(net)
    with pytest.raises(Refused, match="pia"):
        net.releases(GIFU).enrol([r.handle], agency="kyokai-kenpo", purpose="health.kyokai")
    assert _conversions(net) == before
    assert net.agency_service("kyokai-kenpo").count() == 0


def test_a_support_measure_naming_the_agency_keeps_that_resident_out(net: LocalNetwork, home: Home) -> None:
    gifu = net.register(GIFU)
    a = gifu.add(person(household="a"))
    b = gifu.add(person(household="b", given_name="花子", given_name_kana="ハナコ", sex="女", block="3丁目5番1号"))
    policy = MunicipalityPolicy.open(home, GIFU)
    policy.add_measure(handle=b.handle, kind="dv", by="clerk-7", named_requesters=["pension"])
    policy.engine.dispose()
    report = net.releases(GIFU).enrol([a.handle, b.handle], agency="pension", purpose="pension.benefit")
    assert (report.enrolled, report.refused) == (1, 1)
    with gifu.engine.connect() as conn:
        enrolled = set(conn.execute(sa.select(st.enrolment.c.resident_id)).scalars())
        ids = dict(conn.execute(sa.select(st.resident.c.handle, st.resident.c.id)).all())
    assert enrolled == {ids[a.handle]}
    assert net.agency_service("pension").count() == 1


def test_the_transcryptors_policy_records_hold_no_pseudonym_and_no_person(net: LocalNetwork) -> None:
    from pep_network import dump_tables
    from sekisho.locator import store as loc
    from sekisho.pep.encoding import decode_pseudonym
    from sekisho.policy import store as pol_store

    gifu = net.register(GIFU)
    r = gifu.add(person())
    net.releases(GIFU).enrol([r.handle], agency="pension", purpose="pension.benefit")
    [held] = net.agency_service("pension").persons()
    net.agency_service("pension").lookup([held.pseudonym], purpose="pension.benefit", network=net)
    value = decode_pseudonym(held.pseudonym)[1]
    needles = [value, value.hex().encode(), held.pseudonym.encode(), held.pseudonym.split(":")[2].encode()]
    needles += [s.encode() for s in ("髙橋", "健一", "タカハシ", "青柳町", "1975-04-01", r.handle)]
    parts = [(t.engine, m) for t in net._open_transcryptors() for m in (pep.metadata, pol_store.metadata)]
    parts.append((net.locator_service().engine, loc.metadata))
    for engine, metadata in parts:
        for row in dump_tables(engine, metadata):
            blob = b"\0".join(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row.values())
            assert not any(n in blob for n in needles)
