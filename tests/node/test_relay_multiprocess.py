"""The identity-confirmation and cross-reference flows through real processes: `sekisho up` on a network with the
shipped policy, then an enrolment, an identity confirmation and cross-references made the way a municipality and
an agency make them — every hop over mutual TLS through the parties' guards:

    municipality → T1 /relay → T2 → back                         (an enrolment: R → A, delivered to the agency)
    agency → T1 /relay → T2 → locator /confirm → municipality → log   (an identity confirmation)
    agency A → T1 → T2 → back; A → T1 → T2 → locator → municipality  (a cross-reference under a warrant), then A → B

The test process plays the municipality's and the agencies' systems with their own certificates and terminals
(``HttpNetwork``); nothing here reaches another party's database except to check what was stored.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pep_network import GIFU, PASSPHRASE, person, shipped_network
from sekisho.agency.crossref import run_cross_reference
from sekisho.agency.service import AgencyService
from sekisho.auditlog import keys
from sekisho.auditlog.client import close_access_logs
from sekisho.auditlog.service import init_parties
from sekisho.config import Home
from sekisho.errors import Refused
from sekisho.node.httpnet import HttpNetwork
from sekisho.node.municipality import MunicipalityNode
from sekisho.node.registers import open_register
from sekisho.policy.service import Watchdog
from sekisho.registry import store as st

from .flownet import sekisho_json
from .procs import Running, ca_context, env_for, sekisho_cmd, start

pytestmark = pytest.mark.slow

MUNI = f"municipality/{GIFU}"
PENSION = ("pension", "pension.benefit")
WELFARE = ("welfare-saitama", "welfare.public-assistance")
MEANS_TEST = "welfare.means-test"  # the shipped row: welfare-saitama → pension | tax


@dataclass
class Flows:
    running: Running
    home: Home
    handle: str
    #: the warrant (token) the watchdog signed for welfare-saitama → pension, one person
    warrant: str
    #: the same, with pension's pseudonym of the resident and welfare's, once enrolled over HTTP
    pseudonyms: dict[str, str]
    #: another such warrant, by its id
    warrant_id: str


def _agency(home: Home, name: str) -> AgencyService:
    return AgencyService.open(home, name, passphrase=PASSPHRASE)


def _records(home: Home, action: str) -> int:
    register = open_register(home, GIFU, access_log=None)
    try:
        with register.engine.connect() as conn:
            return len(conn.execute(sa.select(st.access.c.id).where(st.access.c.action == action)).all())
    finally:
        register.engine.dispose()


@pytest.fixture(scope="module")
def flows(net_home: Home) -> Iterator[Flows]:
    home = net_home
    secret = PASSPHRASE
    init_parties(home, secret, origin=keys.DEFAULT_ORIGIN, witness_name=keys.DEFAULT_WITNESS)
    gen = shipped_network(home, approve=("pension", "welfare-saitama"), agencies=(PENSION, WELFARE), codes=(GIFU,))
    net = next(gen)
    handle = net.register(GIFU).add(person()).handle  # indexed at the locator as it is added
    watchdog = Watchdog.open(home, passphrase=secret)
    wid = watchdog.request_warrant(
        requester="welfare-saitama",
        target="pension",
        purpose=MEANS_TEST,
        legal_basis=MEANS_TEST,
        case_reference="case/2026-0042",
        persons=1,
        not_after=datetime.now(UTC) + timedelta(days=30),
        by="agency-officer-3",
    )
    token = watchdog.approve_warrant(wid, by="wd-officer-1")
    # a second one, which the command line names by its id (the token is read from the watchdog's process)
    second = watchdog.request_warrant(
        requester="welfare-saitama",
        target="pension",
        purpose=MEANS_TEST,
        legal_basis=MEANS_TEST,
        case_reference="case/2026-0043",
        persons=1,
        not_after=datetime.now(UTC) + timedelta(days=30),
        by="agency-officer-3",
    )
    watchdog.approve_warrant(second, by="wd-officer-1")
    watchdog.engine.dispose()
    close_access_logs()  # the log's writer leaves this process: from now on the log's own process appends
    next(gen, None)

    running = start(
        home,
        "up",
        "--municipalities",
        GIFU,
        "--agencies",
        "pension,welfare-saitama",
        extra_env={"SEKISHO_PASSPHRASE": secret.decode()},
    )
    running.wait_for("ready:")
    yield Flows(running, home, handle, token, {}, second)
    running.stop()


def _enrol(flows: Flows, agency: str, purpose: str) -> str:
    """The municipality enrols its resident with ``agency`` as its node does: T1's relay, the watchdog's decision
    point, the log and the agency's node, all over HTTP."""
    net = HttpNetwork(flows.home.root, MUNI)
    node = MunicipalityNode(flows.home, GIFU, lambda: net)
    try:
        report = node.releases().enrol([flows.handle], agency=agency, purpose=purpose)
    finally:
        node.close()
        net.close()
    assert report.enrolled == 1
    svc = _agency(flows.home, agency)
    try:
        [received] = svc.delivered(report.deliveries[0])
    finally:
        svc.engine.dispose()
    return received.pseudonym


