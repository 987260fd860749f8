"""The authentication battery, against real uvicorn servers over TLS on 127.0.0.1 (tests/wire/conftest.py).

Every refusal is checked for its status, an RFC 9457 problem document that echoes nothing of the request, and an
alert the watchdog can list."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sekisho.wire.signatures import sign_request

from .conftest import BURST, Net

# personal data a request might carry: no refusal may give any of it back
SECRET = "髙橋 𠮷子 1987-06-05"
BODY = {"resident": SECRET, "purpose": "pension.benefit"}
PROBLEM_KEYS = {"type", "title", "status", "detail", "field"}


def refused(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) <= PROBLEM_KEYS
    assert body["status"] == status
    assert body["type"] == f"urn:sekisho:problem:{kind}"
    text = response.text
    assert SECRET not in text and "髙橋" not in json.loads(text).get("detail", "")
    assert "1987" not in text
    return body


def new_alerts(net: Net, server: str, before: int) -> list[Any]:
    return net.servers[server].alerts.list()[before:]


def test_accepted_request_reaches_the_handler_with_the_verified_terminal(net: Net) -> None:
    content = json.dumps(BODY).encode()
    with net.client("municipality/212016", "locator", terminal="municipality/212016/counter-1") as c:
        response = c.post("/lookup", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["party"] == "municipality/212016"
    assert body["terminal"] == "municipality/212016/counter-1"
    assert body["key_id"] == "municipality/212016/counter-1"
    assert body["received"] == len(content)  # the guard read the body and handed all of it on
    # what is kept for the access record: the fields as sent, and the base that was verified
    assert body["signature_input"].startswith("sekisho=(")
    assert 'tag="sekisho"' in body["signature_input"] and "nonce=" in body["signature_input"]
    assert body["signature"].startswith("sekisho=:")
    for component in ('"@method": POST', '"@target-uri": https://127.0.0.1:', '"content-digest": sha-256=:'):
        assert component in body["signature_base"]


def test_t1_converts_at_t2(net: Net) -> None:
    with net.client("t1", "t2", terminal="t1/batch-1") as c:
        response = c.post(
            "/convert", content=b"\x00\x01ciphertext", headers={"content-type": "application/octet-stream"}
        )
    assert response.status_code == 200, response.text
    assert response.json()["terminal"] == "t1/batch-1"
    assert '"content-type": application/octet-stream' in response.json()["signature_base"]


def test_no_client_certificate(net: Net) -> None:
    before = len(net.servers["locator"].alerts.list())
    with net.client(None, "locator", terminal="municipality/212016/counter-1") as c:
        response = c.post("/lookup", json=BODY)
    body = refused(response, 401, "unauthenticated")
    assert body["field"] == "client-certificate"
    [alert] = new_alerts(net, "locator", before)
    assert (alert.reason, alert.status, alert.party) == ("no-client-certificate", 401, None)


def test_certificate_from_another_ca_fails_the_handshake(net: Net) -> None:
    """A certificate the organisation CA did not sign (here a forger's CA of the same name) never gets to speak
    HTTP: OpenSSL refuses the handshake (unknown CA), so there is no status to give; the refusal is reported."""
    before = len(net.servers["t2"].alerts.list())
    forged = net.parties["forged-t1"]
    from sekisho.wire import tls

    context = tls.client_context(certfile=forged.certfile, keyfile=forged.keyfile, trust=[net.org])
    with (
        tls.party_client(net.servers["t2"].base_url, party="t2", context=context, timeout=10.0) as c,
        pytest.raises(httpx.TransportError),
    ):
        c.post("/convert", json=BODY)
    assert net.servers["t2"].wait_for_alert("untrusted-certificate")
    alert = next(a for a in new_alerts(net, "t2", before) if a.reason == "untrusted-certificate")
    assert alert.status == 0 and alert.party is None
    assert SECRET not in alert.detail


def test_a_terminal_certificate_is_not_a_party_certificate(net: Net) -> None:
    before = len(net.servers["locator"].alerts.list())
    with net.client("terminal-as-party", "locator", terminal="municipality/212016/counter-1") as c:
        response = c.post("/lookup", json=BODY)
    refused(response, 401, "unauthenticated")
    [alert] = new_alerts(net, "locator", before)
    assert alert.reason == "not-a-party"


def test_revoked_party(net: Net) -> None:
    before = len(net.servers["locator"].alerts.list())
    with net.client("municipality/131016", "locator", terminal="municipality/131016/counter-1") as c:
        response = c.post("/lookup", json=BODY)
        health = c.get("/health")  # unsigned endpoints check the party's certificate too
    refused(response, 401, "unauthenticated")
    refused(health, 401, "unauthenticated")
    alerts = new_alerts(net, "locator", before)
    assert [(a.reason, a.party) for a in alerts] == [("certificate-revoked", "municipality/131016")] * 2


def test_an_expired_party_certificate_fails_the_handshake(net: Net) -> None:
    before = len(net.servers["t2"].alerts.list())
    with net.client("expired-t1", "t2", terminal="t1/batch-1") as c, pytest.raises(httpx.TransportError):
        c.post("/convert", json=BODY)
    assert net.servers["t2"].wait_for_alert("untrusted-certificate")
    alert = next(a for a in new_alerts(net, "t2", before) if a.reason == "untrusted-certificate")
    assert "expired" in alert.detail


def test_revoked_terminal(net: Net) -> None:
    before = len(net.servers["locator"].alerts.list())
    with net.client("municipality/212016", "locator", terminal="municipality/212016/counter-2") as c:
        response = c.post("/lookup", json=BODY)
    refused(response, 401, "unauthenticated")
    [alert] = new_alerts(net, "locator", before)
    assert alert.reason == "certificate-revoked"
    assert alert.terminal == "municipality/212016/counter-2"
    assert alert.alert_fields()["scope"] == "terminal"
    # the terminal's colleagues at the same counter are unaffected
    with net.client("municipality/212016", "locator", terminal="municipality/212016/counter-1") as c:
        assert c.post("/lookup", json=BODY).status_code == 200


def test_expired_terminal(net: Net) -> None:
    before = len(net.servers["locator"].alerts.list())
    with net.client("municipality/212016", "locator", terminal="municipality/212016/counter-3") as c:
        response = c.post("/lookup", json=BODY)
    body = refused(response, 401, "unauthenticated")
    assert "expired" in body["detail"]
    [alert] = new_alerts(net, "locator", before)
    assert (alert.reason, alert.terminal) == ("certificate-expired", "municipality/212016/counter-3")


def test_replayed_request(net: Net) -> None:
    before = len(net.servers["locator"].alerts.list())
    with net.client("municipality/212016", "locator") as c:
        request = c.build_request("POST", "/lookup", json=BODY)
        sign_request(request, net.terminals["municipality/212016/counter-1"])
        assert c.send(request).status_code == 200
        again = c.build_request("POST", "/lookup", json=BODY, headers=dict(request.headers))
        response = c.send(again)
    refused(response, 401, "unauthenticated")
    [alert] = new_alerts(net, "locator", before)
    assert (alert.reason, alert.terminal) == ("replayed", "municipality/212016/counter-1")


@pytest.mark.parametrize("offset", [timedelta(minutes=-5), timedelta(minutes=5)])
def test_signature_created_outside_the_window(net: Net, offset: timedelta) -> None:
    before = len(net.servers["locator"].alerts.list())
    with net.client("municipality/212016", "locator") as c:
        request = c.build_request("POST", "/lookup", json=BODY)
        sign_request(request, net.terminals["municipality/212016/counter-1"], created=datetime.now(UTC) + offset)
        response = c.send(request)
    refused(response, 401, "unauthenticated")
    [alert] = new_alerts(net, "locator", before)
    assert alert.reason == "outside-time-window"


def test_signature_over_a_changed_body(net: Net) -> None:
    before = len(net.servers["locator"].alerts.list())
    with net.client("municipality/212016", "locator") as c:
        signed = c.build_request("POST", "/lookup", json=BODY)
        sign_request(signed, net.terminals["municipality/212016/counter-1"])
        changed = json.dumps({**BODY, "purpose": "curiosity"}).encode()
        headers = {k: v for k, v in signed.headers.items() if k.lower() != "content-length"}
        response = c.send(c.build_request("POST", "/lookup", content=changed, headers=headers))
    refused(response, 401, "unauthenticated")
    [alert] = new_alerts(net, "locator", before)
    assert alert.reason == "signature-invalid"


def test_unsigned_request_to_an_endpoint_that_causes_an_access(net: Net) -> None:
    before = len(net.servers["locator"].alerts.list())
    with net.client("municipality/212016", "locator") as c:
        response = c.post("/lookup", json=BODY)
    assert refused(response, 401, "unauthenticated")["field"] == "signature"
    [alert] = new_alerts(net, "locator", before)
    assert alert.reason == "unsigned" and alert.party == "municipality/212016"


def test_an_agency_at_the_locator(net: Net) -> None:
    before = len(net.servers["locator"].alerts.list())
    with net.client("agency/pension", "locator", terminal="agency/pension/desk-1") as c:
        response = c.post("/lookup", json=BODY)
        health = c.get("/health")  # not even the health endpoint
    refused(response, 403, "forbidden")
    refused(health, 403, "forbidden")
    alerts = new_alerts(net, "locator", before)
    assert [a.reason for a in alerts] == ["role-not-allowed", "role-not-allowed"]
    assert {a.party for a in alerts} == {"agency/pension"}


def test_a_municipality_at_t2(net: Net) -> None:
    before = len(net.servers["t2"].alerts.list())
    with net.client("municipality/212016", "t2", terminal="municipality/212016/counter-1") as c:
        response = c.post("/convert", json=BODY)
    refused(response, 403, "forbidden")
    [alert] = new_alerts(net, "t2", before)
    assert (alert.reason, alert.party) == ("role-not-allowed", "municipality/212016")


def test_a_body_naming_another_requester_than_the_caller(net: Net) -> None:
    """A party cannot ask in another's name: the requester a JSON body or a batch frame's header names must be the
    authenticated party (the rule says so); naming itself, it is admitted."""
    before = len(net.servers["locator"].alerts.list())
    header = json.dumps({"requester": "municipality/131016", "n": 0}).encode()
    frame = len(header).to_bytes(4, "big") + header
    with net.client("municipality/212016", "locator", terminal="municipality/212016/counter-7") as c:
        as_other = c.post("/lookup", json={**BODY, "requester": "municipality/131016"})
        framed = c.post("/lookup", content=frame, headers={"content-type": "application/octet-stream"})
        as_itself = c.post("/lookup", json={**BODY, "requester": "municipality/212016"})
    assert refused(as_other, 403, "forbidden")["field"] == "requester"
    assert refused(framed, 403, "forbidden")["field"] == "requester"
    assert as_itself.status_code == 200, as_itself.text
    alerts = new_alerts(net, "locator", before)
    assert [(a.reason, a.party) for a in alerts] == [("requester-not-caller", "municipality/212016")] * 2


def test_a_terminal_of_another_party(net: Net) -> None:
    """A municipality cannot pass off an agency's terminal (a stolen key) as its own."""
    before = len(net.servers["locator"].alerts.list())
    with net.client("municipality/212016", "locator", terminal="agency/pension/desk-1") as c:
        response = c.post("/lookup", json=BODY)
    refused(response, 403, "forbidden")
    [alert] = new_alerts(net, "locator", before)
    assert alert.reason == "terminal-of-another-party"


def test_a_flood_over_the_rate_limit(net: Net) -> None:
    before = len(net.servers["locator"].alerts.list())
    statuses = []
    with net.client("municipality/212016", "locator", terminal="municipality/212016/flood-1") as c:
        for _ in range(BURST + 5):
            response = c.post("/lookup", json=BODY)
            statuses.append(response.status_code)
    assert statuses == [200] * BURST + [429] * 5
    refused(response, 429, "too-many-requests")
    assert int(response.headers["retry-after"]) >= 1
    # one episode, one alert
    alerts = new_alerts(net, "locator", before)
    assert [(a.reason, a.terminal) for a in alerts] == [("rate-limited", "municipality/212016/flood-1")]
    # other terminals have buckets of their own
    with net.client("municipality/212016", "locator", terminal="municipality/212016/counter-1") as c:
        assert c.post("/lookup", json=BODY).status_code == 200


def test_a_client_that_means_the_locator_does_not_talk_to_t2(net: Net) -> None:
    """Every party listens on 127.0.0.1: the client names the party it expects (SNI and certificate check), so a
    request meant for the locator is not sent to T2."""
    with net.client("t1", "t2", expect="locator") as c, pytest.raises(httpx.ConnectError):
        c.get("/health")


def test_health_needs_no_signature(net: Net) -> None:
    with net.client("t1", "t2") as c:
        assert c.get("/health").json() == {"status": "ok"}


def test_every_alert_fits_the_watchdogs_store_and_holds_no_personal_data(net: Net) -> None:
    from sekisho.policy.anomaly import Alert

    with net.client("municipality/212016", "locator") as c:
        refused(c.post("/lookup", json=BODY), 401, "unauthenticated")
    alerts = [a for s in net.servers.values() for a in s.alerts.list()]
    assert alerts
    for a in alerts:
        fields = a.alert_fields()
        Alert(**fields)
        assert all(d and not any(ch.isspace() for ch in d) for d in fields["details"])
        assert len(fields["rule"]) <= 32 and len(fields["subject"]) <= 128
        assert SECRET not in repr(a) and "髙橋" not in repr(fields)
