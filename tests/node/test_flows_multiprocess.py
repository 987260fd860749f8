"""The flows against a real network of processes: `sekisho up` on a home set up with the `sekisho` commands
(tests/node/flownet.py), then every request over real sockets, mutual TLS and the parties' guards.

Each test stands alone on the module's network (pytest-xdist may give a test a network of its own): a card's
status seen by `openssl ocsp` at the PKI's process, a login with the card over HTTPS, hops refused to a caller
the protocol does not let in, and a party killed outright while the others run.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from sekisho.agency.service import AgencyService
from sekisho.config import Home
from sekisho.errors import Unavailable
from sekisho.jp.clock import japan_today
from sekisho.node import transport
from sekisho.node.httpnet import HttpNetwork
from sekisho.node.municipality import MunicipalityNode
from sekisho.node.registers import open_register
from sekisho.pki.card import SoftwareCard
from sekisho.pki.oids import Purpose
from sekisho.problems import MEDIA_TYPE
from sekisho.wire.signatures import TerminalKey

from .flownet import AGENCY, AUTH_PIN, CODE, MUNI, PURPOSE, SIGN_PIN, Prepared, prepare, sekisho, sekisho_json
from .procs import PASSPHRASE, Running, ca_context, party_client, pid_alive, start
from .test_network_auth import _signed_log_client, _terminal, make_entry

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
]

#: parties a test killed and started again by hand (`sekisho serve` on the same port): stopped with the module
RESTARTED: list[Running] = []


@pytest.fixture(scope="module")
def prepared(net_home: Home) -> Prepared:
    return prepare(net_home)


#: a second municipality of the network, where a resident of 岐阜市 moves in
DEST = "131016"


@pytest.fixture(scope="module")
def network(prepared: Prepared) -> Iterator[Running]:
    sekisho(prepared.home, "registry", "init", "-m", DEST)
    running = start(prepared.home, "up", "--municipalities", f"{CODE},{DEST}", "--agencies", "pension")
    running.wait_for("ready:")
    yield running
    running.stop()
    assert [r.stop() for r in RESTARTED] == [0] * len(RESTARTED)
    RESTARTED.clear()


def _urls(network: Running) -> dict[str, str]:
    return {p["party"]: p["url"] for p in network.run_file()["parties"]}


def _card_files(network: Running, card: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The card's authentication certificate and its issuing prefectural CA (as the PKI's process publishes it),
    as PEM files for openssl."""
    cert = SoftwareCard.open(card).certificate(Purpose.AUTHENTICATION)
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(cert.public_bytes(Encoding.PEM))
    # the prefectural CA's number is the last word of the issuer's common name ("Sekisho Prefectural CA 21")
    [cn] = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    prefecture = str(cn.value).rsplit(" ", 1)[1]
    response = httpx.get(
        f"{_urls(network)['pki']}/pki/ca/pref-{prefecture}.crt", verify=ca_context(network.home.root), trust_env=False
    )
    assert response.status_code == 200, response.text
    issuer = tmp_path / "issuer.pem"
    issuer.write_bytes(x509.load_der_x509_certificate(response.content).public_bytes(Encoding.PEM))
    return leaf, issuer