@pytest.fixture(scope="module")
def enrolled(flows: Flows) -> Flows:
    for name, purpose in (PENSION, WELFARE):
        flows.pseudonyms[name] = _enrol(flows, name, purpose)
    return flows


def test_an_enrolment_goes_municipality_t1_t2_agency(enrolled: Flows) -> None:
    assert enrolled.pseudonyms["pension"] != enrolled.pseudonyms["welfare-saitama"]
    assert _records(enrolled.home, "enrolment") >= 2


def test_an_identity_confirmation_goes_agency_t1_t2_locator_municipality(enrolled: Flows) -> None:
    before = _records(enrolled.home, "identity-confirmation")
    svc = _agency(enrolled.home, "pension")
    try:
        with HttpNetwork(enrolled.home.root, "agency/pension") as net:
            [answer] = svc.lookup([enrolled.pseudonyms["pension"]], purpose="pension.benefit", network=net)
    finally:
        svc.engine.dispose()
    assert answer.status == "found"
    assert answer.items["name"] == "髙橋\u3000健一"
    # the municipality's process wrote the access record before the answer left
    assert _records(enrolled.home, "identity-confirmation") == before + 1


def test_a_cross_reference_under_a_warrant_records_then_hands_over_and_a_refused_one_does_nothing(
    enrolled: Flows,
) -> None:
    welfare = _agency(enrolled.home, "welfare-saitama")
    pension = _agency(enrolled.home, "pension")
    try:
        with HttpNetwork(enrolled.home.root, "agency/welfare-saitama") as net:
            # refused by the transcryptors: the warrant names pension, not tax — nothing converted, recorded or sent
            with pytest.raises(Refused):
                run_cross_reference(
                    net,
                    welfare,
                    to_agency="tax",
                    warrant=enrolled.warrant,
                    pseudonyms=[enrolled.pseudonyms["welfare-saitama"]],
                    purpose=MEANS_TEST,
                )
            assert welfare.cross_references()[-1]["state"] == "refused"
            assert _records(enrolled.home, "cross-reference") == 0
            assert pension.received_cross_references() == []

            report = run_cross_reference(
                net,
                welfare,
                to_agency="pension",
                warrant=enrolled.warrant,
                pseudonyms=[enrolled.pseudonyms["welfare-saitama"]],
                purpose=MEANS_TEST,
            )
        assert (report.persons, report.recorded, report.delivered) == (1, 1, 1)
        assert _records(enrolled.home, "cross-reference") == 1
        [link] = pension.received_cross_references(report.request_id)
        # B received its own pseudonym of the person: the one pension was enrolled with
        assert link.pseudonym == enrolled.pseudonyms["pension"]
    finally:
        welfare.engine.dispose()
        pension.engine.dispose()


