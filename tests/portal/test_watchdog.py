"""The watchdog's dashboard without a browser: alerts acknowledged, a PIA rejected with a reason, every form with
its CSRF token."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from sekisho.config import Home
from sekisho.policy import anomaly
from sekisho.policy.pia import load_pia
from sekisho.policy.service import Watchdog
from sekisho.portal.accounts import PortalStore
from sekisho.portal.watchdog import portal_app

from .conftest import PASSPHRASE, PASSWORD, PIAS

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "sekisho" / "portal" / "templates"


def token(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m is not None
    return m.group(1)


def test_an_officer_acknowledges_an_alert_and_rejects_a_pia(home: Home) -> None:
    watchdog = Watchdog.open(home, passphrase=PASSPHRASE.encode(), create=True)
    now = datetime.now(UTC).replace(microsecond=0)
    alert = watchdog.record_alert(
        anomaly.Alert(
            "auth-bad-signature", "high", "terminal", "agency/tax/desk-9", now - timedelta(hours=1), now, 900, 100
        )
    )
    watchdog.submit_pia(load_pia(PIAS / "pension.yaml"), by="agency-officer")
    PortalStore(watchdog.engine).add_user("officer-1", PASSWORD, kind="watchdog")
    app = FastAPI()
    app.mount("/portal", portal_app(home, watchdog))
    c = TestClient(app, base_url="https://testserver")
    form = {"csrf": token(c.get("/portal/login").text), "login": "officer-1", "password": PASSWORD}
    page = c.post("/portal/login", data=form)
    assert "agency/tax/desk-9" in page.text and "pension-kyufu-2026" in page.text
    csrf = token(page.text)

    c.post("/portal/decide", data={"csrf": csrf, "what": "alert", "id": alert["alert_id"], "verdict": "ack"})
    assert watchdog.alerts()[0]["status"] == "acknowledged"
    c.post(
        "/portal/decide",
        data={
            "csrf": csrf,
            "what": "pia",
            "id": "pension-kyufu-2026",
            "verdict": "reject",
            "reason": "disproportionate",
        },
    )
    assert watchdog.pia("pension-kyufu-2026")["status"] == "rejected"
    # without the token nothing is decided
    refused = c.post("/portal/decide", data={"what": "alert", "id": alert["alert_id"], "verdict": "ack"})
    assert refused.status_code == 403
    watchdog.engine.dispose()


def test_every_post_form_carries_the_csrf_token() -> None:
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for form in re.findall(r"<form[^>]*>.*?</form>", text, flags=re.S):
            assert 'name="csrf"' in form, (template, form[:80])
