"""With a public access log, every release and every conversion is a leaf there before anything leaves: the
municipality's per-resident record first, then T1's and T2's conversion records, then the agency's answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from pep_network import GIFU, PENSION, World, enrol_one, make_world, person, standard_rules
from sekisho.auditlog.client import close_access_logs
from sekisho.auditlog.service import LogService, init_parties
from sekisho.config import Home
from sekisho.registry import store as st
from sekisho.transparency.entry import LogEntry, derive_commitment_key, scan_for_subject

SECRET = b"test-log-passphrase"


@pytest.fixture
def logged_world(home: Home) -> Iterator[World]:
    init_parties(home, SECRET, origin="log.sekisho.test", witness_name="watchdog.sekisho.test")
    yield from make_world(home)
    close_access_logs()


def _entries(home: Home) -> list[LogEntry]:
    svc = LogService.open(home)
    try:
        return [LogEntry.decode(e) for e in svc.entries(start=0, end=svc.size())]
    finally:
        svc.close()


def test_an_enrolment_is_in_the_log_before_the_agency_has_it(home: Home, logged_world: World) -> None:
    standard_rules(logged_world.pdp)
    logged_world.create_agency(*PENSION)
    gifu = logged_world.register(GIFU)
    r = gifu.add(person())
    pseudonym = enrol_one(logged_world, GIFU, r.handle, *PENSION)
    assert pseudonym
    entries = _entries(home)
    kinds = [(e.actor_kind, e.actor, e.action) for e in entries]
    enrolment = kinds.index(("agency", "pension", "enrolment"))  # the record names who received the data
    # the R→A conversion of that enrolment, one leaf per transcryptor, after the municipality's record
    conversions = [
        i
        for i, e in enumerate(entries)
        if e.action == "conversion" and "to:pension" in e.reason_codes and i > enrolment
    ]
    assert [entries[i].actor for i in conversions] == ["t1", "t2"]
    for i in conversions:
        e = entries[i]
        assert e.actor_kind == "transcryptor"
        assert e.purpose == "pension.benefit"
        assert {"from:registry", "to:pension", "count:1"} <= set(e.reason_codes)
    # the resident finds the enrolment (and the register's own index conversion is not theirs to find)
    with gifu.engine.connect() as conn:
        root = conn.execute(sa.select(st.resident.c.root)).scalar_one()
    mine = list(scan_for_subject(((i, e.encode()) for i, e in enumerate(entries)), derive_commitment_key(bytes(root))))
    assert enrolment in [i for i, _ in mine]
    assert all(e.actor_kind != "transcryptor" for _, e in mine)
    # every local access record of the register is published
    with gifu.engine.connect() as conn:
        unpublished = conn.execute(st.access.select().where(st.access.c.log_index.is_(None))).all()
    assert unpublished == []
