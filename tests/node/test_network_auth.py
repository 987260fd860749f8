"""The authentication battery against real processes: `sekisho up` (T1, T2, locator, watchdog, log, PKI, one
municipality, one agency) over mutual TLS, each party behind its guard; every refusal is a problem document with
its status and nothing of the request, and leaves an alert the watchdog lists.  Then a party killed outright."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sekisho.config import Home
from sekisho.errors import Forbidden, Unavailable
from sekisho.node import transport
from sekisho.node.certificates import credentials, csr_for, write_key_and_cert
from sekisho.pki import hierarchy as pki_hierarchy
from sekisho.pki import issuance as pki_issuance
from sekisho.pki import profiles
from sekisho.pki import status as pki_status
from sekisho.problems import MEDIA_TYPE
from sekisho.transparency.entry import AccessRecordBuilder, derive_commitment_key
from sekisho.wire import tls
from sekisho.wire.signatures import TerminalKey, sign_request

from .procs import PASSPHRASE, Running, ca_context, party_client, start


def make_entry(*, purpose: str = "pension.benefit") -> bytes:
    """An access record as the log takes it (a fresh commitment key: every entry differs)."""
    return (
        AccessRecordBuilder()
        .actor("agency", "pension", terminal="t-1")
        .action("identity-confirmation", purpose=purpose)
        .items(["address", "name"])
        .decision("allow")
        .build(derive_commitment_key(os.urandom(32)))
        .entry_bytes()
    )


PROBLEM_KEYS = {"type", "title", "status", "detail", "field", "instance"}
MUNI = "municipality/212016"
#: per terminal: a burst of 40 and one request a second after it
RATE = "1:40"
#: parties a test killed and started again (`sekisho serve` on the same port): they serve until the module ends
RESTARTED: list[Running] = []


@pytest.fixture(scope="module")
def network(net_home: Home) -> Iterator[Running]:
    from sekisho.auditlog import keys
    from sekisho.auditlog.service import init_parties

    init_parties(net_home, PASSPHRASE.encode(), origin=keys.DEFAULT_ORIGIN, witness_name=keys.DEFAULT_WITNESS)
    running = start(
        net_home, "up", "--municipalities", "212016", "--agencies", "pension", extra_env={"SEKISHO_RATE_LIMIT": RATE}
    )
    running.wait_for("ready:")
    yield running
    running.stop()
    # parties restarted by hand after a kill: each stops cleanly on SIGTERM
    assert [r.stop() for r in RESTARTED] == [0] * len(RESTARTED)


def _urls(network: Running) -> dict[str, str]:
    return {p["party"]: p["url"] for p in network.run_file()["parties"]}


def _pki(network: Running) -> pki_hierarchy.Pki:
    return pki_hierarchy.Pki.open(network.home, secret=lambda: PASSPHRASE.encode())


def _terminal(network: Running, terminal: str, *, now: datetime | None = None, days: int = 30) -> TerminalKey:
    """A terminal issued at the PKI's counter (the PKI's own database, as `sekisho pki` does)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pki = _pki(network)
    try:
        cert = pki_issuance.issue_terminal_certificate(pki, terminal=terminal, csr=csr_for(key), now=now, days=days)
    finally:
        pki.engine.dispose()
    return TerminalKey(key=key, certificate=cert)


def _signed_log_client(network: Running, terminal: TerminalKey | None) -> httpx.Client:
    return transport.client(
        credentials(network.home.root, MUNI), peer="log", base_url=_urls(network)["log"], terminal=terminal
    )


def _append(client: httpx.Client, entry: bytes | None = None) -> httpx.Response:
    return client.post("/append", content=entry or make_entry(), headers={"content-type": "application/octet-stream"})


