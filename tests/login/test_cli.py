"""`sekisho login`: issuer set-up, enrolment from the register, both sides of a login, revocation."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from typer.testing import CliRunner

from sekisho import problems
from sekisho.cli import app
from sekisho.config import Home
from sekisho.node.guarding import PUBLIC
from sekisho.node.login import router as login_router

GIFU = "212016"
ADD = [
    "registry", "add", "-m", GIFU,
    "--family-name", "髙橋", "--given-name", "健一", "--family-kana", "ﾀｶﾊｼ", "--given-kana", "けんいち",
    "--birth-date", "S50.4.1", "--sex", "男", "--town", "青柳町", "--block", "三丁目5-12",
    "--became-resident-on", "平成10年4月1日", "--json",
]  # fmt: skip


@contextlib.contextmanager
def _served(home: Home) -> Iterator[str]:
    """The PKI node's login router in a real HTTP server on loopback (uvicorn in a thread), as a relying party
    reaches it; the TLS and guard around it are the node's (tests/node)."""
    app = FastAPI()
    problems.install(app)
    app.include_router(login_router(home))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_the_login_document_is_public_on_the_pki_node() -> None:
    assert any(p.matches("GET", "/login/issuers/21") for p in PUBLIC["pki"])
    assert not any(p.matches("POST", "/login/issuers/21") for p in PUBLIC["pki"])


@pytest.fixture
def cli(home: Home) -> Any:
    runner = CliRunner()
    env = {"SEKISHO_HOME": str(home.root), "SEKISHO_CLERK": "clerk-9"}
    if home.db_url:
        env |= {"SEKISHO_DB": home.db_url, "SEKISHO_DB_NAMESPACE": home.namespace}

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, (result.output, result.stderr if result.stderr_bytes else "")
        return result

    return run


def test_login_end_to_end(cli: Any, home: Home, tmp_path: Path) -> None:
    cli("registry", "init", "-m", GIFU)
    handle = json.loads(cli(*ADD).stdout)["handle"]
    # no issuer yet: one line, exit 2
    cli("login", "enrol", "-m", GIFU, "--handle", handle, "-w", str(tmp_path / "w.json"), code=2)
    public = Path(cli("login", "issuer-init", "-p", "21", "--capacity", "8").stdout.strip())
    wallet = tmp_path / "w.json"
    cli("login", "enrol", "-m", GIFU, "--handle", handle, "-w", str(wallet))
    assert wallet.stat().st_mode & 0o077 == 0
    assert cli("login", "sweep", "-p", "21").stdout.strip() == "expired 0"  # the day's list; nothing has expired

    def log_in(rp: str, code: int = 0) -> Any:
        ch, resp = tmp_path / f"{rp}.ch.json", tmp_path / f"{rp}.resp.json"
        cli("login", "challenge", "--rp", rp, "-o", str(ch))
        cli("login", "answer", "-w", str(wallet), "--challenge", str(ch), "-o", str(resp))
        result = cli(
            "login", "check", "--challenge", str(ch), "--response", str(resp), "--issuer", str(public), code=code
        )
        return json.loads(result.stdout) if code == 0 else result

    a1, b1, a2 = log_in("bank.example"), log_in("shop.example"), log_in("bank.example")
    # the relying party fetching the prefecture's document from the PKI node over HTTP gets the same login
    with _served(home) as base:
        ch, resp = tmp_path / "http.ch.json", tmp_path / "http.resp.json"
        cli("login", "challenge", "--rp", "bank.example", "-o", str(ch))
        cli("login", "answer", "-w", str(wallet), "--challenge", str(ch), "-o", str(resp))
        check = ["login", "check", "--challenge", str(ch), "--response", str(resp)]
        over_http = json.loads(cli(*check, "--issuer", f"{base}/login/issuers/21").stdout)
        assert over_http == a1
        cli(*check, "--issuer", f"{base}/login/issuers/13", code=2)  # 東京都 publishes none here: one line
    assert a1 == a2 and a1["disclosed"] == {}
    assert a1["pseudonym"] != b1["pseudonym"]
    assert handle not in json.dumps(a1) + json.dumps(b1)
    cli("login", "revoke", "-m", GIFU, "--handle", handle)
    ch, resp = tmp_path / "late.ch.json", tmp_path / "late.resp.json"
    cli("login", "challenge", "--rp", "bank.example", "-o", str(ch))
    # the card cannot make a validity proof any more (or the RP refuses it): exit 3 either way
    answered = CliRunner().invoke(app, ["login", "answer", "-w", str(wallet), "--challenge", str(ch), "-o", str(resp)])
    if answered.exit_code == 0:
        cli("login", "check", "--challenge", str(ch), "--response", str(resp), "--issuer", str(public), code=3)
    else:
        assert answered.exit_code == 3