def test_the_command_line_looks_up_and_cross_references_over_http(enrolled: Flows) -> None:
    """`sekisho agency lookup` and `cross-reference` while the network runs: as the agency's party over HTTP
    (the warrant named by its id, its token read from the watchdog's process)."""
    env = {"SEKISHO_PASSPHRASE": PASSPHRASE.decode()}
    pension = enrolled.pseudonyms["pension"]
    [answer] = sekisho_json(enrolled.home, "agency", "lookup", "pension", "--pseudonym", pension,
                            "--purpose", "pension.benefit", env=env)  # fmt: skip
    assert answer["status"] == "found" and answer["pseudonym"] == pension
    report = sekisho_json(enrolled.home, "agency", "cross-reference", "welfare-saitama", "--to", "pension",
                          "--warrant", enrolled.warrant_id, "--pseudonym", enrolled.pseudonyms["welfare-saitama"],
                          "--purpose", MEANS_TEST, env=env)  # fmt: skip
    assert (report["persons"], report["recorded"], report["delivered"]) == (1, 1, 1)
    svc = _agency(enrolled.home, "pension")
    try:
        [link] = svc.received_cross_references(report["request_id"])
    finally:
        svc.engine.dispose()
    assert link.pseudonym == pension


def _spki_pin(url: str, root: Path) -> str:
    """The base64 SHA-256 of the public key the party's TLS server presents, its chain checked against the
    network's CA here: Chromium is told to accept that one key (and no other certificate error)."""
    parts = urlsplit(url)
    raw = socket.create_connection((parts.hostname, parts.port), timeout=10)
    with ca_context(root).wrap_socket(raw, server_hostname=parts.hostname) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    spki = (
        x509.load_der_x509_certificate(der).public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.mark.browser
def test_a_resident_sees_in_a_browser_over_https_the_access_the_agency_just_made(enrolled: Flows) -> None:
    from playwright.sync_api import sync_playwright

    from portal.chromium import CHROMIUM, CHROMIUM_ARGS
    from sekisho.portal.accounts import PortalStore

    # the pension agency confirms the resident's identity: agency → T1 → T2 → locator → municipality → log
    svc = _agency(enrolled.home, "pension")
    try:
        with HttpNetwork(enrolled.home.root, "agency/pension") as net:
            [answer] = svc.lookup([enrolled.pseudonyms["pension"]], purpose="pension.benefit", network=net)
    finally:
        svc.engine.dispose()
    assert answer.status == "found"
    # the log signs a checkpoint and the watchdog cosigns it (`sekisho log checkpoint`, as an operator runs it)
    done = subprocess.run(
        sekisho_cmd("log", "checkpoint"),
        env={**env_for(enrolled.home), "SEKISHO_PASSPHRASE": PASSPHRASE.decode()},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # the counter hands the resident a one-time code (`sekisho portal code`)
    store = PortalStore.open(enrolled.home, MUNI)
    try:
        code = store.issue_code(enrolled.handle, by="clerk-1")
    finally:
        store.close()

    url = next(p["url"] for p in enrolled.running.run_file()["parties"] if p["party"] == MUNI)
    pin = _spki_pin(url, enrolled.home.root)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={pin}"]
        )
        try:
            page = browser.new_page(locale="ja-JP")
            page.goto(f"{url}/portal/resident/login")
            assert page.url.startswith("https://")
            page.get_by_label("ワンタイムコード").fill(code)
            page.get_by_role("button", name="ログイン").click()
            assert page.get_by_role("heading", name="わたしの住民票").is_visible()
            rows = page.locator("table.accesses tbody tr", has_text="identity-confirmation")
            assert rows.count() >= 1
            text = rows.first.inner_text()
            assert "pension" in text and "pension.benefit" in text and "✓" in text
            assert "検証済み" in page.locator(".verified-note").inner_text()
            cookie = next(c for c in page.context.cookies() if c["name"] == "sekisho_portal")
            assert cookie["secure"] and cookie["httpOnly"]
        finally:
            browser.close()