def _refused(response: httpx.Response, status: int, secret: bytes | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert set(body) <= PROBLEM_KEYS
    if secret is not None:
        assert secret.decode(errors="replace")[:40] not in response.text
    return body


def _alerts(network: Running, rule: str, *, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The watchdog's alerts of ``rule`` (waits, bounded, for the refusing party's report to arrive)."""
    from sekisho.policy.service import Watchdog

    watchdog = Watchdog.open(network.home, passphrase=PASSPHRASE.encode())
    try:
        deadline = time.monotonic() + timeout
        while True:
            found = watchdog.alerts(rule=rule)
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)
    finally:
        watchdog.engine.dispose()


def _no_personal_data(alert: dict[str, Any]) -> None:
    text = repr(alert)
    for forbidden in ("髙橋", "entry", "Signature", "MII"):
        assert forbidden not in text


def test_a_signed_append_by_a_clerk_terminal_is_accepted(network: Running) -> None:
    with party_client(network.home.root, MUNI, "log", signed=True) as client:
        response = _append(client)
    assert response.status_code == 200, response.text
    assert "index" in response.json()


def test_no_client_certificate_is_401(network: Running) -> None:
    entry = make_entry()
    response = httpx.post(
        _urls(network)["log"] + "/append", content=entry, verify=ca_context(network.home.root), trust_env=False
    )
    body = _refused(response, 401, entry)
    assert body["field"] == "client-certificate"
    alerts = _alerts(network, "auth-no-client-certificate")
    assert alerts and "refused-by=log" in alerts[0]["details"]
    _no_personal_data(alerts[0])


def test_a_certificate_from_another_ca_fails_the_handshake(network: Running, tmp_path: Path) -> None:
    # a forger's CA under the organisation CA's very name, and a "t1" certificate from it
    forged_key = profiles.new_key()
    forged = profiles.root_certificate(ca_id=profiles.ORGANISATION, key=forged_key, now=datetime.now(UTC))
    key = profiles.new_key()
    cert = profiles.party_certificate(
        party="t1",
        key=key.public_key(),
        issuer=forged,
        issuer_key=forged_key,
        endpoints=profiles.Endpoints("https://pki.sekisho.internal"),
        now=datetime.now(UTC),
        days=30,
    )
    certfile, keyfile = write_key_and_cert(tmp_path / "forged", key, cert)
    org = credentials(network.home.root, "t1").trust()
    context = tls.client_context(certfile=certfile, keyfile=keyfile, trust=org)
    with (
        tls.party_client(_urls(network)["log"], party="log", context=context, timeout=10.0) as client,
        pytest.raises(httpx.TransportError),
    ):
        # TLS 1.3: the server's refusal (an alert, no HTTP) reaches the client at its first read
        _append(client)
    alerts = _alerts(network, "auth-untrusted-certificate")
    assert alerts and alerts[0]["details"][0] == "status=0"


def test_a_revoked_terminal_is_401(network: Running) -> None:
    lost = _terminal(network, f"{MUNI}/counter-8")
    pki = _pki(network)
    try:
        pki_status.revoke(
            pki.engine, serial=format(lost.certificate.serial_number, "x"), reason=x509.ReasonFlags.key_compromise
        )
    finally:
        pki.engine.dispose()
    entry = make_entry()
    with _signed_log_client(network, lost) as client:
        body = _refused(_append(client, entry), 401, entry)
    assert body["field"] == "terminal-certificate"
    alerts = _alerts(network, "auth-certificate-revoked")
    assert alerts and alerts[0]["subject"] == f"{MUNI}/counter-8"
    _no_personal_data(alerts[0])


def test_an_expired_terminal_is_401(network: Running) -> None:
    old = _terminal(network, f"{MUNI}/counter-9", now=datetime.now(UTC) - timedelta(days=3), days=1)
    with _signed_log_client(network, old) as client:
        _refused(_append(client), 401)
    assert _alerts(network, "auth-certificate-expired")


def test_a_replayed_request_is_401(network: Running) -> None:
    clerk = credentials(network.home.root, MUNI).terminal()
    with _signed_log_client(network, None) as client:
        request = client.build_request(
            "POST", "/append", content=make_entry(), headers={"content-type": "application/octet-stream"}
        )
        sign_request(request, clerk)
        first = client.send(request)
        assert first.status_code == 200, first.text
        again = client.send(request)
    body = _refused(again, 401)
    assert body["field"] == "signature"
    alerts = _alerts(network, "auth-replayed")
    assert alerts and alerts[0]["subject"] == f"{MUNI}/clerk-1"


def test_a_signature_over_a_changed_body_is_401(network: Running) -> None:
    clerk = credentials(network.home.root, MUNI).terminal()
    with _signed_log_client(network, None) as client:
        signed = client.build_request(
            "POST", "/append", content=make_entry(), headers={"content-type": "application/octet-stream"}
        )
        sign_request(signed, clerk)
        other = make_entry(purpose="pension.survivor")
        headers = {k: v for k, v in signed.headers.items() if k.lower() != "content-length"}
        changed = client.build_request("POST", "/append", content=other, headers=headers)
        response = client.send(changed)
    _refused(response, 401, other)
    assert _alerts(network, "auth-signature-invalid")


@pytest.mark.parametrize(("caller", "callee"), [("agency/pension", "locator"), (MUNI, "t2")])
def test_a_role_at_an_endpoint_it_may_not_call_is_403(network: Running, caller: str, callee: str) -> None:
    with party_client(network.home.root, caller, callee) as client:
        body = _refused(client.get("/openapi.json"), 403)
    assert body["field"] == "role"
    alerts = [a for a in _alerts(network, "auth-role-not-allowed") if a["subject"] == caller]
    assert alerts and f"refused-by={callee}" in alerts[0]["details"]


def test_a_flood_over_the_rate_limit_is_429(network: Running) -> None:
    flood = _terminal(network, f"{MUNI}/flood-1")
    statuses: list[int] = []
    with _signed_log_client(network, flood) as client:
        for _ in range(200):  # the burst is 40: a 429 comes long before
            response = _append(client)
            statuses.append(response.status_code)
            if response.status_code != 200:
                break
    assert statuses[0] == 200
    body = _refused(response, 429)
    assert int(response.headers["retry-after"]) >= 1
    assert body["type"] == "urn:sekisho:problem:too-many-requests"
    alerts = _alerts(network, "auth-rate-limited")
    assert [a["subject"] for a in alerts] == [f"{MUNI}/flood-1"]  # one alert for the episode


def test_a_request_signed_for_another_party_is_401_here(network: Running) -> None:
    """A signature covers the target URI; the log accepts only its own names, so a request signed for the PKI's
    address (and sent with its Host) cannot be replayed at the log."""
    clerk = credentials(network.home.root, MUNI).terminal()
    urls = _urls(network)
    signed = httpx.Request(
        "POST", urls["pki"] + "/append", content=make_entry(), headers={"content-type": "application/octet-stream"}
    )
    sign_request(signed, clerk)
    with _signed_log_client(network, None) as client:
        replayed = client.build_request("POST", "/append", content=signed.content, headers=dict(signed.headers))
        assert replayed.headers["host"] == urls["pki"].removeprefix("https://")
        body = _refused(client.send(replayed), 401)
    assert body["field"] == "host"
    assert _alerts(network, "auth-wrong-authority")


def test_http_network_appends_through_the_log_client_and_asks_health(network: Running) -> None:
    from sekisho.node.httpnet import HttpNetwork, healthy

    with HttpNetwork(network.home.root, MUNI) as net:
        log = net.access_log()
        first = log.append(make_entry())
        second = log.append(make_entry())
        assert second.index == first.index + 1
        assert net.health("t2")["party"] == "t2"
    assert healthy(network.home.root, MUNI, ["log", "locator"]) == {"log": "ok", "locator": "ok"}


def test_http_network_reaches_the_protocols_through_the_guard(network: Running) -> None:
    """The protocol clients HttpNetwork hands a party speak mutual TLS to the real processes, and the guard's
    table decides: a municipality reads the watchdog's register, and may not ask T2 (which hears from T1 only)."""
    from sekisho.node.httpnet import HttpNetwork

    with HttpNetwork(network.home.root, MUNI) as net:
        assert isinstance(net.watchdog().warrant_keys(), dict)
        with pytest.raises(Forbidden):
            net.transcryptor("t2").key_share("registry", requester="212016")


def _kill(network: Running, party: str) -> tuple[int, int]:
    entry = next(p for p in network.run_file()["parties"] if p["party"] == party)
    os.kill(entry["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(entry["pid"], 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{entry['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    return entry["pid"], int(entry["port"])


def _restart(network: Running, role: str, port: int) -> Running:
    again = start(network.home, "serve", role, "--port", str(port))
    RESTARTED.append(again)
    again.wait_for(f"serving {role} on ")
    return again


def test_a_killed_log_is_unavailable_and_after_restart_the_append_succeeds(network: Running) -> None:
    with party_client(network.home.root, MUNI, "log", signed=True) as client:
        before = transport.request(
            client, "POST", "/append", content=make_entry(), headers={"content-type": "application/octet-stream"}
        ).json()["index"]
    _, port = _kill(network, "log")
    entry = make_entry()
    with party_client(network.home.root, MUNI, "log", signed=True) as client:
        with pytest.raises(Unavailable) as gone:
            transport.request(
                client, "POST", "/append", content=entry, headers={"content-type": "application/octet-stream"}
            )
        assert gone.value.exit_code == 5
    _restart(network, "log", port)
    with party_client(network.home.root, MUNI, "log", signed=True) as client:
        after = transport.request(
            client, "POST", "/append", content=entry, headers={"content-type": "application/octet-stream"}
        )
    assert after.status_code == 200, after.text
    # nothing half-done: the refused append left no entry; the same request now lands right after the last
    assert after.json()["index"] == before + 1


def test_a_killed_pki_makes_its_callers_answer_503_and_after_restart_they_succeed(network: Running) -> None:
    # a terminal the log has not seen: no status of it is kept there (SEKISHO_REVOCATION_CACHE), so it must ask
    new = _terminal(network, f"{MUNI}/counter-10")
    _, port = _kill(network, "pki")
    entry = make_entry()
    with _signed_log_client(network, new) as client:
        # the log cannot learn whether the terminal is revoked: refused, and the caller may retry
        body = _refused(_append(client, entry), 503, entry)
        assert body["field"] == "revocation"
        with pytest.raises(Unavailable):
            transport.request(
                client, "POST", "/append", content=entry, headers={"content-type": "application/octet-stream"}
            )
    _restart(network, "pki", port)
    with _signed_log_client(network, new) as client:
        response = _append(client, entry)
    assert response.status_code == 200, response.text
