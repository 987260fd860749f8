"""Who may start an issuance: a credential offer is made only by a clerk terminal of the issuing municipality (a
signed request through the node's guard); the rest of OpenID4VCI is public, for wallets that hold no party
certificate.  The public paths name the municipality code by a ``*`` segment."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.credentials.conftest import BASE, GIFU

from sekisho import problems
from sekisho.credentials.api import router as issuer_router
from sekisho.credentials.issuer import Issuer
from sekisho.credentials.oid4vci import Flow
from sekisho.node.guarding import PUBLIC, Public, policy_of
from sekisho.registry.service import RegisterService
from sekisho.wire.guard import Caller, terminal_caller
from sekisho.wire.identity import Party


def _public(method: str, path: str) -> bool:
    return any(p.matches(method, path) for p in PUBLIC["municipality"])


def test_a_star_segment_stands_for_one_segment_only() -> None:
    p = Public("/credentials/*/token", frozenset({"POST"}))
    assert p.matches("POST", "/credentials/212016/token")
    assert not p.matches("GET", "/credentials/212016/token")
    assert not p.matches("POST", "/credentials//token")
    assert not p.matches("POST", "/credentials/212016/offers")
    assert not p.matches("POST", "/credentials/212016")
    assert not p.matches("POST", "/credentials/212016/tokens")
    plain = Public("/pki/crl")
    assert plain.matches("GET", "/pki/crl") and plain.matches("GET", "/pki/crl/1.crl")
    assert not plain.matches("GET", "/pki/crlx")


def test_wallet_endpoints_are_public_and_the_offer_is_a_signed_clerk_request() -> None:
    base = f"/credentials/{GIFU}"
    for method, path in [
        ("GET", "/.well-known/openid-credential-issuer"),
        ("GET", "/status"),
        ("POST", "/token"),
        ("POST", "/nonce"),
        ("POST", "/credential"),
    ]:
        assert _public(method, base + path), path
    assert not _public("POST", base + "/offers")
    assert not _public("GET", base + "/offers")
    found = policy_of("municipality").match("POST", base + "/offers")
    assert found is not None and found.roles == {"municipality"} and found.signed


def _client(issuer: Issuer, register: RegisterService, party: str | None) -> TestClient:
    app = FastAPI()
    problems.install(app)
    app.include_router(issuer_router(Flow(issuer, register, issuer.state)))
    if party is not None:
        app.dependency_overrides[terminal_caller] = lambda: Caller(party=Party(party))
    return TestClient(app, base_url=BASE)


def test_an_offer_without_the_guard_fails_closed(issuer: Issuer, register: RegisterService, handle: str) -> None:
    r = _client(issuer, register, None).post(f"/credentials/{GIFU}/offers", json={"handle": handle})
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    assert handle not in r.text


def test_another_municipalitys_clerk_makes_no_offer(issuer: Issuer, register: RegisterService, handle: str) -> None:
    r = _client(issuer, register, "municipality/131016").post(f"/credentials/{GIFU}/offers", json={"handle": handle})
    assert r.status_code == 403
    ok = _client(issuer, register, f"municipality/{GIFU}").post(f"/credentials/{GIFU}/offers", json={"handle": handle})
    assert ok.status_code == 200 and "pre-authorized_code" in ok.text
