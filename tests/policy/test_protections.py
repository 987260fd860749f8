"""Resident protections: a protected resident is never disclosed to a third party on any path; named requesters,
self-service, provisional protection, term and renewal, family, the measure carried across a move; 本人通知;
consent and opt-out; the municipality's optional services."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import get_args

import pytest
import sqlalchemy as sa

from sekisho.config import Home
from sekisho.errors import Conflict, InvalidInput
from sekisho.jp.legal import default_table
from sekisho.node.local import LocalDirectory
from sekisho.node.registers import create_register
from sekisho.policy import store as pst
from sekisho.policy.municipality import MunicipalityPolicy
from sekisho.protocols.access import AccessRequest, Action, Decision, RequesterKind, SubjectFacts
from sekisho.registry.service import Actor, RegisterService

from .conftest import NOW, Clock, Policy
from .helpers import request_for

ACTIONS: tuple[str, ...] = get_args(Action)
KINDS: tuple[str, ...] = get_args(RequesterKind)
TABLE = default_table()
GIFU, CHIYODA = "212016", "131016"
ABUSER = ("加害", "太郎", "1980-01-02")


def _allowed(action: str) -> Decision:
    """An allowed decision as the decision point would give it for some lawful request on this path."""
    return Decision(
        decision_id="0" * 32,
        allow=True,
        items=frozenset({"name", "address"}),
        reasons=("basis-law",),
        legal_basis="pension.benefit",
    )


def _request(action: str, kind: str, *, requester: str = "req-1", **kw: object) -> AccessRequest:
    extra: dict[str, object] = {}
    if action == "conversion":
        extra = {"from_domain": "registry", "to_domain": "pension"}
    if action == "cross-reference":
        extra = {"to_domain": "pension"}
    return AccessRequest(
        requester=requester,
        requester_kind=kind,
        action=action,
        purpose="pension.benefit",  # type: ignore[arg-type]
        items=frozenset({"name", "address"}),
        at=NOW,
        terminal="t-1",
        **extra,
        **kw,
    )  # type: ignore[arg-type]


PROTECTED = SubjectFacts(protected=True, protected_requester_refused=frozenset({"person:abuser"}), subject_ref="s" * 32)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("kind", ["third-party", "proxy"])
def test_a_protected_resident_is_never_disclosed_to_a_third_party_on_any_path(
    policy: Policy, action: str, kind: str
) -> None:
    dp = policy.watchdog.decision_point()
    d = dp.check_subject(_allowed(action), PROTECTED, _request(action, kind))
    assert not d.allow and d.items == frozenset()
    assert "protected-third-party" in d.reasons and "clerk-review" in d.reasons
    assert d.parent == "0" * 32


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_the_named_requester_is_refused_whoever_they_are_and_whatever_the_path(
    policy: Policy, action: str, kind: str
) -> None:
    d = policy.watchdog.decision_point().check_subject(
        _allowed(action), PROTECTED, _request(action, kind, requester="person:abuser")
    )
    assert not d.allow and "protected-requester-named" in d.reasons


@pytest.mark.parametrize("action", ACTIONS)
def test_lawful_agencies_and_the_resident_still_get_through_and_are_marked(policy: Policy, action: str) -> None:
    dp = policy.watchdog.decision_point()
    for kind in ("agency", "resident", "clerk", "municipality"):
        d = dp.check_subject(_allowed(action), PROTECTED, _request(action, kind))
        assert d.allow and "protected-subject" in d.reasons


def test_self_service_issuance_is_blocked_for_a_protected_resident(policy: Policy) -> None:
    dp = policy.watchdog.decision_point()
    req = _request("certificate", "resident", self_service=True)
    assert dp.check_subject(_allowed("certificate"), PROTECTED, req).reasons == ("protected-self-service",)
    assert dp.check_subject(_allowed("certificate"), SubjectFacts(), req).allow  # unprotected: unchanged
    assert dp.check_subject(_allowed("certificate"), SubjectFacts(), req).decision_id == "0" * 32


def test_a_refusal_is_never_turned_into_a_release(policy: Policy) -> None:
    refused = Decision(decision_id="1" * 32, allow=False, items=frozenset(), reasons=("no-legal-basis",))
    assert (
        policy.watchdog.decision_point().check_subject(refused, SubjectFacts(), _request("certificate", "resident"))
        is refused
    )


# --- consent, opt-out, optional services ---------------------------------------------------------------------------

BANK = TABLE.row("bank.kyc")


def _bank_decision(policy: Policy) -> tuple[Decision, AccessRequest]:
    req = request_for(BANK, "identity-confirmation", frozenset({"name", "address"}))
    d = policy.watchdog.decision_point().decide(req)
    assert d.allow and d.consent_required
    return d, req


def test_consent_only_uses_need_the_residents_consent_and_respect_the_opt_out(policy: Policy) -> None:
    dp = policy.watchdog.decision_point()
    d, req = _bank_decision(policy)
    joined = frozenset({"bank.kyc"})
    assert dp.check_subject(d, SubjectFacts(municipality_joined=joined), req).reasons == ("consent-missing",)
    given = SubjectFacts(consented_requesters=frozenset({"samplebank"}), municipality_joined=joined)
    ok = dp.check_subject(d, given, req)
    assert ok.allow and not ok.consent_required and "consent-given" in ok.reasons
    opted = replace(given, opted_out_of_consent_uses=True)
    assert dp.check_subject(d, opted, req).reasons == ("opted-out",)
    not_joined = replace(given, municipality_joined=frozenset())
    assert dp.check_subject(d, not_joined, req).reasons == ("municipality-not-joined",)


# --- the municipality's own tables ---------------------------------------------------------------------------------


def _register(home: Home, code: str, clock: Clock) -> RegisterService:
    today = lambda: clock().date()  # noqa: E731
    return create_register(
        home, code, actor=Actor(clerk="clerk-7"), today=today, directory=LocalDirectory(home, today=today)
    )


def _person(**kw: str) -> dict[str, str]:
    row = {
        "household": "h1",
        "relationship": "世帯主",
        "family_name": "髙橋",
        "given_name": "花子",
        "family_name_kana": "タカハシ",
        "given_name_kana": "ハナコ",
        "birth_date": "昭和60年4月1日",
        "sex": "女",
        "nationality": "日本",
        "town": "青柳町",
        "block": "3丁目5番12号",
        "katagaki": "",
        "became_resident_on": "平成10年4月1日",
        "address_set_on": "平成10年4月1日",
        "honseki": "岐阜県岐阜市青柳町3丁目5番地",
        "hittousha": "髙橋　花子",
    }
    row.update(kw)
    return row


@pytest.fixture
def gifu(home: Home, clock: Clock) -> tuple[RegisterService, MunicipalityPolicy]:
    reg = _register(home, GIFU, clock)
    return reg, MunicipalityPolicy.open(home, GIFU, clock=clock, households=reg.household_members)


def test_measure_covers_family_refuses_third_parties_and_flags_a_clerk(policy: Policy, gifu) -> None:  # type: ignore[no-untyped-def]
    reg, mp = gifu
    mother = reg.add(_person())
    child = reg.add(
        _person(
            given_name="翔",
            given_name_kana="ショウ",
            relationship="子",
            sex="男",
            birth_date="平成30年5月5日",
            became_resident_on="平成30年5月5日",
            address_set_on="平成30年5月5日",
            hittousha="髙橋　花子",
        ),
        household=mother.household,
    )
    other = reg.add(_person(household="h2", family_name="佐藤", family_name_kana="サトウ", hittousha="佐藤　花子"))
    ref = mp.add_measure(handle=mother.handle, kind="dv", by="clerk-7", include_household=True, named_persons=[ABUSER])
    assert {p["handle"] for p in mp.measure(ref)["persons"]} == {mother.handle, child.handle}
    assert mp.facts(child.handle).protected and not mp.facts(other.handle).protected
    assert mp.measure(ref)["state"] == "provisional" and mp.measure(ref)["in_force"]  # protected while checked

    dp = policy.watchdog.decision_point()
    row = TABLE.row("certificate.third-party")
    req = request_for(row, "certificate", frozenset({"name", "address"}))
    d = dp.decide(req)
    assert d.allow  # the law allows third parties with a legitimate reason...
    screened = mp.screen(child.handle, d, req, pdp=dp)
    assert not screened.allow and "protected-third-party" in screened.reasons  # ...but not about this child
    tasks = mp.tasks()
    assert {t["kind"] for t in tasks} == {"measure-to-confirm", "protected-third-party-request"}
    assert next(t for t in tasks if t["kind"] == "protected-third-party-request")["decision_id"] == screened.decision_id
    assert mp.screen(other.handle, d, req, pdp=dp).allow

    abuser = mp.person_requester(*ABUSER)
    assert abuser == mp.person_requester(" 加害", "太郎 ", "1980-01-02")  # spacing does not matter
    own = request_for(TABLE.row("certificate.self"), "certificate", frozenset({"name"}), requester=abuser)
    refused = mp.screen(mother.handle, dp.decide(own), own, pdp=dp)
    assert "protected-requester-named" in refused.reasons


def test_term_renewal_and_lifting(policy: Policy, gifu) -> None:  # type: ignore[no-untyped-def]
    reg, mp = gifu
    r = reg.add(_person())
    ref = mp.add_measure(handle=r.handle, kind="stalking", by="clerk-7")
    m = mp.confirm_measure(ref, by="clerk-8", on=date(2026, 12, 1))
    assert (m["starts_on"], m["expires_on"]) == ("2026-12-01", "2027-11-30")
    with pytest.raises(Conflict):  # too early to renew
        mp.renew_measure(ref, by="clerk-8", on=date(2027, 10, 1))
    assert mp.renew_measure(ref, by="clerk-8", on=date(2027, 11, 15))["expires_on"] == "2028-11-30"
    assert mp.facts(r.handle, on=date(2028, 11, 30)).protected
    assert not mp.facts(r.handle, on=date(2028, 12, 1)).protected  # a year, then it ends
    with pytest.raises(Conflict):
        mp.renew_measure(ref, by="clerk-8", on=date(2028, 12, 2))
    mp.lift_measure(ref, by="clerk-8", reason="requested-by-subject")
    assert not mp.facts(r.handle).protected
    with pytest.raises(InvalidInput):
        mp.add_measure(handle=r.handle, kind="gossip", by="clerk-7")


def test_honkin_tsuchi_tells_the_registered_resident(policy: Policy, gifu) -> None:  # type: ignore[no-untyped-def]
    reg, mp = gifu
    r = reg.add(_person())
    dp = policy.watchdog.decision_point()
    row = TABLE.row("certificate.third-party")
    req = request_for(row, "certificate", frozenset({"name", "address"}), count=2)
    mp.screen(r.handle, dp.decide(req), req, pdp=dp)
    assert mp.notifications(r.handle) == []  # not registered yet
    mp.register_for_notices(r.handle)
    mp.screen(r.handle, dp.decide(req), req, pdp=dp)
    own = request_for(TABLE.row("certificate.self"), "certificate", frozenset({"name"}))
    mp.screen(r.handle, dp.decide(own), own, pdp=dp)  # the resident's own copy: nothing to tell
    [n] = mp.notifications(r.handle)
    assert n == {
        "notification_id": n["notification_id"],
        "obtained_on": NOW.date().isoformat(),
        "certificate": "certificate.third-party",
        "requester_category": "third-party",
        "copies": 2,
        "read": False,
    }


def test_consent_and_opt_out_are_kept_per_resident(policy: Policy, gifu) -> None:  # type: ignore[no-untyped-def]
    reg, mp = gifu
    r = reg.add(_person())
    dp = policy.watchdog.decision_point()
    d, req = _bank_decision(policy)
    assert "municipality-not-joined" in mp.screen(r.handle, d, req, pdp=dp).reasons  # opt-in per municipality
    mp.set_optional_service("bank.kyc", joined=True)
    assert mp.screen(r.handle, d, req, pdp=dp).reasons == ("consent-missing",)
    mp.give_consent(r.handle, "samplebank")
    assert mp.screen(r.handle, d, req, pdp=dp).allow
    mp.set_opt_out(r.handle, opted_out=True)
    assert mp.screen(r.handle, d, req, pdp=dp).reasons == ("opted-out",)
    mp.set_opt_out(r.handle, opted_out=False)
    mp.withdraw_consent(r.handle, "samplebank")
    assert mp.screen(r.handle, d, req, pdp=dp).reasons == ("consent-missing",)
    with pytest.raises(InvalidInput):
        mp.set_optional_service("pension.benefit", joined=True)  # a legal duty is not optional


def test_the_measure_travels_with_the_person(policy: Policy, home: Home, clock: Clock) -> None:
    """A real move: the origin's register puts the measure into the transfer package, the destination's register
    puts it in force in the transaction that creates the incoming record."""
    gifu, chiyoda = _register(home, GIFU, clock), _register(home, CHIYODA, clock)
    mp_gifu = MunicipalityPolicy.open(home, GIFU, clock=clock)
    mp_chiyoda = MunicipalityPolicy.open(home, CHIYODA, clock=clock)
    r = gifu.add(_person())
    ref = mp_gifu.add_measure(
        handle=r.handle,
        kind="dv",
        by="clerk-7",
        named_persons=[ABUSER],
        named_requesters=["agency-staff-99"],
        provisional=False,
    )
    _out, token, _late = gifu.move_out(
        r.handle,
        destination="東京都千代田区飯田橋2丁目3番4号",
        planned_on=(clock().date() + timedelta(days=3)).isoformat(),
    )
    package = gifu.fetch_transfer(token or "", requester=CHIYODA)
    assert package.support_measure is not None and package.support_measure["measures"][0]["ref"] == ref
    assert "加害" not in repr(package)
    moved = chiyoda.move_in(
        {"town": "飯田橋", "block": "2丁目3番4号"}, moved_on=clock().date().isoformat(), transfer=token or ""
    ).resident
    facts = mp_chiyoda.facts(moved.handle)
    assert facts.protected and "agency-staff-99" in facts.protected_requester_refused
    # the destination names the abuser under its own key, and recognises them at its counter
    assert mp_chiyoda.person_requester(*ABUSER) in facts.protected_requester_refused
    assert mp_gifu.person_requester(*ABUSER) not in facts.protected_requester_refused
    [carried] = mp_chiyoda.measures(handle=moved.handle)
    assert (carried["ref"], carried["origin"], carried["expires_on"]) == (ref, GIFU, mp_gifu.measure(ref)["expires_on"])
    assert "measure-carried-in" in {t["kind"] for t in mp_chiyoda.tasks()}
    with pytest.raises(InvalidInput), chiyoda.engine.begin() as conn:
        mp_chiyoda.honour_measure(conn, handle=moved.handle, payload={"format": "something-else"})


def test_an_unprotected_person_moves_without_a_measure(home: Home, clock: Clock) -> None:
    gifu = _register(home, GIFU, clock)
    r = gifu.add(_person())
    _out, token, _late = gifu.move_out(
        r.handle,
        destination="東京都千代田区飯田橋2丁目3番4号",
        planned_on=(clock().date() + timedelta(days=3)).isoformat(),
    )
    assert gifu.fetch_transfer(token or "", requester=CHIYODA).support_measure is None


# --- records --------------------------------------------------------------------------------------------------------


def test_measures_and_digests_stay_in_the_municipality(policy: Policy, gifu) -> None:  # type: ignore[no-untyped-def]
    reg, mp = gifu
    r = reg.add(_person())
    mp.add_measure(handle=r.handle, kind="dv", by="clerk-7", named_persons=[ABUSER])
    dp = policy.watchdog.decision_point()
    req = request_for(TABLE.row("certificate.third-party"), "certificate", frozenset({"name"}))
    mp.screen(r.handle, dp.decide(req), req, pdp=dp)
    with policy.watchdog.engine.connect() as conn:
        rows = [dict(x._mapping) for x in conn.execute(sa.select(pst.decision))]
    text = repr(rows)
    for secret in (r.handle, "髙橋", "加害", "1980-01-02"):
        assert secret not in text
    assert any(x["subject_ref"] for x in rows)  # the watchdog sees an opaque reference, never the handle
