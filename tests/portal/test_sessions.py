"""Sessions, logins and the portal's security headers, through the municipality's real app (no browser)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sekisho.config import Home
from sekisho.node.registers import create_register
from sekisho.portal import store as st
from sekisho.portal.accounts import IDLE, MAX_ATTEMPTS, PortalStore, utcnow
from sekisho.portal.municipality import portal_app
from sekisho.registry.service import Actor

from .conftest import GIFU, PASSWORD, ROW

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "sekisho" / "portal" / "templates"


@pytest.fixture
def portal(home: Home) -> tuple[Home, str]:
    register = create_register(home, GIFU, actor=Actor(clerk="setup"))
    handle = register.add(ROW).handle
    register.engine.dispose()
    store = PortalStore.open(home, f"municipality/{GIFU}")
    store.add_user("clerk-1", PASSWORD, kind="clerk", terminal="counter-1")
    store.close()
    return home, handle


def client(home: Home) -> TestClient:
    app = FastAPI()
    app.mount("/portal", portal_app(home, GIFU))
    return TestClient(app, base_url="https://testserver")


def token(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m is not None
    return m.group(1)


def log_in(c: TestClient, password: str = PASSWORD) -> int:
    form = {"csrf": token(c.get("/portal/clerk/login").text), "login": "clerk-1", "password": password}
    return c.post("/portal/clerk/login", data=form, follow_redirects=False).status_code


def test_a_session_lives_in_the_database_and_survives_a_restart(portal: tuple[Home, str]) -> None:
    home, _ = portal
    first = client(home)
    assert log_in(first) == 303
    cookie = first.cookies.get("sekisho_portal")
    assert cookie is not None
    # a new app (a restarted node, another worker) knows the session
    second = client(home)
    sent = {"cookie": f"sekisho_portal={cookie}"}
    assert second.get("/portal/clerk", headers=sent, follow_redirects=False).status_code == 200
    # the database holds its hash, never the cookie's value
    engine = sa.create_engine(home.party_db_url(f"municipality/{GIFU}")) if not home.db_url else None
    if engine is not None:
        with engine.connect() as conn:
            ids = conn.execute(sa.select(st.session.c.id_hash)).scalars().all()
        engine.dispose()
        assert cookie not in ids and len(ids) == 1


def test_the_session_cookie_is_httponly_secure_and_samesite(portal: tuple[Home, str]) -> None:
    home, _ = portal
    c = client(home)
    form = {"csrf": token(c.get("/portal/clerk/login").text), "login": "clerk-1", "password": PASSWORD}
    cookie = c.post("/portal/clerk/login", data=form, follow_redirects=False).headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie and "Path=/portal" in cookie


def test_logout_and_idle_time_end_the_session(portal: tuple[Home, str]) -> None:
    home, _ = portal
    c = client(home)
    log_in(c)
    page = c.get("/portal/clerk")
    assert c.post("/portal/logout", data={"csrf": token(page.text)}).status_code == 200
    assert c.get("/portal/clerk", follow_redirects=False).status_code == 303

    log_in(c)
    store = PortalStore.open(home, f"municipality/{GIFU}")
    try:
        with store.engine.begin() as conn:  # the clerk walked away from the counter
            conn.execute(st.session.update().values(last_seen=utcnow() - IDLE - timedelta(seconds=1)))
        response = c.get("/portal/clerk", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].endswith("?over=1")
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(st.session)).scalar_one() == 0
    finally:
        store.close()


def test_logins_are_rate_limited(portal: tuple[Home, str]) -> None:
    home, _ = portal
    c = client(home)
    for _ in range(MAX_ATTEMPTS):
        assert log_in(c, password="not the password at all") == 401
    # the right password is refused too, until the window has passed
    assert log_in(c) == 429


def test_a_one_time_code_opens_the_residents_own_page_once(portal: tuple[Home, str]) -> None:
    home, handle = portal
    store = PortalStore.open(home, f"municipality/{GIFU}")
    code = store.issue_code(handle, by="clerk-1")
    store.close()
    c = client(home)
    form = {"csrf": token(c.get("/portal/resident/login").text), "code": code}
    assert c.post("/portal/resident/login", data=form, follow_redirects=False).status_code == 303
    # a resident's session does not open the clerk console
    assert c.get("/portal/clerk", follow_redirects=False).status_code == 303
    c.cookies.clear()
    form = {"csrf": token(c.get("/portal/resident/login").text), "code": code}
    assert c.post("/portal/resident/login", data=form).status_code == 401


def test_every_page_has_the_strict_policy_and_no_inline_script(portal: tuple[Home, str]) -> None:
    home, _ = portal
    c = client(home)
    for path in ("/portal/", "/portal/clerk/login", "/portal/resident/login"):
        r = c.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template  # every script is a file
        assert " style=" not in text and "<style" not in text, template
        assert not re.search(r"\son[a-z]+=", text), template  # no inline event handlers


def test_no_personal_data_reaches_a_url(portal: tuple[Home, str]) -> None:
    """Every form that carries a name, a handle or a search is POSTed: the server's access log sees paths only."""
    for template in TEMPLATES.rglob("*.html"):
        for form in re.findall(r"<form[^>]*>", template.read_text()):
            assert 'method="post"' in form, (template, form)
    home, _ = portal
    c = client(home)
    log_in(c)
    assert c.get("/portal/clerk/search", params={"q": "高橋"}).status_code == 405


def test_a_card_binds_to_one_resident_and_a_challenge_answers_once(portal: tuple[Home, str]) -> None:
    from sekisho.errors import Conflict, TooManyRequests, Unauthenticated

    home, handle = portal
    store = PortalStore.open(home, f"municipality/{GIFU}")
    try:
        store.bind_card("nym-old", handle, by="clerk-1")
        store.bind_card("nym-new", handle, by="clerk-1")  # a new card replaces the old one
        assert store.card_holder("nym-new") == handle
        with pytest.raises(Unauthenticated):
            store.card_holder("nym-old")
        with pytest.raises(Conflict):  # a card bound to one resident is not bound to another
            store.bind_card("nym-new", "7KQ2-X9MB-T3Y", by="clerk-1")
        with store.engine.connect() as conn:  # the pseudonym is kept as its digest only
            assert conn.execute(sa.select(st.card.c.pseudonym_hash)).scalars().all() != ["nym-new"]
        store.keep_challenge('{"c":1}', purpose="login")
        with pytest.raises(Unauthenticated):  # a login challenge does not enrol
            store.take_challenge('{"c":1}', purpose="enrol:clerk-1")
        store.take_challenge('{"c":1}', purpose="login")
        with pytest.raises(Unauthenticated):  # once only
            store.take_challenge('{"c":1}', purpose="login")
        for _ in range(MAX_ATTEMPTS * 4 - 1):  # one unknown card counted above; the rest of the card budget
            with pytest.raises(Unauthenticated):
                store.card_holder("nym-unknown")
        with pytest.raises(TooManyRequests):
            store.card_holder("nym-new")
    finally:
        store.close()
