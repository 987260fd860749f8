"""`sekisho agency register`, `pia`, `warrant`, `protection`, `alerts`, and the watchdog's HTTP API."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from sekisho.cli import app
from sekisho.config import Home
from sekisho.jp.clock import JST
from sekisho.policy.api import create_app
from sekisho.policy.service import Watchdog
from sekisho.protocols.handles import new_handle

from .conftest import NOW, PASSPHRASE, Policy, sample_pias


def _run(home: Home, *args: str) -> tuple[int, str]:
    env = {
        "SEKISHO_PASSPHRASE": PASSPHRASE.decode(),
        "SEKISHO_DB": home.db_url or "",
        "SEKISHO_DB_NAMESPACE": home.namespace,
    }
    r = CliRunner().invoke(app, [*args, "--home", str(home.root)], env=env)
    return getattr(r.exception, "exit_code", r.exit_code) or 0, r.output


def test_cli_pia_and_warrant_lifecycle(home: Home) -> None:
    welfare = next(p for p in sample_pias() if p.name == "welfare-saitama.yaml")
    code, out = _run(home, "agency", "register", "--pia", str(welfare), "--json")
    assert code == 0, out
    assert json.loads(out)["status"] == "submitted"
    code, out = _run(home, "pia", "show", "welfare-saitama-2026", "--json")
    assert json.loads(out)["findings"] == []
    code, out = _run(home, "pia", "approve", "welfare-saitama-2026", "--by", "wd-1", "--json")
    assert code == 0 and json.loads(out)["statement"].startswith("sks-pia1.")

    bad = next(p for p in sample_pias() if p.name == "samplebank-marketing.yaml")
    _run(home, "agency", "register", "--pia", str(bad))
    code, out = _run(home, "pia", "approve", "samplebank-marketing-2026", "--by", "wd-1")
    assert code == 3 and "purpose-no-legal-basis" in out  # refused: exit code 3, one line
    code, out = _run(
        home, "pia", "reject", "samplebank-marketing-2026", "--by", "wd-1", "--reason", "marketing", "--json"
    )
    assert code == 0 and "marketing" in json.loads(out)["reasons"]

    # the command runs on the real clock: from today in Japan, not from NOW (a fixed date, once past, would make
    # the request refused as ending before it starts)
    expires = (datetime.now(JST) + timedelta(days=20)).date().isoformat()
    code, out = _run(
        home,
        "warrant",
        "request",
        "--requester",
        "welfare-saitama",
        "--target",
        "pension",
        "--purpose",
        "welfare.means-test",
        "--case",
        "2026/fk-17",
        "--persons",
        "4",
        "--expires",
        expires,
        "--by",
        "cw-3",
        "--json",
    )
    assert code == 0, out
    wid = json.loads(out)["warrant"]
    code, out = _run(home, "warrant", "approve", wid, "--by", "wd-1", "--json")
    assert code == 0 and json.loads(out)["token"].startswith("sks-warrant1.")
    code, out = _run(home, "warrant", "show", wid, "--json")
    assert json.loads(out)["status"] == "approved"
    code, out = _run(home, "warrant", "revoke", wid, "--by", "wd-1", "--reason", "case-closed")
    assert code == 0
    code, out = _run(home, "warrant", "show", "--json")
    assert [w["status"] for w in json.loads(out)] == ["revoked"]
    code, out = _run(home, "alerts", "--detect", "--json")
    assert code == 0 and json.loads(out) == []


def test_cli_protection(home: Home) -> None:
    # a support measure lives in the municipality's register: only `registry init` creates that database
    assert _run(home, "registry", "init", "-m", "131016")[0] == 0
    h = new_handle()
    code, out = _run(
        home,
        "protection",
        "add",
        "-m",
        "131016",
        "--handle",
        h,
        "--kind",
        "dv",
        "--by",
        "c-1",
        "--refuse-person",
        "加害,太郎,1980-01-02",
        "--json",
    )
    assert code == 0, out
    m = json.loads(out)
    assert m["state"] == "provisional" and m["named"] == 1 and "加害" not in out
    code, out = _run(home, "protection", "confirm", m["ref"], "-m", "131016", "--by", "c-2", "--json")
    assert json.loads(out)["state"] == "active"
    code, out = _run(home, "protection", "renew", m["ref"], "-m", "131016", "--by", "c-2")
    assert code == 2 and "renewal opens" in out
    code, out = _run(home, "protection", "lift", m["ref"], "-m", "131016", "--by", "c-2", "--reason", "other")
    assert code == 0
    code, out = _run(home, "protection", "list", "-m", "131016", "--handle", h, "--json")
    assert [x["state"] for x in json.loads(out)] == ["lifted"]
    code, out = _run(
        home, "protection", "add", "-m", "131016", "--handle", "not-a-handle", "--kind", "dv", "--by", "c-1"
    )
    assert code == 2 and "handle" in out


def test_api_documents_decisions_and_problems(policy: Policy) -> None:
    client = TestClient(create_app(policy.watchdog))
    bases = client.get("/policy/legal-bases").json()
    assert {b["id"] for b in bases["bases"]} >= {"pension.benefit", "bank.kyc"}
    assert client.get("/policy/pias/pension-kyufu-2026").json()["status"] == "approved"
    assert len(client.get("/policy/pias", params={"agency": "pension"}).json()) == 1
    assert all(t.startswith("sks-pia1.") for t in client.get("/policy/pia-statements").json())
    assert client.get("/policy/revocations").text.startswith("sks-revocations1.")

    body = {
        "requester": "pension",
        "requester_kind": "agency",
        "action": "identity-confirmation",
        "purpose": "pension.benefit",
        "items": ["name", "household"],
        "at": NOW.isoformat(),
    }
    d = client.post("/policy/decide", json=body).json()
    assert d["allow"] is False and d["reasons"] == ["item-not-allowed:household"]
    assert client.post("/policy/decide", json={**body, "items": ["name"]}).json()["allow"]

    missing = client.get("/policy/pias/no-such-pia")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"] == "urn:sekisho:problem:not-found"
    bad = client.post("/policy/decide", json={**body, "requester": "山田 太郎"})
    assert bad.status_code == 422 and "山田" not in bad.text and bad.json()["field"] == "requester"
    schema = client.post("/policy/decide", json={**body, "action": "peek"})
    assert schema.status_code == 422 and "peek" not in schema.text
    assert client.get("/policy/alerts", params={"status": "open"}).json() == []
    assert isinstance(policy.watchdog, Watchdog)


def test_decide_answers_a_malformed_warrant_token_as_invalid(policy: Policy) -> None:
    """Found fuzzing /policy/decide: a warrant whose payload held an escaped lone surrogate failed re-encoding, and
    one with arrays nested a thousand deep exhausted the JSON decoder (HTTP 500 each); both are malformed."""
    client = TestClient(create_app(policy.watchdog))
    body = {
        "requester": "tax",
        "requester_kind": "agency",
        "action": "cross-reference",
        "purpose": "tax.criminal-investigation",
        "from_domain": "tax",
        "to_domain": "pension",
        "at": NOW.isoformat(),
    }

    def token(payload: bytes) -> str:
        return ".".join(
            ["sks-warrant1", *(base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in (payload, bytes(64)))]
        )

    for payload in (b'{"kind":"warrant","x":"\\ud800"}', b'{"kind":"warrant","x":' + b"[" * 1400 + b"]" * 1400 + b"}"):
        r = client.post("/policy/decide", json={**body, "warrant": token(payload)})
        assert r.status_code == 200
        assert r.json()["reasons"] == ["warrant-invalid"]


def test_openapi_says_what_the_api_sends(policy: Policy) -> None:
    """Found by schemathesis: the revocation list (text/plain) and every error were documented as JSON."""
    schema = TestClient(create_app(policy.watchdog)).get("/policy/openapi.json").json()
    assert list(schema["paths"]["/policy/revocations"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    assert list(schema["paths"]["/policy/decide"]["post"]["responses"]["422"]["content"]) == [
        "application/problem+json"
    ]


def test_identifiers_in_urls_are_checked_before_any_query(policy: Policy) -> None:
    """Found fuzzing on PostgreSQL: a NUL in a PIA id, an agency or an alert rule reached the database, which refuses
    it with an error (HTTP 500); such an identifier is now a schema error naming the parameter."""
    client = TestClient(create_app(policy.watchdog))
    for url, params, field in [
        ("/policy/pias/pension%00kyufu", {}, "path.pia_id"),
        ("/policy/pias", {"agency": "pension\x00"}, "query.agency"),
        ("/policy/alerts", {"rule": "bulk\x00lookup"}, "query.rule"),
    ]:
        r = client.get(url, params=params)
        assert r.status_code == 422, url
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["field"] == field
    assert client.get("/policy/pias/no-such-pia").status_code == 404
    assert client.get("/policy/alerts", params={"rule": "bulk-lookup"}).json() == []


def test_a_pia_is_revoked_from_the_cli_and_later_requests_are_refused(home: Home) -> None:
    """Issue 9 item 19: docs/policy.md describes `revoked` and `pia-revoked`; nothing could revoke a PIA."""
    welfare = next(p for p in sample_pias() if p.name == "welfare-saitama.yaml")
    _run(home, "agency", "register", "--pia", str(welfare))
    code, out = _run(home, "pia", "approve", "welfare-saitama-2026", "--by", "wd-1")
    assert code == 0, out
    code, out = _run(home, "pia", "revoke", "welfare-saitama-2026", "--by", "wd-1", "--reason", "incident", "--json")
    assert code == 0 and json.loads(out) == {"pia": "welfare-saitama-2026", "status": "revoked"}
    code, out = _run(home, "pia", "show", "welfare-saitama-2026", "--json")
    assert json.loads(out)["status"] == "revoked"
    code, out = _run(home, "pia", "revoke", "welfare-saitama-2026", "--by", "wd-1")
    assert code == 2 or code == 3, out  # only an approved PIA can be revoked: one line
    assert len(out.strip().splitlines()) == 1


def test_api_revokes_a_pia_and_the_decision_point_refuses_it(policy: Policy) -> None:
    client = TestClient(create_app(policy.watchdog))
    before = client.get("/policy/revocations").text
    r = client.post("/policy/pias/pension-kyufu-2026/revocation", json={"by": "wd-1", "reason": "incident"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked" and r.json()["revocations"].startswith("sks-revocations1.")
    assert client.get("/policy/revocations").text != before  # a new list, signed by the watchdog
    body = {
        "requester": "pension",
        "requester_kind": "agency",
        "action": "identity-confirmation",
        "purpose": "pension.benefit",
        "items": ["name"],
        "at": NOW.isoformat(),
    }
    d = client.post("/policy/decide", json=body).json()
    assert d["allow"] is False and "pia-revoked" in d["reasons"]
    again = client.post("/policy/pias/pension-kyufu-2026/revocation", json={"by": "wd-1"})
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    bad = client.post("/policy/pias/no-such-pia/revocation", json={"by": "wd-1"})
    assert bad.status_code == 404 and bad.headers["content-type"] == "application/problem+json"
    nul = client.post("/policy/pias/x%00y/revocation", json={"by": "wd-1"})
    assert nul.status_code == 422


def test_a_refusal_reported_by_a_party_is_stored_and_listed(policy: Policy) -> None:
    """``POST /policy/alerts``: what a party's guard refused (sekisho.wire.alerts), listed beside the findings."""
    from sekisho.wire.alerts import AuthAlert

    client = TestClient(create_app(policy.watchdog))
    at = datetime(2026, 4, 1, 3, 0, tzinfo=JST)
    fields = AuthAlert(
        at=at,
        reason="replayed",
        status=401,
        party="municipality/212016",
        terminal="municipality/212016/clerk-1",
        method="POST",
        path="/append",
    ).alert_fields()
    body = {**fields, "window_start": at.isoformat(), "window_end": at.isoformat(), "details": list(fields["details"])}
    # two refusals in the same second are two alerts, not one finding
    assert client.post("/policy/alerts", json=body).status_code == 201
    assert client.post("/policy/alerts", json=body).status_code == 201
    listed = client.get("/policy/alerts", params={"rule": "auth-replayed"}).json()
    assert len(listed) == 2
    assert listed[0]["subject"] == "municipality/212016/clerk-1"
    assert "reason=replayed" in listed[0]["details"]
    # only refusals are reported this way: not the watchdog's own findings, nothing with spaces in a code
    assert client.post("/policy/alerts", json={**body, "rule": "bulk-lookup"}).status_code == 422
    assert client.post("/policy/alerts", json={**body, "details": ["a name"]}).status_code == 422
    assert client.post("/policy/alerts", json={**body, "scope": "subject"}).status_code == 422