def openssl_ocsp(network: Running, leaf: Path, issuer: Path) -> str:
    """``openssl ocsp`` for ``leaf`` at the PKI's process, over HTTPS; the response verified against the issuing
    CA (which signed the responder's certificate).  Returns the certificate's line (``…: good``)."""
    result = subprocess.run(
        ["openssl", "ocsp", "-issuer", str(issuer), "-cert", str(leaf), "-url", f"{_urls(network)['pki']}/pki/ocsp",
         "-CAfile", str(issuer), "-resp_text"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr, result.stderr
    assert "OCSP Nonce" in result.stdout  # the nonce openssl sent came back: a fresh answer
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith(f"{leaf}: "))
    return line.split(": ", 1)[1].strip()


def login(network: Running, card: Path, *, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """`sekisho pki login --card … --url <the PKI's process>`: the card answers the challenge over HTTPS."""
    return sekisho(
        network.home,
        "pki", "login", "--card", str(card), "--url", url or _urls(network)["pki"], "--json",
        env={"SEKISHO_CARD_PIN": AUTH_PIN}, check=False,
    )  # fmt: skip


def test_a_card_is_good_then_revoked_as_openssl_sees_it_at_the_pki(
    network: Running, prepared: Prepared, tmp_path: Path
) -> None:
    handle = prepared.handles[0]
    card = prepared.cards[handle]
    leaf, issuer = _card_files(network, card, tmp_path)
    assert openssl_ocsp(network, leaf, issuer) == "good"
    # the counter reports the card lost (the PKI's own database); the responder says so on the next request
    revoked = sekisho(network.home, "pki", "revoke", "--card", str(card), "--reason", "keyCompromise")
    assert revoked.stdout.count("revoked ") == 2  # both of the card's certificates
    status = openssl_ocsp(network, leaf, issuer)
    assert status.startswith("revoked")
    # and the card no longer logs in
    refused = login(network, card)
    assert refused.returncode == 3, refused.stderr
    assert refused.stderr.count("\n") == 1


def test_a_card_logs_in_over_https(network: Running, prepared: Prepared) -> None:
    card = prepared.cards[prepared.handles[1]]
    answer = login(network, card)
    assert answer.returncode == 0, answer.stderr
    session = json.loads(answer.stdout)
    assert session["token"].count(".") == 2  # a JWT
    assert session["subject_id"]


#: (caller, callee, path): hops the protocol does not allow — T2 hears from T1 only; the locator from T2 (and
#: municipalities for their index); a municipality answers the locator only
WRONG_HOPS = [
    ("agency/pension", "t2", "/convert"),
    (MUNI, "t2", "/convert"),
    ("agency/pension", "locator", "/confirm"),
    ("t1", "locator", "/confirm"),
    ("agency/pension", MUNI, "/identity"),
    ("t1", MUNI, "/identity"),
    ("locator", "agency/pension", "/agency/enrolments"),
]


@pytest.mark.parametrize(("caller", "callee", "path"), WRONG_HOPS)
def test_a_hop_from_a_caller_the_protocol_does_not_allow_is_403(
    network: Running, caller: str, callee: str, path: str
) -> None:
    secret = b"\x00SECRET-CIPHERTEXT-" + os.urandom(16).hex().encode()
    with party_client(network.home.root, caller, callee, signed=True) as client:
        response = client.post(path, content=secret, headers={"content-type": "application/octet-stream"})
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["field"] == "role"
    assert "SECRET" not in response.text


def _kill(network: Running, party: str) -> int:
    entry = next(p for p in network.run_file()["parties"] if p["party"] == party)
    os.kill(entry["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while pid_alive(entry["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(entry["pid"])
    return int(entry["port"])


def _append(network: Running, entry: bytes, *, terminal: TerminalKey | None = None) -> httpx.Response:
    """An access record appended at the log by the clerk terminal of the municipality (signed, mutual TLS), or by
    ``terminal``."""
    if terminal is not None:
        with _signed_log_client(network, terminal) as client:
            return client.post("/append", content=entry, headers={"content-type": "application/octet-stream"})
    with party_client(network.home.root, MUNI, "log", signed=True) as client:
        return client.post("/append", content=entry, headers={"content-type": "application/octet-stream"})


def test_a_killed_pki_gives_its_callers_503_and_the_cli_exit_5_and_after_restart_the_same_requests_succeed(
    network: Running, prepared: Prepared
) -> None:
    card = prepared.cards[prepared.handles[1]]
    first = _append(network, make_entry())
    assert first.status_code == 200, first.text
    before = first.json()["index"]

    # a terminal the log has not seen yet: it has no status of it kept (SEKISHO_REVOCATION_CACHE) and must ask
    new = _terminal(network, f"{MUNI}/counter-7")
    port = _kill(network, "pki")
    entry = make_entry()
    # the log cannot learn whether the clerk's terminal is revoked: a 503 problem, nothing appended
    refused = _append(network, entry, terminal=new)
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == MEDIA_TYPE
    problem: dict[str, Any] = refused.json()
    assert problem["status"] == 503 and problem["field"] == "revocation"
    with _signed_log_client(network, new) as client, pytest.raises(Unavailable) as gone:
        transport.request(
            client, "POST", "/append", content=entry, headers={"content-type": "application/octet-stream"}
        )
    assert gone.value.exit_code == 5
    # a citizen's login at the PKI: the command says, on one line, that the PKI is unavailable, and exits 5
    down = login(network, card)
    assert down.returncode == 5, down.stderr
    assert down.stderr.startswith("sekisho: error: ") and down.stderr.count("\n") == 1
    assert down.stdout == ""

    again = start(network.home, "serve", "pki", "--port", str(port))
    RESTARTED.append(again)
    again.wait_for("serving pki on ")
    # the same requests now succeed; the refused append left nothing: this one lands right after the first
    after = _append(network, entry, terminal=new)
    assert after.status_code == 200, after.text
    assert after.json()["index"] == before + 1
    assert login(network, card).returncode == 0


def test_an_enrolment_and_a_death_notice_travel_over_http_to_the_agency_node(
    network: Running, prepared: Prepared
) -> None:
    """The municipality enrols a resident with the pension agency and, after the resident's death, delivers the
    change notice, as its node does: T1's relay, the watchdog's decision point, the log and the agency's node, all
    over HTTP; the agency's process stores what arrives."""
    handle = prepared.handles[2]
    net = HttpNetwork(network.home.root, MUNI)
    node = MunicipalityNode(network.home, CODE, lambda: net)
    try:
        releases = node.releases()
        enrolled = releases.enrol([handle], agency=AGENCY, purpose=PURPOSE)
        assert enrolled.enrolled == 1
        releases.register.death(handle, died_on=(japan_today() - timedelta(days=1)).isoformat())
        delivered = releases.deliver_notices()
    finally:
        node.close()
        net.close()
    assert delivered.notices >= 1 and delivered.pending == 0
    agency = AgencyService.open(network.home, AGENCY, passphrase=PASSPHRASE.encode())
    try:
        [received] = agency.delivered(enrolled.deliveries[0])
        died = [n for n in agency.notices() if n["kind"] == "died"]
    finally:
        agency.engine.dispose()
    assert died and {n["pseudonym"] for n in died} == {received.pseudonym}


def _death_enrolled(network: Running, handle: str) -> str:
    """The municipality's node enrols ``handle`` with the pension agency, then the resident's death is registered
    (an outbox event; nothing is pushed).  Returns the enrolment's delivery id."""
    net = HttpNetwork(network.home.root, MUNI)
    node = MunicipalityNode(network.home, CODE, lambda: net)
    try:
        releases = node.releases()
        enrolled = releases.enrol([handle], agency=AGENCY, purpose=PURPOSE)
        assert enrolled.enrolled == 1
        releases.register.death(handle, died_on=(japan_today() - timedelta(days=1)).isoformat())
    finally:
        node.close()
        net.close()
    return enrolled.deliveries[0]


def test_a_death_reaches_the_agency_once_through_its_notice_pull_over_http(
    network: Running, prepared: Prepared
) -> None:
    """`sekisho agency pull-notices`: the agency pulls its feed from the municipality's process (its node releases
    the page: the decision point at the watchdog, R → A through T1's relay, the access records in the log's
    process); the death arrives once, and a second pull finds nothing new."""
    delivery = _death_enrolled(network, prepared.handles[4])
    first = sekisho(network.home, "agency", "pull-notices", AGENCY, "--json")
    pulled = json.loads(first.stdout)
    assert pulled["new"] >= 1 and pulled["municipalities"][CODE] >= 1
    assert f"{CODE}: events " in first.stderr  # a line a page
    again = json.loads(sekisho(network.home, "agency", "pull-notices", AGENCY, "-m", CODE, "--json").stdout)
    assert again == {"new": 0, "municipalities": {CODE: 0}}
    agency = AgencyService.open(network.home, AGENCY, passphrase=PASSPHRASE.encode())
    try:
        [received] = agency.delivered(delivery)
        died = [n for n in agency.notices() if n["pseudonym"] == received.pseudonym]
    finally:
        agency.engine.dispose()
    assert [n["kind"] for n in died] == ["died"]


def _unused_port_of_loopback() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_notice_pull_from_a_municipality_that_does_not_answer_exits_5_in_one_line(network: Running) -> None:
    path = network.home.root / "run" / "network.json"
    saved = path.read_text()
    run = json.loads(saved)
    for party in run["parties"]:
        if party["party"] == MUNI:
            party["url"] = f"https://127.0.0.1:{_unused_port_of_loopback()}"
    path.write_text(json.dumps(run))  # this test's worker runs nothing else meanwhile
    try:
        said = sekisho(network.home, "agency", "pull-notices", AGENCY, "-m", CODE, check=False)
    finally:
        path.write_text(saved)
    assert said.returncode == 5, said.stderr
    assert said.stderr.startswith("sekisho: error: ") and said.stderr.count("\n") == 1
    assert said.stdout == ""


#: a clerk of the municipality's portal (12 characters or more)
CLERK, CLERK_PASSWORD, TERMINAL = "clerk-flow", "portal-clerk-password-1", "counter-9"


def test_the_portal_in_the_municipality_process_appends_its_access_records_through_the_log_process(
    network: Running, prepared: Prepared
) -> None:
    """A clerk reads a record at the portal of the municipality's process: the record's access entry is appended by
    the log's process (the portal is not a second writer on the log's database: on PostgreSQL refused outright;
    on SQLite the municipality's process does not even open the log's database file)."""
    from sekisho.auditlog.client import HttpAccessLog
    from sekisho.node.municipality import node_access_log
    from sekisho.registry import store as st
    from sekisho.registry.service import RegisterService

    home, handle = network.home, prepared.handles[0]
    sekisho(home, "portal", "add-clerk", CLERK, "-m", CODE, "--terminal", TERMINAL,
            env={"SEKISHO_PORTAL_PASSWORD": CLERK_PASSWORD})  # fmt: skip
    url = _urls(network)[MUNI]
    with httpx.Client(base_url=url, verify=ca_context(home.root), trust_env=False, timeout=120) as browser:

        def csrf(path: str) -> str:
            found = re.search(r'name="csrf" value="([^"]+)"', browser.get(path).text)
            assert found is not None
            return found.group(1)

        form = {"csrf": csrf("/portal/clerk/login"), "login": CLERK, "password": CLERK_PASSWORD}
        assert browser.post("/portal/clerk/login", data=form).status_code == 303  # → the console
        first = _append(network, make_entry()).json()["index"]
        shown = browser.post("/portal/clerk/record", data={"csrf": csrf("/portal/clerk"), "handle": handle})
        assert shown.status_code == 200, shown.text
        assert handle in shown.text
        last = _append(network, make_entry()).json()["index"]
    register = RegisterService.open(home, CODE, access_log=None)
    try:
        with register.engine.connect() as conn:
            [read] = conn.execute(sa.select(st.access).where(st.access.c.terminal == TERMINAL)).all()
    finally:
        register.engine.dispose()
    assert read.log_index is not None and first < read.log_index < last
    if not home.db_url:
        municipality = next(p for p in network.run_file()["parties"] if p["party"] == MUNI)
        log_db = Path(str(sa.make_url(home.party_db_url("log")).database)).resolve()
        fds = Path(f"/proc/{municipality['pid']}/fd")
        opened = {Path(os.readlink(fd)).resolve() for fd in fds.iterdir() if fd.is_symlink()}
        assert not {f for f in opened if str(f).startswith(str(log_db))}  # nor its -wal, -shm
    # the node's services choose the log's process whenever the network's run file is there
    log = node_access_log(home, CODE)
    assert log is not None and isinstance(log._get(), HttpAccessLog)


def _access(home: Home, code: str, action: str) -> list[Any]:
    """Municipality ``code``'s access records of ``action``, as stored (read here; the process appended them)."""
    from sekisho.registry import store as st

    register = open_register(home, code, access_log=None)
    try:
        with register.engine.connect() as conn:
            query = sa.select(st.access).where(st.access.c.action == action).order_by(st.access.c.id)
            return list(conn.execute(query).all())
    finally:
        register.engine.dispose()


def _pseudonyms(home: Home, tmp_path: Path) -> set[str]:
    out = tmp_path / "agency.csv"
    sekisho(home, "agency", "export", AGENCY, "--out", str(out))
    with out.open(encoding="utf-8", newline="") as f:
        return {row["pseudonym"] for row in csv.DictReader(f)}


def test_the_clerk_and_agency_commands_reach_the_parties_over_http_while_the_network_runs(
    network: Running, prepared: Prepared, tmp_path: Path
) -> None:
    """With `sekisho up` running, the CLI acts as its party over HTTP: the log's process appends its access
    records (on PostgreSQL a second writer on the log is refused outright), an enrolment and an identity
    confirmation go through T1's relay, and a move-in is filed at the destination's own node."""
    home, handle = network.home, prepared.handles[3]
    # a read from the command line: its access record is appended by the log's process, between two others
    first = _append(network, make_entry()).json()["index"]
    shown = sekisho(home, "registry", "show", handle, "-m", CODE, "--json")
    assert json.loads(shown.stdout)["handle"] == handle
    last = _append(network, make_entry()).json()["index"]
    read = _access(home, CODE, "register-read")[-1]
    assert read.log_index is not None and first < read.log_index < last

    # the clerk enrols the resident with the agency; the agency confirms the identity with its pseudonym
    before = _pseudonyms(home, tmp_path)
    enrolled = sekisho_json(home, "agency", "enroll", AGENCY, "-m", CODE, "--purpose", PURPOSE, "--handle", handle)
    assert enrolled["enrolled"] == 1
    [pseudonym] = _pseudonyms(home, tmp_path) - before
    [answer] = sekisho_json(home, "agency", "lookup", AGENCY, "--pseudonym", pseudonym, "--purpose", PURPOSE)
    assert answer["status"] == "found" and answer["pseudonym"] == pseudonym
    confirmed = _access(home, CODE, "identity-confirmation")
    assert confirmed and confirmed[-1].log_index is not None
    # a card issued at the counter: the enrolment with the PKI goes through the municipality's releases over HTTP
    card = tmp_path / "resident.card"
    pins = {"SEKISHO_CARD_PIN": AUTH_PIN, "SEKISHO_SIGNING_PIN": SIGN_PIN}
    issued = sekisho_json(home, "pki", "issue", "--municipality", CODE, "--handle", handle, "--card-out", str(card),
                          env=pins)  # fmt: skip
    assert issued["authentication_serial"] and card.exists()

    # 転出 at 岐阜市, then 転入 at 千代田区's node, which takes the person over from 岐阜市's node
    today = japan_today().isoformat()
    out = sekisho_json(home, "registry", "move-out", handle, "-m", CODE, "--to", "東京都千代田区千代田１番１号",
                       "--planned-on", today)  # fmt: skip
    moved = sekisho_json(home, "registry", "move-in", "-m", DEST, "--transfer", out["transfer"], "--moved-on", today,
                         "--town", "千代田", "--block", "１番１号")  # fmt: skip
    assert moved["status"] == "active" and not moved["already_done"]
    again = sekisho_json(home, "registry", "move-in", "-m", DEST, "--transfer", out["transfer"], "--moved-on", today,
                         "--town", "千代田", "--block", "１番１号")  # fmt: skip
    assert again["already_done"] and again["handle"] == moved["handle"]
    assert sekisho_json(home, "registry", "show", handle, "-m", CODE)["status"] != "active"
    # 岐阜市 tells the agency the resident moved out (its node's release, over HTTP)
    assert sekisho_json(home, "registry", "deliver-notices", "-m", CODE)["notices"] >= 1
    # the agency's pseudonym moved with the person: the identity confirmation now finds them at 千代田区
    [answer] = sekisho_json(home, "agency", "lookup", AGENCY, "--pseudonym", pseudonym, "--purpose", PURPOSE)
    assert answer["status"] == "found"
    assert _access(home, DEST, "identity-confirmation")


def test_an_agency_command_exits_5_in_one_line_when_a_party_does_not_answer(network: Running) -> None:
    """The run file names a T1 that does not answer: the lookup says so on one line and exits 5."""
    from sekisho.pep.encoding import encode_pseudonym
    from sekisho.pep.group import Point, Scalar

    path = network.home.root / "run" / "network.json"
    saved = path.read_text()
    run = json.loads(saved)
    for party in run["parties"]:
        if party["party"] == "t1":
            party["url"] = f"https://127.0.0.1:{_unused_port()}"
    pseudonym = encode_pseudonym(AGENCY, Point.base(Scalar.random()).to_bytes())
    path.write_text(json.dumps(run))  # this test's worker runs nothing else meanwhile
    try:
        said = sekisho(network.home, "agency", "lookup", AGENCY, "--pseudonym", pseudonym, "--purpose", PURPOSE,
                       check=False)  # fmt: skip
    finally:
        path.write_text(saved)
    assert said.returncode == 5, said.stderr
    assert said.stderr.startswith("sekisho: error: ") and said.stderr.count("\n") == 1
    assert said.stdout == ""


def _unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
