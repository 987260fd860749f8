"""A small network for the portal's tests: the access log and the watchdog's witness, two registers (岐阜市 and
千代田区) with a resident each — the one in 千代田区 under a DV support measure — clerks of each added with the
`sekisho portal` commands, a watchdog officer, the tax agency's approved PIA and a warrant it requested.

The parties' apps (the same ``create_app`` that ``sekisho serve`` runs) are served by uvicorn on loopback ports,
and Debian's Chromium drives the pages through Playwright.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from homes import drop_namespace, new_namespace
from sekisho.config import Home
from sekisho.node.registers import create_register

from .chromium import CHROMIUM, CHROMIUM_ARGS

PG_URL = os.environ.get("SEKISHO_TEST_DB") or None
PASSPHRASE = "portal-test-passphrase"
PASSWORD = "counter-password-2026"
GIFU, CHIYODA = "212016", "131016"
SHOTS = Path(os.environ.get("SEKISHO_PORTAL_SHOTS", "build/portal-screenshots"))
PIAS = Path(__file__).resolve().parents[2] / "src" / "sekisho" / "policy" / "data" / "pias"

ROW = {
    "relationship": "世帯主",
    "family_name": "髙橋",
    "given_name": "健一",
    "family_name_kana": "タカハシ",
    "given_name_kana": "ケンイチ",
    "birth_date": "昭和50年4月1日",
    "sex": "男",
    "nationality": "日本",
    "town": "青柳町",
    "block": "3丁目5番12号",
    "became_resident_on": "平成10年4月1日",
    "address_set_on": "平成10年4月1日",
}
PROTECTED_ROW = ROW | {
    "family_name": "佐藤",
    "given_name": "花子",
    "family_name_kana": "サトウ",
    "given_name_kana": "ハナコ",
    "sex": "女",
    "town": "飯田橋",
    "block": "2丁目3番4号",
}


def cli(home: Home, *args: str) -> str:
    from sekisho.cli import app

    env = {"SEKISHO_PASSPHRASE": PASSPHRASE, "SEKISHO_PORTAL_PASSWORD": PASSWORD}
    if home.db_url:
        env |= {"SEKISHO_DB": home.db_url}
    if home.namespace:
        env |= {"SEKISHO_DB_NAMESPACE": home.namespace}
    r = CliRunner().invoke(app, [*args, "--home", str(home.root)], env=env)
    assert r.exit_code == 0, r.output
    return r.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One party's app on a loopback port, served by uvicorn in a thread of this process."""

    def __init__(self, app: object, port: int | None = None) -> None:
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        # "localhost": a secure context for the browser, so that it keeps the portal's Secure cookies over HTTP
        return f"http://localhost:{self.port}/portal"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass
class Net:
    home: Home
    gifu: Server
    chiyoda: Server
    watchdog: Server
    resident: str
    protected: str
    warrant: str
    card: Path


@pytest.fixture(scope="package")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    from sekisho.auditlog.client import close_access_logs
    from sekisho.auditlog.service import init_parties
    from sekisho.node.apps import create_app
    from sekisho.node.roles import Role
    from sekisho.policy.service import Watchdog
    from sekisho.registry.service import Actor

    namespace = new_namespace()
    home = Home(root=tmp_path_factory.mktemp("portal") / "home", db_url=PG_URL, namespace=namespace)
    home.root.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("SEKISHO_PASSPHRASE", PASSPHRASE)
    init_parties(home, PASSPHRASE.encode())
    handles = {}
    for code, row in ((GIFU, ROW), (CHIYODA, PROTECTED_ROW)):
        register = create_register(home, code, actor=Actor(clerk="setup"))
        handles[code] = register.add(row).handle
        register.engine.dispose()
    cli(home, "protection", "add", "-m", CHIYODA, "--handle", handles[CHIYODA], "--kind", "dv", "--by", "officer-1")
    cli(home, "portal", "add-clerk", "clerk-gifu", "-m", GIFU, "--terminal", "counter-1")
    cli(home, "portal", "add-clerk", "clerk-chiyoda", "-m", CHIYODA, "--terminal", "counter-2")
    cli(home, "portal", "add-watchdog-user", "officer-1")
    cli(home, "agency", "register", "--pia", str(PIAS / "tax.yaml"))
    cli(home, "pia", "approve", "tax-kazei-2026", "--by", "officer-0")
    watchdog = Watchdog.open(home, passphrase=PASSPHRASE.encode())
    warrant = watchdog.request_warrant(
        requester="tax",
        target="pension",
        purpose="tax.criminal-investigation",
        legal_basis="tax.criminal-investigation",
        case_reference="case/2026-0042",
        persons=5,
        not_after=datetime.now(UTC) + timedelta(days=30),
        by="tax-officer",
    )
    watchdog.engine.dispose()
    # 岐阜市 issues wallet credentials: the PKI's CAs certify its issuer key, which names the node's address
    from sekisho.pki import hierarchy as pki_hierarchy

    pki_hierarchy.init(home).engine.dispose()
    for code in (GIFU, CHIYODA):  # each signs its residents' certificates of residence
        cli(home, "certificate", "init", "-m", code)
    # 岐阜県's card login issuer, and a card for 岐阜市's resident (its login secret and validity credential)
    card = home.root / "card.json"
    cli(home, "login", "issuer-init", "-p", GIFU[:2], "--capacity", "8")
    cli(home, "login", "enrol", "-m", GIFU, "--handle", handles[GIFU], "-w", str(card))
    gifu_port = free_port()
    cli(home, "credentials", "init", "-m", GIFU, "--base-url", f"http://localhost:{gifu_port}")
    servers = [
        Server(create_app(Role("municipality", GIFU), home), port=gifu_port),
        Server(create_app(Role("municipality", CHIYODA), home)),
        Server(create_app(Role("watchdog", None), home)),
    ]
    try:
        yield Net(home, *servers, resident=handles[GIFU], protected=handles[CHIYODA], warrant=warrant, card=card)
    finally:
        for s in servers:
            s.stop()
        close_access_logs()
        mp.undo()
        drop_namespace(namespace)


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(locale="ja-JP", viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
    p = context.new_page()
    yield p
    context.close()


def shot(page: object, name: str) -> None:
    """A screenshot of the page as it is (the best are copied to docs/img by hand)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
