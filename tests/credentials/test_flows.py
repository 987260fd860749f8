"""OpenID4VCI (pre-authorised code, batch proofs) against the issuer's router, OpenID4VP against the verifier's
router, and the CLI: wallet init/receive/list/present and `sekisho verify` (exit 4 with one line on failure)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.credentials.conftest import BASE, GIFU, PASSPHRASE
from typer.testing import CliRunner

from sekisho import problems
from sekisho.config import Home
from sekisho.credentials.api import router as issuer_router
from sekisho.credentials.issuer import Issuer
from sekisho.credentials.oid4vci import Flow
from sekisho.credentials.store import open_state
from sekisho.errors import SekishoError
from sekisho.registry.service import RegisterService
from sekisho.verifier.api import Requests
from sekisho.verifier.api import router as verifier_router
from sekisho.verifier.verify import Verifier
from sekisho.wallet.client import receive_offer
from sekisho.wallet.store import Wallet
from sekisho.wire.guard import Caller, terminal_caller
from sekisho.wire.identity import Party

GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


@pytest.fixture
def issuer_client(issuer: Issuer, register: RegisterService) -> TestClient:
    app = FastAPI()
    problems.install(app)
    app.include_router(issuer_router(Flow(issuer, register, issuer.state)))
    # what the node's guard hands the router for a signed request of this municipality's clerk terminal (the
    # guard itself: tests/credentials/test_offer_guard.py)
    app.dependency_overrides[terminal_caller] = lambda: Caller(party=Party(f"municipality/{GIFU}"))
    return TestClient(app, base_url=BASE)


def test_pre_authorised_code_flow_issues_a_batch_to_the_wallet(
    issuer_client: TestClient, handle: str, tmp_path: Path, verifier: Verifier
) -> None:
    offer = issuer_client.post(f"/credentials/{GIFU}/offers", json={"handle": handle}).json()["credential_offer"]
    wallet = Wallet.init(tmp_path / "wallet")
    keys = wallet.new_keys(5)
    creds = receive_offer(wallet, keys, offer, client=issuer_client)
    assert len(creds) == 5
    assert len(wallet.receive(creds)) == 5
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (tmp_path / "wallet" / "keys").iterdir())
    # the code was single use
    again = issuer_client.post(
        f"/credentials/{GIFU}/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
            "pre-authorized_code": offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"][
                "pre-authorized_code"
            ],
        },
    )
    assert again.status_code == 401 and again.headers["content-type"].startswith("application/problem+json")
    # one credential per presentation: each is gone after use
    p1 = wallet.present(["prefecture"], nonce="n1", audience="https://a.example")
    p2 = wallet.present(["prefecture"], nonce="n2", audience="https://b.example")
    assert len(wallet.entries()) == 3 and p1.split("~")[0] != p2.split("~")[0]
    assert verifier.verify(p1, nonce="n1", audience="https://a.example").claims == {"prefecture": "岐阜県"}


def test_credential_request_refuses_a_reused_nonce_and_a_spent_token(
    issuer_client: TestClient, handle: str, tmp_path: Path
) -> None:
    wallet = Wallet.init(tmp_path / "wallet")
    offer = issuer_client.post(f"/credentials/{GIFU}/offers", json={"handle": handle}).json()["credential_offer"]
    code = offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]["pre-authorized_code"]
    token = issuer_client.post(
        f"/credentials/{GIFU}/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code", "pre-authorized_code": code},
    ).json()["access_token"]
    proofs = wallet.proofs(wallet.new_keys(2), audience="https://evil.example", nonce="made-up")
    body = {"credential_configuration_id": "sekisho_resident_sd_jwt", "proofs": {"jwt": proofs}}
    r = issuer_client.post(f"/credentials/{GIFU}/credential", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    r = issuer_client.post(f"/credentials/{GIFU}/credential", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401  # the token was spent by the first attempt
    status = issuer_client.get(f"/credentials/{GIFU}/status")
    assert status.headers["content-type"].startswith("application/statuslist+jwt")


def test_openid4vp_request_and_response(batch, verifier: Verifier) -> None:  # type: ignore[no-untyped-def]
    from sekisho.vc import sdjwt

    app = FastAPI()
    problems.install(app)
    app.include_router(
        verifier_router(Requests(verifier, client_id="https://rp.example"), base_url="https://rp.example")
    )
    client = TestClient(app)
    req = client.post("/verifier/requests", json={"require": ["prefecture=岐阜県", "age_over_20"]}).json()
    assert req["client_id"] == "https://rp.example" and req["response_type"] == "vp_token"
    names = [c["path"][0] for c in req["dcql_query"]["credentials"][0]["claims"]]
    p = sdjwt.present(
        batch.credentials[0],
        names,
        holder_key=batch.keys[0],
        nonce=req["nonce"],
        audience=req["client_id"],
        iat=__import__("time").time().__int__(),
    )
    ok = client.post("/verifier/response", data={"state": req["state"], "vp_token": json.dumps({"resident": [p]})})
    assert ok.status_code == 200 and ok.json()["claims"] == {"prefecture": "岐阜県", "age_over_20": True}
    replay = client.post("/verifier/response", data={"state": req["state"], "vp_token": json.dumps({"resident": [p]})})
    assert replay.status_code == 404
    req2 = client.post("/verifier/requests", json={"require": ["prefecture"]}).json()
    bad = client.post("/verifier/response", data={"state": req2["state"], "vp_token": json.dumps({"resident": [p]})})
    assert bad.status_code == 500 and bad.json()["type"].endswith("verification-failed")  # the other nonce


def test_cli_wallet_and_verify(net_home: Home, pki, register: RegisterService, handle: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sekisho.cli import app

    runner = CliRunner(
        env={
            "SEKISHO_HOME": str(net_home.root),
            "SEKISHO_DB_NAMESPACE": net_home.namespace,
            "SEKISHO_DB": net_home.db_url or "",
            "SEKISHO_PASSPHRASE": PASSPHRASE.decode(),
        }
    )
    home: list[str] = []
    w = ["--wallet", str(tmp_path / "w")]
    from sekisho.registry.service import party_of

    existed = (Issuer.directory_of(net_home.party_dir(party_of(GIFU))) / "meta.json").exists()
    r = runner.invoke(app, ["credentials", "init", "-m", GIFU, *home])
    assert r.exit_code == (2 if existed else 0), r.output  # a second issuer key is a conflict
    assert runner.invoke(app, ["credentials", "init", "-m", GIFU, *home]).exit_code == 2
    assert runner.invoke(app, ["wallet", "init", *w]).exit_code == 0
    r = runner.invoke(app, ["wallet", "receive", "-m", GIFU, "--handle", handle, "--count", "3", *w, *home])
    assert r.exit_code == 0, r.output
    listed = json.loads(runner.invoke(app, ["wallet", "list", "--json", *w]).output)
    assert len(listed) == 3 and "prefecture" in listed[0]["claims"]
    out = tmp_path / "p.txt"
    r = runner.invoke(
        app,
        [
            "wallet",
            "present",
            "-c",
            "prefecture",
            "-c",
            "age_over_20",
            "--nonce",
            "n9",
            "--audience",
            "https://rp.example",
            "-o",
            str(out),
            *w,
        ],
    )
    assert r.exit_code == 0, r.output
    args = [
        "verify",
        str(out),
        "--audience",
        "https://rp.example",
        "--require",
        "prefecture=岐阜県",
        "--require",
        "age_over_20",
        *home,
    ]
    ok = runner.invoke(app, [*args, "--nonce", "n9"])
    assert ok.exit_code == 0, ok.output
    assert "岐阜県" in ok.output
    bad = runner.invoke(app, [*args, "--nonce", "other"])
    assert bad.exit_code == 4
    assert bad.output.strip().count("\n") == 0 and "nonce" in bad.output and "髙橋" not in bad.output
    # a lost phone: the counter revokes every credential of the resident; the next presentation is refused
    r = runner.invoke(app, ["credentials", "revoke", "-m", GIFU, "--handle", handle, "--json", *home])
    assert r.exit_code == 0 and json.loads(r.stdout)["revoked"] >= 3, r.output
    present = ["wallet", "present", "-c", "prefecture", "--nonce", "n10", "--audience", "a", "-o", str(out)]
    r = runner.invoke(app, [*present, *w])
    assert r.exit_code == 0, r.output
    revoked = runner.invoke(app, ["verify", str(out), "--nonce", "n10", "--audience", "a", *home])
    assert revoked.exit_code == 4 and "revoked" in revoked.output
    assert runner.invoke(app, ["credentials", "revoke", "-m", GIFU, "--handle", "not-a-handle"]).exit_code == 2


def test_municipality_node_serves_the_issuer_once_it_is_set_up(
    net_home: Home, pki, register: RegisterService, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from sekisho.node.apps import municipality_app
    from sekisho.node.roles import Role
    from sekisho.pki import issuance as pki_issuance
    from sekisho.registry.service import party_of

    monkeypatch.setenv("SEKISHO_PASSPHRASE", PASSPHRASE.decode())
    root = net_home.party_dir(party_of(GIFU))
    if not (Issuer.directory_of(root) / "meta.json").exists():
        Issuer.create(
            root,
            municipality=GIFU,
            certify=lambda key: pki_issuance.certify_credential_issuer(pki, municipality=GIFU, public_key=key),
            passphrase=PASSPHRASE,
            base_url=BASE,
            state=open_state(net_home, GIFU),
        )
    client = TestClient(municipality_app(Role("municipality", GIFU), net_home))
    meta = client.get(f"/credentials/{GIFU}/.well-known/openid-credential-issuer")
    assert meta.status_code == 200 and meta.json()["credential_endpoint"].endswith(f"/credentials/{GIFU}/credential")
    assert client.get(f"/credentials/{GIFU}/status").text.count(".") == 2
    monkeypatch.delenv("SEKISHO_PASSPHRASE")
    bare = TestClient(municipality_app(Role("municipality", GIFU), net_home))
    assert bare.get(f"/credentials/{GIFU}/status").status_code == 404  # no key opened: nothing mounted


def test_an_offer_made_at_the_counter_is_redeemed_at_the_node(
    net_home: Home, pki, register: RegisterService, handle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """`sekisho credentials offer` (the counter's machine) writes the one-time code to the municipality's
    database; the node, another process with its own engine, redeems it once."""
    from sekisho.cli import app
    from sekisho.node.apps import municipality_app
    from sekisho.node.roles import Role
    from sekisho.pki import issuance as pki_issuance
    from sekisho.registry.service import party_of

    monkeypatch.setenv("SEKISHO_PASSPHRASE", PASSPHRASE.decode())
    root = net_home.party_dir(party_of(GIFU))
    if not (Issuer.directory_of(root) / "meta.json").exists():
        Issuer.create(
            root,
            municipality=GIFU,
            certify=lambda key: pki_issuance.certify_credential_issuer(pki, municipality=GIFU, public_key=key),
            passphrase=PASSPHRASE,
            base_url=BASE,
            state=open_state(net_home, GIFU),
        )
    runner = CliRunner(
        env={
            "SEKISHO_HOME": str(net_home.root),
            "SEKISHO_DB_NAMESPACE": net_home.namespace,
            "SEKISHO_DB": net_home.db_url or "",
            "SEKISHO_PASSPHRASE": PASSPHRASE.decode(),
        }
    )
    r = runner.invoke(app, ["credentials", "offer", "-m", GIFU, "--handle", handle.replace("-", "").lower()])
    assert r.exit_code == 0, r.output
    offer = json.loads(r.stdout)["credential_offer"]
    assert handle not in r.output  # the offer carries a code, never the handle
    node = TestClient(municipality_app(Role("municipality", GIFU), net_home), base_url=BASE)
    wallet = Wallet.init(tmp_path / "wallet")
    creds = receive_offer(wallet, wallet.new_keys(2), offer, client=node)
    assert len(creds) == 2 and len(wallet.receive(creds)) == 2
    with pytest.raises(SekishoError):
        receive_offer(wallet, wallet.new_keys(1), offer, client=node)  # one use
    bad = runner.invoke(app, ["credentials", "offer", "-m", GIFU, "--handle", "not-a-handle"])
    assert bad.exit_code == 2 and bad.output.strip().count("\n") == 0
