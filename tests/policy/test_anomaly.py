"""The watchdog's anomaly rules on synthetic abuse mixed into normal traffic: precision and recall, printed."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from sekisho.jp.legal import default_table
from sekisho.policy.anomaly import detect
from sekisho.policy.procedure import REASON_RE
from sekisho.protocols.access import SubjectFacts

from .conftest import Policy
from .helpers import request_for
from .synthetic import score, traffic

SEEDS = (1, 2, 3, 4, 5)
#: Why these floors.  Recall first: the watchdog exists to catch abuse, and a missed bulk lookup is a leak nobody
#: hears of; at least 9 in 10 labelled episodes must raise an alert.  Precision: every alert costs an officer a
#: review, and alerts that are mostly noise get ignored; at least 8 in 10 alerts must point at real abuse (with
#: ~20 terminals that is under one false alarm a week).
MIN_RECALL = 0.9
MIN_PRECISION = 0.8


def test_precision_and_recall_on_synthetic_abuse(capsys: pytest.CaptureFixture[str]) -> None:
    tp = fp = missed = total = 0
    per_rule: Counter[str] = Counter()
    per_rule_missed: Counter[str] = Counter()
    false_by_rule: Counter[str] = Counter()
    for seed in SEEDS:
        baseline, records, episodes, start = traffic(seed)
        alerts = []
        for day in range(7):  # one detection run per day, as the watchdog would run it
            lo, hi = start + timedelta(days=day), start + timedelta(days=day + 1)
            seen = [r for r in records if r.at < lo]
            alerts += detect([r for r in records if lo <= r.at < hi], baseline=[*baseline, *seen])
        t, f, m = score(alerts, episodes)
        tp, fp, missed, total = tp + t, fp + f, missed + m, total + len(episodes)
        for e in episodes:
            per_rule[e.rule] += 1
        for e in episodes:
            if score(alerts, [e])[2]:
                per_rule_missed[e.rule] += 1
        for a in alerts:
            if score([a], episodes)[0] == 0:
                false_by_rule[a.rule] += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = (total - missed) / total
    with capsys.disabled():
        print(f"\nanomaly rules over {len(SEEDS)} seeds x 7 days, {total} labelled episodes:")
        for rule in sorted(per_rule):
            print(
                f"  {rule:<17} episodes {per_rule[rule]:>3}  missed {per_rule_missed[rule]:>2}  "
                f"false alerts {false_by_rule[rule]:>2}"
            )
        print(
            f"  precision {precision:.3f} ({tp} of {tp + fp} alerts)   recall {recall:.3f} "
            f"({total - missed} of {total} episodes)"
        )
    assert recall >= MIN_RECALL
    assert precision >= MIN_PRECISION


def test_normal_traffic_alone_raises_nothing() -> None:
    baseline, records, episodes, start = traffic(7)
    labelled = {(e.subject) for e in episodes}
    clean = [r for r in records if r.terminal not in labelled and r.subject_ref not in labelled]
    alerts = detect([r for r in clean if r.at >= start], baseline=baseline)
    assert alerts == []


def test_the_watchdog_stores_alerts_from_its_own_decision_records(policy: Policy) -> None:
    """End to end: decisions through the real decision point, detection, stored once, listed, acknowledged."""
    dp, wd = policy.watchdog.decision_point(), policy.watchdog
    row = default_table().row("pension.benefit")
    for _ in range(120):  # one terminal, 120 persons in four minutes
        dp.decide(request_for(row, "identity-confirmation", frozenset({"name", "address"}), terminal="pension-desk-13"))
        policy.clock.advance(seconds=2)
    for _ in range(3):  # a third party keeps asking about one protected resident
        d = dp.decide(request_for(default_table().row("certificate.third-party"), "certificate", frozenset({"name"})))
        dp.check_subject(
            d,
            SubjectFacts(protected=True, subject_ref="a" * 32),
            request_for(default_table().row("certificate.third-party"), "certificate", frozenset({"name"})),
        )
        policy.clock.advance(hours=5)
    new = wd.detect(window=timedelta(days=1))
    assert {(a["rule"], a["subject"]) for a in new} == {
        ("bulk-lookup", "pension-desk-13"),
        ("protected-repeat", "a" * 32),
    }
    assert wd.detect(window=timedelta(days=1)) == []  # the same findings are not stored twice
    listed = wd.alerts(status="open")
    assert len(listed) == 2 and all(REASON_RE.fullmatch(c) for a in listed for c in a["details"])
    wd.set_alert_status(listed[0]["alert_id"], "acknowledged", by="wd-officer-1")
    assert len(wd.alerts(status="open")) == 1
