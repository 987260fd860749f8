"""The wire layer's parts on their own: identities, the endpoint table, the token bucket, the replay cache, alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sekisho.errors import TooManyRequests
from sekisho.wire.alerts import AuthAlert
from sekisho.wire.guard import CALLERS, AccessPolicy, rule
from sekisho.wire.identity import NotThisKind, Party, Terminal, party_of, terminal_of
from sekisho.wire.ratelimit import Limit, RateLimiter
from sekisho.wire.refusals import RateLimited
from sekisho.wire.signatures import ReplayCache

from .conftest import Net


def test_party_and_terminal_certificates_do_not_stand_for_each_other(net: Net) -> None:
    assert party_of(net.parties["municipality/212016"].cert) == Party("municipality/212016")
    assert party_of(net.parties["municipality/212016"].cert).role == "municipality"
    terminal = net.terminals["municipality/212016/counter-1"].certificate
    assert terminal_of(terminal) == Terminal("municipality/212016/counter-1")
    assert terminal_of(terminal).party == Party("municipality/212016")
    with pytest.raises(NotThisKind):
        party_of(terminal)
    with pytest.raises(NotThisKind):
        terminal_of(net.parties["t1"].cert)


def test_rules_match_whole_segments_longest_first() -> None:
    policy = AccessPolicy([rule("/", "t1"), rule("/convert", "t2", methods=["POST"])])
    found = policy.match("POST", "/convert/batch")
    assert found is not None and found.roles == {"t2"}
    found = policy.match("POST", "/converts")
    assert found is not None and found.roles == {"t1"}
    found = policy.match("GET", "/convert")
    assert found is not None and found.roles == {"t1"}
    assert AccessPolicy([rule("/convert", "t1")]).match("GET", "/other") is None


def test_no_rule_may_let_an_agency_reach_the_locator_or_anyone_but_t1_reach_t2() -> None:
    assert "agency" not in CALLERS["locator"]
    assert CALLERS["t2"] == {"t1"}
    with pytest.raises(ValueError, match="may never call"):
        AccessPolicy([rule("/lookup", "agency")], serves="locator")
    with pytest.raises(ValueError, match="may never call"):
        AccessPolicy([rule("/convert", "t1", "municipality")], serves="t2")


def test_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(Limit(rate=2.0, burst=3), clock=lambda: now[0])
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(RateLimited) as first:
        limiter.take("a")
    assert isinstance(first.value, TooManyRequests) and first.value.first and first.value.retry_after == 1
    with pytest.raises(RateLimited) as second:
        limiter.take("a")
    assert not second.value.first  # the same episode
    limiter.take("b")  # a bucket of its own
    now[0] = 0.5  # one token back
    limiter.take("a")
    with pytest.raises(RateLimited) as later:
        limiter.take("a")
    assert later.value.first  # a success ended the episode


def test_replay_cache_forgets_only_after_expiry() -> None:
    now = [100.0]
    cache = ReplayCache(clock=lambda: now[0])
    assert cache.claim("t n1", until=160.0)
    assert not cache.claim("t n1", until=160.0)
    now[0] = 159.0
    assert not cache.claim("t n1", until=220.0)
    now[0] = 161.0
    assert cache.claim("t n1", until=221.0)


def test_alert_fields_fit_the_watchdogs_alerts() -> None:
    at = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    fields = AuthAlert(
        at=at,
        reason="replayed",
        status=401,
        party="municipality/212016",
        terminal="municipality/212016/counter-1",
        method="POST",
        path="/lookup",
        detail="the request was already received (replayed nonce)",
    ).alert_fields()
    assert fields["rule"] == "auth-replayed"
    assert (fields["scope"], fields["subject"]) == ("terminal", "municipality/212016/counter-1")
    assert fields["window_start"] == fields["window_end"] == at
    assert "status=401" in fields["details"]
    # the watchdog's own alert type takes exactly these fields
    from sekisho.policy.anomaly import Alert

    assert Alert(**fields).key.startswith("auth-replayed|terminal|")
