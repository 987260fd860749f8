"""PIAs: levels by number of persons, sections by level, the watchdog's review and signature, and the rule that
an agency gets nothing without an approved PIA covering exactly what it asks."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import yaml

from sekisho.errors import Conflict, InvalidInput, Refused, Unavailable
from sekisho.jp.legal import default_table
from sekisho.policy.pia import SECTIONS, load_pia, parse_pia, required_level, review
from sekisho.policy.service import Watchdog, verify_pia_statement
from sekisho.policy.signing import public_keys

from .conftest import OFFICER, REJECTED, Clock, Policy, file_samples, open_watchdog, sample_pias
from .helpers import request_for

TABLE = default_table()
PENSION = TABLE.row("pension.benefit")


def _doc(name: str) -> dict:
    path = next(p for p in sample_pias() if p.name == name)
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("persons", "handlers", "incident", "level"),
    [
        (1, 0, False, "none"),
        (999, 0, False, "none"),
        (1_000, 0, False, "simplified"),
        (299_999, 10, False, "simplified"),
        (150_000, 500, False, "full"),
        (150_000, 10, True, "full"),
        (99_999, 5_000, True, "simplified"),
        (300_000, 1, False, "full"),
        (67_000_000, 1, False, "full"),
    ],
)
def test_required_level(persons: int, handlers: int, incident: bool, level: str) -> None:
    assert required_level(persons, handlers=handlers, serious_incident=incident) == level


@pytest.mark.parametrize("path", sample_pias(), ids=lambda p: p.name)
def test_samples_are_schema_valid_and_all_but_one_approvable(path) -> None:  # type: ignore[no-untyped-def]
    pia = load_pia(path)
    findings = review(pia, TABLE)
    assert (findings != []) == (pia.id == REJECTED)


def test_the_bad_sample_is_refused_for_every_reason() -> None:
    pia = load_pia(next(p for p in sample_pias() if p.name == "samplebank-marketing.yaml"))
    assert review(pia, TABLE) == [
        "pia-level-too-low:full",
        "purpose-no-legal-basis",
        "item-beyond-legal-basis:household",
    ]


@pytest.mark.parametrize("level", ["simplified", "full"])
def test_each_level_needs_its_sections(level: str) -> None:
    doc = _doc("pension.yaml")
    doc["level"] = level
    parse_pia(doc)
    for section in SECTIONS[level]:
        broken = copy.deepcopy(doc)
        del broken[section]
        with pytest.raises(InvalidInput) as exc:
            parse_pia(broken)
        assert "schema" in str(exc.value)


def test_a_declaration_needs_no_assessment_sections() -> None:
    doc = _doc("samplebank.yaml")
    assert parse_pia(doc).level == "none"
    assert not set(SECTIONS["full"]) & set(doc)


def test_a_full_assessment_must_cover_the_main_risks() -> None:
    doc = _doc("pension.yaml")
    doc["risks"] = [r for r in doc["risks"] if r["category"] != "over-retention"]
    assert "risk-not-assessed:over-retention" in review(parse_pia(doc), TABLE)


def test_schema_errors_name_the_place_not_the_value() -> None:
    doc = _doc("pension.yaml")
    doc["items"] = ["name", "山田太郎"]
    with pytest.raises(InvalidInput) as exc:
        parse_pia(doc)
    assert "items/1" in str(exc.value) and "山田" not in str(exc.value)


# --- the watchdog's register -----------------------------------------------------------------------------------


def test_unapproved_pia_blocks_the_agency_and_approval_unblocks(home, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    wd = open_watchdog(home, clock)
    dp = wd.decision_point()
    req = request_for(PENSION, "identity-confirmation", frozenset({"name", "address"}))
    assert dp.decide(req).reasons == ("pia-missing",)
    wd.submit_pia(load_pia(next(p for p in sample_pias() if p.name == "pension.yaml")), by="agency-officer")
    assert dp.decide(req).reasons == ("pia-not-approved",)
    decision = wd.approve_pia("pension-kyufu-2026", by=OFFICER)
    ok = dp.decide(req)
    assert ok.allow and ok.pia == "pension-kyufu-2026"
    body = verify_pia_statement(decision.statement, public_keys(home))
    assert body["decision"] == "approved" and body["digest"] == wd.pia("pension-kyufu-2026")["digest"]


def test_a_rejected_pia_blocks_and_carries_signed_reasons(policy: Policy) -> None:
    wd = policy.watchdog
    row = TABLE.row("bank.kyc")
    assert wd.pia(REJECTED)["status"] == "submitted"
    with pytest.raises(Refused):
        wd.approve_pia(REJECTED, by=OFFICER)
    d = wd.reject_pia(REJECTED, by=OFFICER, reasons=["marketing-not-a-task"])
    assert d.reasons[-1] == "marketing-not-a-task"
    body = verify_pia_statement(d.statement, public_keys(policy.home))
    assert body["decision"] == "rejected" and "purpose-no-legal-basis" in body["reasons"]
    with pytest.raises(Conflict):
        wd.approve_pia(REJECTED, by=OFFICER)
    # the bank's other, approved declaration still works; the rejected one added nothing
    assert policy.watchdog.decision_point().decide(request_for(row, "identity-confirmation", frozenset({"name"}))).allow


def _pension_v2(items: list[str], *, supersedes: str | None = "pension-kyufu-2026") -> object:
    doc = _doc("pension.yaml")
    doc.update(id="pension-kyufu-2027", items=items, supersedes=supersedes, submitted_on="2027-01-10")
    return parse_pia(doc)


def test_a_new_item_needs_a_new_approved_pia_and_supersedes_the_old(policy: Policy) -> None:
    wd, dp = policy.watchdog, policy.watchdog.decision_point()
    narrow = _doc("pension.yaml")
    narrow.update(id="pension-narrow-2026", items=["name", "address"], system="年金照会（窓口）")
    wd.submit_pia(parse_pia(narrow), by="agency-officer")
    # two systems of one agency may not both cover one purpose
    assert "purpose-covered-by-other-system" in wd.review_pia("pension-narrow-2026")

    # the approved PIA lacks 'household' (and the law gives none): refused, naming the item
    req = request_for(PENSION, "identity-confirmation", frozenset({"name", "sex"}))
    assert dp.decide(req).allow
    v2 = _pension_v2(["name", "address", "death", "moved"])  # drops kana, birth_date and sex
    wd.submit_pia(v2, by="agency-officer")  # type: ignore[arg-type]
    assert dp.decide(req).allow, "the old PIA stays in force until the new one is approved"
    wd.approve_pia("pension-kyufu-2027", by=OFFICER)
    assert wd.pia("pension-kyufu-2026")["status"] == "superseded"
    refused = dp.decide(req)
    assert not refused.allow and refused.reasons == ("item-not-allowed:sex",)
    ok = dp.decide(replace(req, items=frozenset({"name", "address"})))
    assert ok.allow and ok.pia == "pension-kyufu-2027"


def test_a_superseded_pia_alone_blocks(policy: Policy) -> None:
    wd = policy.watchdog
    doc = _doc("pension.yaml")
    doc.update(id="pension-kyufu-2027", purposes=["pension.benefit"], supersedes="pension-kyufu-2026")
    wd.submit_pia(parse_pia(doc), by="agency-officer")
    wd.approve_pia("pension-kyufu-2027", by=OFFICER)
    d = wd.decision_point().decide(
        request_for(TABLE.row("pension.contribution"), "identity-confirmation", frozenset({"name"}))
    )
    assert d.reasons == ("pia-superseded",)


def test_supersession_must_be_declared(policy: Policy) -> None:
    wd = policy.watchdog
    wd.submit_pia(_pension_v2(["name"], supersedes=None), by="agency-officer")  # type: ignore[arg-type]
    assert wd.review_pia("pension-kyufu-2027") == ["supersedes-mismatch"]


def test_a_pia_is_never_edited(policy: Policy) -> None:
    pia = load_pia(next(p for p in sample_pias() if p.name == "pension.yaml"))
    policy.watchdog.submit_pia(pia, by="agency-officer")  # the same document again: no-op
    changed = parse_pia({**pia.document, "persons": pia.persons + 1})
    with pytest.raises(Conflict):
        policy.watchdog.submit_pia(changed, by="agency-officer")


def test_an_approval_lapses_after_five_years(policy: Policy) -> None:
    policy.clock.advance(days=5 * 366)
    d = policy.watchdog.decision_point().decide(request_for(PENSION, "identity-confirmation", frozenset({"name"})))
    assert d.reasons == ("pia-expired",)


def test_a_revoked_approval_blocks(policy: Policy) -> None:
    policy.watchdog.revoke_pia("pension-kyufu-2026", by=OFFICER, reason="incident-reported")
    d = policy.watchdog.decision_point().decide(request_for(PENSION, "identity-confirmation", frozenset({"name"})))
    assert d.reasons == ("pia-revoked",)


def test_deciding_needs_the_watchdogs_key(home, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    file_samples(open_watchdog(home, clock), approve=False)
    reader = Watchdog.open(home, clock=clock)  # no passphrase: can read and decide, not sign
    assert reader.pia("pension-kyufu-2026")["status"] == "submitted"
    with pytest.raises(Unavailable):
        reader.approve_pia("pension-kyufu-2026", by=OFFICER)
