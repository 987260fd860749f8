"""Every decision is recorded with its reasons before it is returned; reasons are codes, never personal data."""

from __future__ import annotations

from datetime import timedelta
from typing import get_args

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

from sekisho.errors import InvalidInput
from sekisho.jp.legal import EVENTS, ITEMS, default_table
from sekisho.policy import store as pst
from sekisho.policy.procedure import REASON_RE
from sekisho.protocols.access import AccessRequest, Action, RequesterKind, SubjectFacts

from .conftest import NOW, Policy

TABLE = default_table()
# free text an attacker or a careless caller might put where a code belongs: none of it may reach a record
JUNK = ["山田太郎", "1980-01-02", "東京都千代田区1-1", "tanaka.taro@example.jp", "0312345678"]

requests = s.builds(
    AccessRequest,
    requester=s.sampled_from([*sorted(TABLE.agencies), "clerk-1", "municipality/131016", "x"]),
    requester_kind=s.sampled_from(get_args(RequesterKind)),
    action=s.sampled_from(get_args(Action)),
    purpose=s.sampled_from([*sorted(TABLE.purposes()), "pension.other", "marketing.x"]),
    items=s.frozensets(s.sampled_from([*ITEMS, *JUNK]), max_size=5),
    at=s.just(NOW),
    terminal=s.sampled_from([None, "t-001", "pension-desk-3"]),
    warrant=s.sampled_from([None, "0" * 32, "not-a-warrant"]),
    from_domain=s.sampled_from([None, "registry", "pension"]),
    to_domain=s.sampled_from([None, "registry", "tax", "pension"]),
    count=s.integers(1, 50),
    event=s.sampled_from([None, *sorted(EVENTS), "exploded"]),
    self_service=s.booleans(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(req=requests, protected=s.booleans())
def test_every_decision_is_recorded_with_code_reasons_and_nothing_personal(
    policy: Policy, req: AccessRequest, protected: bool
) -> None:
    dp = policy.watchdog.decision_point()
    try:
        d = dp.decide(req)
    except InvalidInput:
        return  # malformed (a conversion without domains): an input error, not a decision
    facts = SubjectFacts(protected=protected, subject_ref="f" * 32 if protected else None)
    narrowed = dp.check_subject(d, facts, req)
    for decision in {d, narrowed}:
        assert decision.reasons, "a decision always says why"
        assert all(REASON_RE.fullmatch(r) for r in decision.reasons), decision.reasons
        assert decision.allow or decision.items == frozenset()
        assert decision.items <= req.items
        with policy.watchdog.engine.connect() as conn:
            row = conn.execute(sa.select(pst.decision).where(pst.decision.c.decision_id == decision.decision_id)).one()
        assert row.allow == decision.allow
        assert tuple(row.reasons.split()) == decision.reasons
        assert frozenset(row.items.split()) == decision.items
        stored = repr(dict(row._mapping))
        assert not [j for j in JUNK if j in stored]


def test_records_hold_who_what_why_when(policy: Policy) -> None:
    row = TABLE.row("pension.benefit")
    req = AccessRequest(
        requester="pension",
        requester_kind="agency",
        action="identity-confirmation",
        purpose=row.purpose,
        items=frozenset({"name"}),
        at=NOW - timedelta(seconds=3),
        terminal="pension-desk-3",
    )
    d = policy.watchdog.decision_point().decide(req)
    [rec] = policy.watchdog.decisions()
    assert rec["decision_id"] == d.decision_id
    assert (rec["requester"], rec["terminal"], rec["action"], rec["purpose"]) == (
        "pension",
        "pension-desk-3",
        "identity-confirmation",
        "pension.benefit",
    )
    assert rec["reasons"] == ["basis-law", "pia-approved"] and rec["pia"] == "pension-kyufu-2026"
    assert rec["at"] == NOW.isoformat()


def test_malformed_requests_are_input_errors_that_name_the_field(policy: Policy) -> None:
    import pytest

    dp = policy.watchdog.decision_point()
    base = dict(
        requester="pension",
        requester_kind="agency",
        action="identity-confirmation",
        purpose="pension.benefit",
        items=frozenset({"name"}),
        at=NOW,
    )
    for change, field in (
        ({"requester": "山田 太郎"}, "requester"),
        ({"purpose": "年金"}, "purpose"),
        ({"terminal": "desk 3"}, "terminal"),
        ({"count": 0}, "count"),
        ({"at": NOW.replace(tzinfo=None)}, "at"),
    ):
        with pytest.raises(InvalidInput) as exc:
            dp.decide(AccessRequest(**{**base, **change}))  # type: ignore[arg-type]
        assert exc.value.field == field and "山田" not in str(exc.value)
    assert policy.watchdog.decisions() == []  # nothing recorded for a request that was never decided