def _as_party(app: Any, party: str) -> Any:
    """The watchdog's app behind a stand-in for the network's guard: the request arrives authenticated as
    ``party`` (what sekisho.wire.guard.PartyGuard puts in the scope after mutual TLS)."""
    from sekisho.wire.guard import Caller
    from sekisho.wire.identity import Party

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["sekisho_caller"] = Caller(party=Party(party))
        await app(scope, receive, send)

    return guarded


def test_behind_the_guard_an_agency_files_only_its_own_pia(policy: Policy) -> None:
    """Filing another agency's PIA first would block the real one (a PIA id is never reused): refused, nothing
    filed; the agency's own PIA is filed."""
    import yaml

    sample = yaml.safe_load(next(p for p in sample_pias() if p.name == "welfare-saitama.yaml").read_text("utf-8"))
    doc = {**sample, "id": "welfare-saitama-2027"}  # the fixture's watchdog already holds the sample's own id
    app = create_app(policy.watchdog)
    other = TestClient(_as_party(app, "agency/pension"))
    r = other.post("/policy/pias", json={"pia": doc, "by": "someone"})
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "pia.agency"
    assert TestClient(app).get(f"/policy/pias/{doc['id']}").status_code == 404  # nothing filed
    own = TestClient(_as_party(app, f"agency/{doc['agency']}"))
    assert own.post("/policy/pias", json={"pia": doc, "by": "officer"}).status_code == 201


def test_no_party_reaches_a_pia_revocation_through_the_network() -> None:
    """Revoking (like approving) a PIA is the watchdog's own act: the guard's table lets an agency file a PIA at
    ``POST /policy/pias`` but not reach ``/policy/pias/<id>/revocation`` below it — before, the prefix rule let any
    agency revoke any other's approval."""
    from sekisho.node.guarding import PUBLIC, RULES
    from sekisho.wire.guard import AccessPolicy

    table = AccessPolicy(RULES["watchdog"], serves="watchdog")
    filed = table.match("POST", "/policy/pias")
    assert filed is not None and filed.roles == {"agency"}
    for path in ("/policy/pias/pension-kyufu-2026/revocation", "/policy/pias/pension-kyufu-2026"):
        assert table.match("POST", path) is None, path
        assert not any(p.matches("POST", path) for p in PUBLIC["watchdog"]), path
