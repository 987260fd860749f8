"""Every row of the shipped legal-basis table: an allowed request releases exactly its items; one more is refused."""

from __future__ import annotations

import copy

import pytest
import yaml

from sekisho.errors import InvalidInput
from sekisho.jp.legal import EVENTS, ITEMS, default_table, parse_table
from sekisho.policy.pia import load_pia

from .conftest import Policy, sample_pias
from .helpers import request_for, warrant_for

TABLE = default_table()
CASES = [(row, action) for row in TABLE.rows for action in sorted(row.actions)]
PIA_ITEMS = {(p.agency, purpose): p.items for p in map(load_pia, sample_pias()) for purpose in p.purposes}


def _allowed(row) -> frozenset[str]:  # type: ignore[no-untyped-def]
    if row.requester_kind == "agency":
        return row.items & PIA_ITEMS[(row.agency, row.purpose)]
    return row.items


@pytest.mark.parametrize(("row", "action"), CASES, ids=[f"{r.id}:{a}" for r, a in CASES])
def test_row_releases_exactly_its_items_and_refuses_one_more(policy: Policy, row, action) -> None:  # type: ignore[no-untyped-def]
    dp = policy.watchdog.decision_point()
    allowed = _allowed(row)
    assert allowed == row.items, "the sample PIAs cover their rows in full"
    token = warrant_for(policy.watchdog, row)[1] if action == "cross-reference" else None

    ok = dp.decide(request_for(row, action, allowed, warrant=token))
    assert ok.allow, ok.reasons
    assert ok.items == row.items
    assert ok.legal_basis == row.id
    assert ok.consent_required == row.consent
    assert ("basis-consent" if row.consent else "basis-law") in ok.reasons
    if action == "notice":
        assert ok.events == row.events

    extra = next((i for i in ITEMS if i not in allowed), None)
    if extra is None:  # the clerks' row holds every item of the vocabulary: nothing more exists to ask for
        refused = dp.decide(request_for(row, action, allowed | {"gait"}, warrant=token))
        assert not refused.allow and refused.reasons == ("item-unknown",)
        return
    refused = dp.decide(request_for(row, action, allowed | {extra}, warrant=token))
    assert not refused.allow
    assert refused.items == frozenset()
    assert f"item-not-allowed:{extra}" in refused.reasons


def test_a_subset_releases_only_the_subset(policy: Policy) -> None:
    row = TABLE.row("pension.benefit")
    d = policy.watchdog.decision_point().decide(request_for(row, "identity-confirmation", frozenset({"address"})))
    assert d.allow and d.items == frozenset({"address"})


def test_every_reason_names_each_item_beyond_the_basis(policy: Policy) -> None:
    row = TABLE.row("certificate.third-party")
    d = policy.watchdog.decision_point().decide(
        request_for(row, "certificate", frozenset({"name", "honseki", "household"}))
    )
    assert not d.allow
    assert set(d.reasons) == {"item-not-allowed:honseki", "item-not-allowed:household"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"purpose": "pension.unknown"}, "purpose-unknown"),
        ({"requester": "tax", "purpose": "pension.benefit"}, "no-legal-basis"),
        ({"action": "certificate"}, "action-not-allowed:certificate"),
        ({"items": frozenset({"not-an-item"})}, "item-unknown"),
    ],
)
def test_requests_outside_the_table_are_refused(policy: Policy, change: dict, reason: str) -> None:
    from dataclasses import replace

    row = TABLE.row("pension.benefit")
    d = policy.watchdog.decision_point().decide(
        replace(request_for(row, "identity-confirmation", frozenset()), **change)
    )
    assert not d.allow and reason in d.reasons


def test_notices_only_for_entitled_events(policy: Policy) -> None:
    from dataclasses import replace

    row = TABLE.row("pension.contribution")
    dp = policy.watchdog.decision_point()
    base = request_for(row, "notice", frozenset({"moved"}))
    for event in sorted(EVENTS):
        d = dp.decide(replace(base, event=event))
        assert d.allow == (event in row.events)
    assert "event-missing" in dp.decide(replace(base, event=None)).reasons
    assert "event-unknown" in dp.decide(replace(base, event="exploded")).reasons


def test_the_bank_has_no_legal_basis_only_consent() -> None:
    bank = [r for r in TABLE.rows if r.agency == "samplebank"]
    assert bank and all(r.basis == "consent" and r.law is None and r.optional for r in bank)


def test_table_cites_articles_and_marks_unverified() -> None:
    for r in TABLE.rows:
        if r.basis == "law":
            assert r.law and r.article
            assert r.citation.endswith("[unverified]") != r.verified
    assert any(r.verified for r in TABLE.rows) and any(not r.verified for r in TABLE.rows)


def _raw() -> dict:
    from importlib import resources

    return yaml.safe_load(resources.files("sekisho.jp").joinpath("data", "legal-bases.yaml").read_text())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["bases"][0].update(items=["name", "shoe_size"]),  # unknown item
        lambda d: d["bases"][0].pop("article"),  # a law row without its article
        lambda d: d["bases"][0].update(agency="nobody"),  # an agency the table does not list
        lambda d: d["bases"].append(copy.deepcopy(d["bases"][0])),  # a repeated row
        lambda d: d["bases"][0].update(basis="consent"),  # consent rows cite no law
        lambda d: d.update(extra=1),  # unknown top-level key
        lambda d: next(b for b in d["bases"] if b["id"] == "welfare.means-test").pop("targets"),
    ],
)
def test_broken_tables_are_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    doc = _raw()
    parse_table(doc)  # the shipped one is valid
    mutate(doc)
    with pytest.raises(InvalidInput):
        parse_table(doc)
