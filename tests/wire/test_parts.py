"""The wire layer's parts on their own: identities, the endpoint table, the token bucket, the replay cache, alerts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from sekisho.errors import TooManyRequests, Unavailable
from sekisho.wire.alerts import AlertLog, AuthAlert
from sekisho.wire.guard import CALLERS, AccessPolicy, PartyGuard, rule
from sekisho.wire.identity import NotThisKind, Party, Terminal, party_of, terminal_of
from sekisho.wire.ratelimit import Limit, RateLimiter
from sekisho.wire.refusals import RateLimited
from sekisho.wire.signatures import ReceivedRequest, ReplayCache, RequestVerifier, sign_request

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
    assert fields["details"] == (
        "status=401",
        "reason=replayed",
        "party=municipality/212016",
        "method=POST",
        "path=/lookup",
    )
    handshake = AuthAlert(at=at, reason="untrusted-certificate", status=0, detail="certificate has expired")
    assert handshake.alert_fields()["details"] == (
        "status=0",
        "reason=untrusted-certificate",
        "tls=certificate-has-expired",
    )
    assert handshake.alert_fields()["subject"] == "unknown"
    # the watchdog's own alert type takes exactly these fields
    from sekisho.policy.anomaly import Alert

    assert Alert(**fields).key.startswith("auth-replayed|terminal|")


class Driven:
    """Drive the guard as an ASGI server would, with ``party``'s certificate as the TLS client certificate."""

    def __init__(self, net: Net, guard_kw: dict[str, object], *, party: str = "t1") -> None:
        self.reached: list[object] = []
        self.alerts = AlertLog()

        async def app(scope: object, receive: object, send: object) -> None:
            self.reached.append(scope)

        self.guard = PartyGuard(
            app,
            policy=AccessPolicy([rule("/convert", "t1")], serves="t2"),
            trust=[net.org],
            verifier=RequestVerifier(trust=[net.org], revocation=None),
            alerts=self.alerts,
            **guard_kw,
        )
        self.pem = net.parties[party].cert.public_bytes(Encoding.PEM).decode()

    def send(self, request: httpx.Request) -> list[dict[str, object]]:
        scope = {
            "type": "http",
            "method": request.method,
            "path": request.url.path,
            "raw_path": request.url.raw_path,
            "query_string": b"",
            "scheme": "https",
            "headers": [(k.encode(), v.encode()) for k, v in request.headers.multi_items()],
            "extensions": {"tls": {"client_cert_chain": [self.pem]}},
        }
        sent: list[dict[str, object]] = []
        body = request.content

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        asyncio.run(self.guard(scope, receive, send))
        return sent


def test_a_signature_for_another_server_is_refused(net: Net) -> None:
    """The guard rebuilds @target-uri from the Host it received; with its own names configured it refuses a request
    addressed to any other (a party replaying what a terminal signed for it)."""
    driven = Driven(net, {"authorities": {"t2.sekisho.internal:8443"}})
    request = httpx.Request("POST", "https://agency-pension.sekisho.internal:8443/convert", content=b"{}")
    sign_request(request, net.terminals["t1/batch-1"])
    sent = driven.send(request)
    assert driven.reached == []
    assert sent[0]["status"] == 401
    [alert] = driven.alerts.list()
    assert (alert.reason, alert.party) == ("wrong-authority", "t1")

    # the same request addressed to the server's own name passes
    request = httpx.Request("POST", "https://t2.sekisho.internal:8443/convert", content=b"{}")
    sign_request(request, net.terminals["t1/batch-1"])
    assert driven.send(request) == []
    assert len(driven.reached) == 1


def test_a_body_over_the_limit_is_413_before_any_signature_work(net: Net) -> None:
    driven = Driven(net, {"max_body": 64})
    request = httpx.Request("POST", "https://t2.sekisho.internal/convert", content=b"x" * 65)
    sign_request(request, net.terminals["t1/batch-1"])
    sent = driven.send(request)
    assert sent[0]["status"] == 413
    assert driven.reached == []


def test_a_revocation_checker_that_cannot_answer_refuses_with_503(net: Net) -> None:
    class Down:
        def check(self, cert: object, issuer: object, *, at: object, depth: int) -> None:
            raise httpx.ConnectError("the PKI is down")

    verifier = RequestVerifier(trust=[net.org], revocation=Down())
    request = httpx.Request("POST", "https://t2.sekisho.internal/convert", content=b"{}")
    sign_request(request, net.terminals["t1/batch-1"])
    received = ReceivedRequest.of(method="POST", url=str(request.url), headers=list(request.headers.multi_items()))
    with pytest.raises(Unavailable):
        verifier.verify(received, body=b"{}", caller=Party("t1"))
