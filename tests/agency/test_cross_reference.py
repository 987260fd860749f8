"""Cross-referencing under a warrant (design flow 6), end to end on the shipped policy: the watchdog issues a real
warrant for a legal-basis row that allows cross-reference (the welfare office's means test, the tax office's
criminal investigation); T1 and T2 each check it; the residents' municipalities record it — sealed until the
warrant's date where it has one — before agency B gets anything."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pep_network import CHIYODA, CHIYODA_ADDRESS, GIFU, PASSPHRASE, dump_tables, person, shipped_network
from sekisho.agency import store as agy
from sekisho.agency.service import AgencyService
from sekisho.auditlog.client import close_access_logs
from sekisho.auditlog.keys import LogConfig
from sekisho.auditlog.service import LogService, init_parties
from sekisho.auditlog.witness import Witness
from sekisho.cli import app
from sekisho.config import Home
from sekisho.errors import Refused, Unavailable
from sekisho.node.local import LocalNetwork
from sekisho.pep.encoding import decode_pseudonym
from sekisho.pep.flows import conversion_request, convert_batch, encrypt_pseudonyms
from sekisho.policy.service import Watchdog
from sekisho.protocols.conversion import REGISTRY_DOMAIN, record_leg_id
from sekisho.pseudonyms import store as pep
from sekisho.registry import store as st
from sekisho.registry.service import RegisterService, access_list_json
from sekisho.transparency.entry import LogEntry, derive_commitment_key, scan_for_subject
from sekisho.transparency.log import verify_access_document

SECRET = b"test-log-passphrase"
FAST_N = 2**14
MEANS_TEST = "welfare.means-test"  # welfare-saitama → pension | tax, no sealing
CRIMINAL = "tax.criminal-investigation"  # tax → pension | kyokai-kenpo, sealing allowed (国税通則法 §132)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Resident:
    code: str
    handle: str
    #: each agency's own pseudonym of this resident (text), from its enrolment
    pseudonyms: dict[str, str]


@dataclass
class X:
    home: Home
    net: LocalNetwork
    clock: Clock
    watchdog: Watchdog
    residents: list[Resident]

    def agency(self, name: str) -> AgencyService:
        return self.net.agency_service(name)

    def register(self, code: str) -> RegisterService:
        return self.net.register(code)

    def warrant(
        self,
        requester: str = "welfare-saitama",
        *,
        target: str = "pension",
        purpose: str = MEANS_TEST,
        persons: int = 2,
        days: int = 30,
        sealed_until: date | None = None,
        approve: bool = True,
    ) -> tuple[str, str]:
        """A warrant the watchdog issued for the shipped row ``purpose``: (id, token — or the id if not approved)."""
        wid = self.watchdog.request_warrant(
            requester=requester,
            target=target,
            purpose=purpose,
            legal_basis=purpose,
            case_reference="case/2026-0042",
            persons=persons,
            not_after=self.clock() + timedelta(days=days),
            sealed_until=sealed_until,
            by="agency-officer-3",
        )
        return wid, self.watchdog.approve_warrant(wid, by="wd-officer-1") if approve else wid

    def asked(self, agency: str, *, people: slice = slice(None)) -> list[str]:
        return [r.pseudonyms[agency] for r in self.residents[people]]


def _enrol(net: LocalNetwork, code: str, handle: str, agency: str, purpose: str) -> str:
    svc = net.agency_service(agency)
    report = net.releases(code).enrol([handle], agency=agency, purpose=purpose)
    [received] = svc.delivered(report.deliveries[0])
    return received.pseudonym


@pytest.fixture
def x(home: Home) -> Iterator[X]:
    init_parties(home, SECRET, origin="log.sekisho.test", witness_name="watchdog.sekisho.test")
    clock = Clock()
    agencies = (
        ("pension", "pension.benefit"),
        ("tax", "tax.assessment"),
        ("welfare-saitama", "welfare.public-assistance"),
    )
    gen = shipped_network(
        home,
        approve=("pension", "tax", "welfare-saitama"),
        agencies=agencies,
        codes=(GIFU, CHIYODA),
        clock=clock,
    )
    net = next(gen)
    residents = []
    for code, row in (
        (GIFU, person()),
        (CHIYODA, person(household="c1", given_name="花子", given_name_kana="ハナコ", sex="女", **CHIYODA_ADDRESS)),
    ):
        r = net.register(code).add(row)
        residents.append(
            Resident(code, r.handle, {name: _enrol(net, code, r.handle, name, purpose) for name, purpose in agencies})
        )
    wd = Watchdog.open(home, passphrase=PASSPHRASE, clock=clock, scrypt_n=FAST_N)
    yield X(home, net, clock, wd, residents)
    wd.engine.dispose()
    close_access_logs()
    next(gen, None)


# --- what the checks look at ------------------------------------------------------------------------------------------


def _records(x: X, action: str = "cross-reference") -> list[Any]:
    out: list[Any] = []
    for code in (GIFU, CHIYODA):
        with x.register(code).engine.connect() as conn:
            out += conn.execute(sa.select(st.access).where(st.access.c.action == action).order_by(st.access.c.id)).all()
    return out


def _uses(x: X, wid: str) -> list[int]:
    """Persons counted under the warrant: at T1, at T2, at the watchdog."""
    counts = []
    for t in x.net._open_transcryptors():
        with t.engine.connect() as conn:
            counts.append(pep.uses(conn, wid))
    counts.append(int(x.watchdog.warrant(wid)["used_here"]))
    return counts


def _entries(home: Home) -> list[LogEntry]:
    svc = LogService.open(home)
    try:
        return [LogEntry.decode(e) for e in svc.entries(start=0, end=svc.size())]
    finally:
        svc.close()


def _witness(home: Home) -> None:
    log = LogService.open(home, secret=SECRET)
    witness = Witness.open(home, secret=SECRET)
    try:
        log.issue_checkpoint()
        log.request_cosignatures(witness)
    finally:
        witness.engine.dispose()
        log.close()


def _k_res(x: X, r: Resident) -> bytes:
    with x.register(r.code).engine.connect() as conn:
        root = conn.execute(sa.select(st.resident.c.root).where(st.resident.c.handle == r.handle)).scalar_one()
    return derive_commitment_key(bytes(root))


def _received(x: X, agency: str = "pension") -> list[Any]:
    return x.agency(agency).received_cross_references()


def _nothing_happened(x: X) -> None:
    assert _received(x) == []
    assert _records(x) == []
    [row] = x.agency(_last_requester(x)).cross_references()[-1:]
    assert row["state"] == "refused"


def _last_requester(x: X) -> str:
    for name in ("welfare-saitama", "tax"):
        if x.agency(name).cross_references():
            return name
    raise AssertionError("no cross-reference was asked for")


# --- the flow ---------------------------------------------------------------------------------------------------------


def test_b_gets_its_own_pseudonyms_only_after_each_municipality_recorded_the_link(
    x: X, monkeypatch: pytest.MonkeyPatch
) -> None:
    wid, token = x.warrant()
    pension = x.agency("pension")
    seen_at_hand_over: list[Any] = []
    receive = pension.receive_cross_reference

    def watch(delivery: Any) -> int:
        seen_at_hand_over.extend(_records(x))
        return receive(delivery)

    monkeypatch.setattr(pension, "receive_cross_reference", watch)
    report = x.net.cross_reference("welfare-saitama", "pension", token, x.asked("welfare-saitama"), purpose=MEANS_TEST)
    assert (report.persons, report.recorded, report.refused, report.not_found, report.delivered) == (2, 2, 0, 0, 2)
    assert report.warrant == wid and report.sealed_until is None and not report.resumed

    # B holds exactly its own pseudonyms of the two persons — the ones its own enrolment gave it — by position
    got = pension.received_cross_references(report.request_id)
    assert [(g.position, g.pseudonym) for g in got] == [
        (0, x.residents[0].pseudonyms["pension"]),
        (1, x.residents[1].pseudonyms["pension"]),
    ]
    assert {(g.requester, g.purpose, g.warrant) for g in got} == {("welfare-saitama", MEANS_TEST, wid)}

    # when B got them, each municipality's record (one per resident, in the register holding them) was in the log
    assert len(seen_at_hand_over) == 2 and all(r.log_index is not None for r in seen_at_hand_over)
    records = _records(x)
    assert [
        (r.actor_kind, r.actor, r.purpose, r.legal_basis, r.warrant, r.items, r.decision, r.sealed_until)
        for r in records
    ] == [("agency", "welfare-saitama", MEANS_TEST, MEANS_TEST, wid, "link", "allow", None)] * 2

    # each transcryptor and the watchdog counted two persons — the record leg costs nothing more
    assert _uses(x, wid) == [2, 2, 2]
    # the public log: T1's and T2's leaves for A → B and for the record leg, naming the warrant
    legs = sorted(
        (e.actor, next(c for c in e.reason_codes if c.startswith("to:")))
        for e in _entries(x.home)
        if e.actor_kind == "transcryptor" and e.warrant == wid
    )
    assert legs == [("t1", "to:pension"), ("t1", "to:registry"), ("t2", "to:pension"), ("t2", "to:registry")]


def test_a_never_holds_bs_pseudonyms(x: X) -> None:
    _, token = x.warrant()
    x.net.cross_reference("welfare-saitama", "pension", token, x.asked("welfare-saitama"), purpose=MEANS_TEST)
    welfare = x.agency("welfare-saitama")
    needles = []
    for r in x.residents:
        text = r.pseudonyms["pension"]
        value = decode_pseudonym(text)[1]
        needles += [value, value.hex().encode(), text.encode(), text.split(":")[2].encode()]
    rows = dump_tables(welfare.engine, agy.metadata)
    blob = b"\0".join(
        bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for row in rows for v in row.values()
    )
    assert not any(n in blob for n in needles)
    # what A kept on the way (its batch, the transcryptors' outputs under B's key) is gone once B has the result
    with welfare.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(agy.xref_hop)).scalar_one() == 0
        assert conn.execute(sa.select(agy.xref_out.c.batch)).scalars().all() == [None]
    [summary] = welfare.cross_references()
    assert (summary["state"], summary["recorded"], summary["delivered"]) == ("delivered", 2, 2)


def test_the_resident_sees_a_sealed_cross_reference_only_from_its_date(x: X) -> None:
    until = x.clock().date() + timedelta(days=30)
    wid, token = x.warrant("tax", purpose=CRIMINAL, persons=1, sealed_until=until)
    gifu = x.residents[0]
    report = x.net.cross_reference("tax", "pension", token, x.asked("tax", people=slice(0, 1)), purpose=CRIMINAL)
    assert (report.recorded, report.delivered, report.sealed_until) == (1, 1, until)
    [record] = _records(x)
    assert (record.actor, record.warrant, record.sealed_until, record.items) == ("tax", wid, until, "link")

    # the public log holds the entry now, without its nonce: nobody, the resident included, can attribute it
    entries = _entries(x.home)
    [sealed] = [e for e in entries if e.action == "cross-reference"]
    assert (sealed.nonce, sealed.sealed_until, sealed.warrant, sealed.actor) == (None, until, wid, "tax")
    k_res = _k_res(x, gifu)
    mine = [e for _, e in scan_for_subject(((i, e.encode()) for i, e in enumerate(entries)), k_res)]
    assert all(e.action != "cross-reference" for e in mine)
    # the watchdog sees the transcryptors' leaves and the warrant's use at once
    assert {e.actor for e in entries if e.actor_kind == "transcryptor" and e.warrant == wid} == {"t1", "t2"}
    assert _uses(x, wid) == [1, 1, 1]

    _witness(x.home)
    config = LogConfig.load(x.home)
    register = x.register(gifu.code)
    before = access_list_json(register.access_list(gifu.handle))
    assert before["sealed_hidden"] == 1
    _, verified = verify_access_document(before, config.vkey, config.witnesses)
    assert "cross-reference" not in {e.action for _, e in verified}

    x.clock.advance(days=30)  # the registers' day follows the clock
    after = access_list_json(register.access_list(gifu.handle))
    assert after["sealed_hidden"] == 0
    _, verified = verify_access_document(after, config.vkey, config.witnesses)
    [(_, seen)] = [(i, e) for i, e in verified if e.action == "cross-reference"]
    assert (seen.actor, seen.warrant, seen.purpose, seen.items) == ("tax", wid, CRIMINAL, ("link",))


def test_an_unsealed_cross_reference_is_in_the_residents_list_at_once(x: X) -> None:
    wid, token = x.warrant()
    x.net.cross_reference("welfare-saitama", "pension", token, x.asked("welfare-saitama"), purpose=MEANS_TEST)
    _witness(x.home)
    config = LogConfig.load(x.home)
    for r in x.residents:
        doc = access_list_json(x.register(r.code).access_list(r.handle))
        _, verified = verify_access_document(doc, config.vkey, config.witnesses)
        [seen] = [e for _, e in verified if e.action == "cross-reference"]
        assert (seen.actor, seen.warrant, seen.sealed_until) == ("welfare-saitama", wid, None)
        assert doc["sealed_hidden"] == 0


# --- refusals: nothing reaches B, no resident's record -----------------------------------------------------------


def test_without_a_warrant(x: X) -> None:
    wid, _ = x.warrant(approve=False)  # requested, never approved: there is no token
    # issue 9 item 16: the reason was warrant-token-required
    with pytest.raises(Refused, match=r"\(warrant-not-approved\)"):
        x.net.cross_reference("welfare-saitama", "pension", wid, x.asked("welfare-saitama"), purpose=MEANS_TEST)
    # refused before anything is converted: not even a refused request is kept
    assert _received(x) == [] and _records(x) == []
    assert x.agency("welfare-saitama").cross_references() == []


def test_a_revoked_warrant_given_by_its_id_is_refused_as_revoked(x: X) -> None:
    wid, _ = x.warrant()
    x.watchdog.revoke_warrant(wid, by="wd-officer-1", reason="case-closed")
    with pytest.raises(Refused, match=r"\(warrant-revoked\)"):
        x.net.cross_reference("welfare-saitama", "pension", wid, x.asked("welfare-saitama"), purpose=MEANS_TEST)
    # refused before anything is converted: not even a refused request is kept
    assert _received(x) == [] and _records(x) == []
    assert x.agency("welfare-saitama").cross_references() == []


def test_with_another_agencys_warrant(x: X) -> None:
    _, token = x.warrant("welfare-saitama")
    with pytest.raises(Refused, match="warrant-other-agency"):
        x.net.cross_reference("tax", "pension", token, x.asked("tax"), purpose=CRIMINAL)
    _nothing_happened(x)


def test_past_its_count(x: X) -> None:
    wid, token = x.warrant(persons=1)
    with pytest.raises(Refused, match="warrant-exhausted"):
        x.net.cross_reference("welfare-saitama", "pension", token, x.asked("welfare-saitama"), purpose=MEANS_TEST)
    _nothing_happened(x)
    one = x.net.cross_reference(
        "welfare-saitama", "pension", token, x.asked("welfare-saitama", people=slice(0, 1)), purpose=MEANS_TEST
    )
    assert one.delivered == 1
    with pytest.raises(Refused, match="warrant-exhausted"):
        x.net.cross_reference(
            "welfare-saitama", "pension", token, x.asked("welfare-saitama", people=slice(1, 2)), purpose=MEANS_TEST
        )
    assert len(_received(x)) == 1 and len(_records(x)) == 1
    assert _uses(x, wid) == [1, 1, 1]


def test_after_expiry(x: X) -> None:
    _, token = x.warrant(days=1)
    x.clock.advance(days=2)
    with pytest.raises(Refused, match="warrant-expired"):
        x.net.cross_reference("welfare-saitama", "pension", token, x.asked("welfare-saitama"), purpose=MEANS_TEST)
    _nothing_happened(x)


def test_after_revocation(x: X) -> None:
    wid, token = x.warrant()
    x.watchdog.revoke_warrant(wid, by="wd-officer-1", reason="case-closed")
    x.clock.advance(minutes=2)  # the transcryptors fetch the watchdog's revocation list every minute
    with pytest.raises(Refused, match="warrant-revoked"):
        x.net.cross_reference("welfare-saitama", "pension", token, x.asked("welfare-saitama"), purpose=MEANS_TEST)
    _nothing_happened(x)


def test_a_revocation_the_transcryptors_have_not_seen_yet_is_refused_by_the_municipalities(x: X) -> None:
    until = x.clock().date() + timedelta(days=90)
    wid, token = x.warrant("tax", purpose=CRIMINAL, sealed_until=until)
    # T1 and T2 fetched the revocation list for the enrolments a moment ago, and fetch it again in a minute
    x.watchdog.revoke_warrant(wid, by="wd-officer-1", reason="case-closed")
    report = x.net.cross_reference("tax", "pension", token, x.asked("tax"), purpose=CRIMINAL)
    # the municipalities decide on the watchdog's own register: refused there, recorded as refused, B gets nothing
    assert (report.recorded, report.refused, report.delivered) == (0, 2, 0)
    assert _received(x) == []
    records = _records(x)
    assert [(r.decision, r.items, r.warrant) for r in records] == [("deny", "", wid)] * 2
    assert all("warrant-revoked" in r.reason_codes for r in records)
    # sealed like the allowed record would have been: a refusal does not reveal the investigation either
    assert all(r.sealed_until == until for r in records)
    assert all(LogEntry.decode(r.entry.encode()).nonce is None for r in records)


def test_a_record_leg_without_its_cross_reference_is_refused(x: X) -> None:
    _, token = x.warrant()
    values = [decode_pseudonym(t)[1] for t in x.asked("welfare-saitama")]
    request = conversion_request(
        encrypt_pseudonyms(values, x.net.params.public_key),
        network=x.net.params,
        from_domain="welfare-saitama",
        to_domain=REGISTRY_DOMAIN,
        purpose=MEANS_TEST,
        grant=token,
        requester="agency/welfare-saitama",
        request_id=record_leg_id("0" * 32),
    )
    with pytest.raises(Refused, match="cross-reference-unpaired"):
        convert_batch(request, x.net.hops())


# --- crashes ----------------------------------------------------------------------------------------------------------


class Crash(Exception):
    pass


def test_a_crash_before_the_hand_over_leaves_the_record_and_a_rerun_hands_over_once(
    x: X, monkeypatch: pytest.MonkeyPatch
) -> None:
    wid, token = x.warrant()
    pension = x.agency("pension")

    def crash(delivery: Any) -> int:
        raise Crash

    monkeypatch.setattr(pension, "receive_cross_reference", crash)
    asked = x.asked("welfare-saitama")
    with pytest.raises(Crash):
        x.net.cross_reference("welfare-saitama", "pension", token, asked, purpose=MEANS_TEST)
    assert _received(x) == []
    records = _records(x)
    assert len(records) == 2 and all(r.log_index is not None for r in records)
    monkeypatch.undo()

    report = x.net.cross_reference("welfare-saitama", "pension", token, asked, purpose=MEANS_TEST)
    assert report.resumed and (report.recorded, report.delivered) == (2, 2)
    assert [g.pseudonym for g in _received(x)] == x.asked("pension")
    assert len(_records(x)) == 2  # nobody recorded twice
    assert _uses(x, wid) == [2, 2, 2]  # nobody counted twice


def test_nothing_reaches_b_when_the_municipalitys_record_does_not_reach_the_log(
    x: X, monkeypatch: pytest.MonkeyPatch
) -> None:
    wid, token = x.warrant()
    log = x.register(GIFU).access_log
    assert log is not None

    def down(entries: object) -> object:
        raise ConnectionError("log unreachable")

    monkeypatch.setattr(log, "append_many", down)
    asked = x.asked("welfare-saitama")
    with pytest.raises(Unavailable):
        x.net.cross_reference("welfare-saitama", "pension", token, asked, purpose=MEANS_TEST)
    assert _received(x) == []
    monkeypatch.undo()

    report = x.net.cross_reference("welfare-saitama", "pension", token, asked, purpose=MEANS_TEST)
    assert report.resumed and report.delivered == 2
    records = _records(x)
    assert len(records) == 2 and all(r.log_index is not None for r in records)
    assert _uses(x, wid) == [2, 2, 2]


def test_a_crash_between_the_transcryptors_resumes_without_counting_again(
    x: X, monkeypatch: pytest.MonkeyPatch
) -> None:
    wid, token = x.warrant()
    t2 = x.net._open_transcryptors()[1]
    convert = t2.convert

    def crash(request: Any) -> Any:
        raise Crash

    monkeypatch.setattr(t2, "convert", crash)
    asked = x.asked("welfare-saitama")
    with pytest.raises(Crash):
        x.net.cross_reference("welfare-saitama", "pension", token, asked, purpose=MEANS_TEST)
    assert _uses(x, wid)[0] == 2 and _records(x) == [] and _received(x) == []
    monkeypatch.setattr(t2, "convert", convert)
    report = x.net.cross_reference("welfare-saitama", "pension", token, asked, purpose=MEANS_TEST)
    assert report.resumed and report.delivered == 2
    assert _uses(x, wid) == [2, 2, 2]


# --- the command line -------------------------------------------------------------------------------------------------


def test_cli_prints_counts_only(x: X) -> None:
    wid, _ = x.warrant()
    env = {
        "SEKISHO_PASSPHRASE": PASSPHRASE.decode(),
        "SEKISHO_DB": x.home.db_url or "",
        "SEKISHO_DB_NAMESPACE": x.home.namespace,
        "SEKISHO_HOME": str(x.home.root),
    }
    args = ["agency", "cross-reference", "welfare-saitama", "--to", "pension", "--warrant", wid]
    for p in x.asked("welfare-saitama"):
        args += ["--pseudonym", p]
    args += ["--purpose", MEANS_TEST]
    result = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("persons", "recorded", "refused", "not_found", "delivered")} == {
        "persons": 2,
        "recorded": 2,
        "refused": 0,
        "not_found": 0,
        "delivered": 2,
    }
    assert data["warrant"] == wid
    out = CliRunner().invoke(app, args, env=env)  # the same persons again: a new cross-reference, past the count
    assert out.exit_code != 0
    for r in x.residents:
        for text in r.pseudonyms.values():
            assert text not in result.output and text not in out.output


def test_a_refusal_is_raised_once_not_also_logged_as_warnings(x: X, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 9 item 16: the CLI printed two warning lines (the transcryptor's, the flow's) before the error."""
    _, token = x.warrant("welfare-saitama")
    with caplog.at_level(logging.WARNING), pytest.raises(Refused, match="warrant-other-agency"):
        x.net.cross_reference("tax", "pension", token, x.asked("tax"), purpose=CRIMINAL)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
