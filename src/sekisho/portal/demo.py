"""The portal's part of ``sekisho demo``: accounts for a clerk of 岐阜市 and a watchdog officer, a one-time code for
the resident whose access list the demo showed, and that resident's login to the portal over real HTTP (the
municipality's portal served by uvicorn on a loopback port for the moment), which lists every access to their
data, each verified against the witnessed log.  The accounts stay in the demo's home for `sekisho up`."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time

import httpx
import uvicorn
from fastapi import FastAPI
from rich.console import Console

from sekisho.config import Home
from sekisho.errors import Conflict, Unavailable
from sekisho.portal.accounts import PortalStore
from sekisho.portal.municipality import portal_app
from sekisho.portal.web import LOGIN_COOKIE, PREFIX, SESSION_COOKIE

#: the demo's throw-away portal password (its home is rebuilt by every run)
DEMO_PORTAL_PASSWORD = "sekisho-demo-counter"  # noqa: S105 (printed by the demo; its home is thrown away)
#: an upper bound for uvicorn to bind on a loaded machine, not an expected duration
_START_WAIT = 30.0


def _account(store: PortalStore, login: str, **kw: str) -> None:
    with contextlib.suppress(Conflict):  # a rerun on the same home keeps the accounts
        store.add_user(login, DEMO_PORTAL_PASSWORD, **kw)  # type: ignore[arg-type]


def run_portal(home: Home, code: str, handle: str, out: Console) -> int:
    """Returns the number of verified accesses the resident's page listed."""
    store = PortalStore.open(home, f"municipality/{code}")
    watchdog_store = PortalStore.open(home, "watchdog")
    try:
        _account(store, "demo-clerk", kind="clerk", terminal="counter-1")
        _account(watchdog_store, "demo-officer", kind="watchdog")
        one_time = store.issue_code(handle, by="demo-clerk")
    finally:
        store.close()
        watchdog_store.close()
    out.print(f"  accounts: clerk demo-clerk (岐阜市), officer demo-officer; password {DEMO_PORTAL_PASSWORD!r}")
    out.print(f"  the counter hands resident {handle} a one-time code: {one_time}")

    portal = portal_app(home, code)
    app = FastAPI()
    app.mount(PREFIX, portal)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _START_WAIT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise Unavailable("the demo's portal did not start", field="portal")
            time.sleep(0.05)
        base = f"http://localhost:{port}{PREFIX}"
        # the portal's cookies are Secure: a browser keeps them on loopback over plain HTTP, httpx's jar does not,
        # so this client hands them back itself
        with httpx.Client(base_url=base, timeout=60.0) as client:
            login = client.get("/resident/login")
            token = re.search(r'name="csrf" value="([^"]+)"', login.text)
            if token is None:
                raise Unavailable("the portal's login page has no form", field="portal")
            sent = client.post(
                "/resident/login",
                data={"csrf": token.group(1), "code": one_time},
                headers={"cookie": f"{LOGIN_COOKIE}={login.cookies.get(LOGIN_COOKIE)}"},
            )
            page = client.get("/resident", headers={"cookie": f"{SESSION_COOKIE}={sent.cookies.get(SESSION_COOKIE)}"})
            page.raise_for_status()
        verified = len(re.findall(r"<tr data-index=", page.text))
    finally:
        server.should_exit = True
        thread.join(timeout=_START_WAIT)
        portal.state.close()
    out.print(
        f"  the resident logs in at {base}/resident with the code: {verified} accesses listed, each inclusion "
        "proof and commitment checked against the witnessed checkpoint before the page is built"
    )
    out.print(
        "  to browse: `sekisho demo --keep` keeps the parties serving; then /portal/clerk on 岐阜市's node and "
        "/portal/login on the watchdog's, at the addresses its table lists (docs/portal.md)"
    )
    return verified
