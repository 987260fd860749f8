"""The watchdog's dashboard, served by the watchdog's own node: the PIA and warrant queues with approve and
reject, the log's status as the watchdog's witness last cosigned it, anomaly alerts, and charts of the decisions
per agency and purpose over time and of conversions under warrants (SVG drawn here, no script).

An officer sees no personal data: the watchdog's database holds none (decisions name agencies, purposes, items and
terminals; a decision's subject reference is never shown).  Every approval and rejection is the same procedure
as `sekisho pia approve` / `sekisho warrant approve`, signed with the watchdog's key, recorded under the
officer's login.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from sekisho.config import Home
from sekisho.errors import SekishoError
from sekisho.policy.service import Watchdog
from sekisho.portal import i18n, web
from sekisho.portal.accounts import PortalStore

#: reasons an officer may give for a rejection (the watchdog's reason codes)
REJECT_REASONS = ("insufficient-justification", "disproportionate", "not-necessary")


class LogStatus(Protocol):
    """What the dashboard shows of the public log (the watchdog's witness, from the composition root)."""

    def __call__(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    y: int
    width: int


def bars(counts: Sequence[tuple[str, int]], *, width: int = 360) -> list[Bar]:
    top = max((v for _, v in counts), default=0) or 1
    return [Bar(label, v, 24 * i, max(1, round(width * v / top))) for i, (label, v) in enumerate(counts)]


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def portal_app(
    home: Home,
    watchdog: Watchdog,
    *,
    log_status: LogStatus | None = None,
    store: PortalStore | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FastAPI:
    """The watchdog's portal (mount it at ``/portal`` on the watchdog's app)."""
    lock = threading.Lock()
    stores: list[PortalStore] = [store] if store is not None else []

    def the_store() -> PortalStore:
        with lock:
            if not stores:
                stores.append(PortalStore(watchdog.engine))
            return stores[0]

    portal = web.Portal(the_store)
    app = web.new_app(portal, title="Sekisho portal — watchdog")
    place: dict[str, Any] = {"municipality": None, "watchdog": True}

    @app.get("/")
    def landing() -> Response:
        return RedirectResponse(f"{web.PREFIX}/login", status_code=303)

    @app.get("/login")
    def login_page(request: Request, over: int = 0) -> Response:
        return web.login_form(request, "login.html", action="login", kind="watchdog", over=bool(over), **place)

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await web.form_of(request, session=None)
        try:
            user = portal.store.authenticate(form.get("login", ""), form.get("password", ""), kind="watchdog")
        except SekishoError as exc:
            status = 429 if exc.kind == "too-many-requests" else 401
            return web.login_form(
                request, "login.html", action="login", kind="watchdog", status_code=status,
                errors=i18n.error_items(exc, web.lang_of(request)), values={"login": form.get("login", "")}, **place,
            )  # fmt: skip
        s = portal.store.start_session("watchdog", user.login)
        response = RedirectResponse(f"{web.PREFIX}/dashboard", status_code=303)
        web.set_session_cookie(response, request, s)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        s = portal.store.session(request.cookies.get(web.SESSION_COOKIE))
        await web.form_of(request, session=s)
        if s is not None:
            portal.store.end_session(s.id)
        response = web.login_form(request, "login.html", action="login", kind="watchdog", notice="logged_out", **place)
        web.clear_session_cookie(response, request)
        return response

    def dashboard_page(request: Request, s: Any, **extra: Any) -> Response:
        pias = watchdog.pias()
        warrants = watchdog.warrants()
        for w in warrants:
            if w["status"] in ("approved", "revoked"):
                w["used"] = watchdog.warrant(w["id"]).get("used_here", 0)
        now = clock()
        decisions = watchdog.decisions(since=now - timedelta(days=30), limit=5000)
        per_agency = Counter(f"{d['requester']} · {d['purpose']}" for d in decisions)
        per_day = Counter(_aware(datetime.fromisoformat(d["at"])).date().isoformat() for d in decisions)
        days = [(now - timedelta(days=n)).date().isoformat() for n in range(13, -1, -1)]
        conversions = [(w["id"][:8] + " " + w["requester"], int(w.get("used", 0))) for w in warrants if "used" in w]
        return web.render(
            request, "watchdog/dashboard.html", session=s,
            pias=pias, warrants=warrants, alerts=watchdog.alerts(limit=50),
            log=log_status() if log_status is not None else [],
            agency_bars=bars(per_agency.most_common(12)),
            day_bars=[(d[5:], per_day.get(d, 0)) for d in days],
            day_top=max(per_day.values(), default=0) or 1,
            warrant_bars=bars(conversions), reasons=REJECT_REASONS, **place, **extra,
        )  # fmt: skip

    @app.get("/dashboard")
    def dashboard(request: Request) -> Response:
        s = portal.session(request, "watchdog")
        if s is None:
            return web.to_login("/login", over=web.SESSION_COOKIE in request.cookies)
        return dashboard_page(request, s)

    @app.post("/decide")
    async def decide(request: Request) -> Response:
        """Approve or reject a PIA or a warrant, or acknowledge an alert; then the dashboard again."""
        s = portal.session(request, "watchdog")
        if s is None:
            return web.to_login("/login", over=True)
        form = await web.form_of(request, session=s)
        what, ident, verdict = form.get("what", ""), form.get("id", ""), form.get("verdict", "")
        reasons = [r for r in (form.get("reason", ""),) if r]
        try:
            if what == "pia" and verdict == "approve":
                watchdog.approve_pia(ident, by=s.subject)
            elif what == "pia" and verdict == "reject":
                watchdog.reject_pia(ident, by=s.subject, reasons=reasons)
            elif what == "warrant" and verdict == "approve":
                watchdog.approve_warrant(ident, by=s.subject)
            elif what == "warrant" and verdict == "reject":
                watchdog.reject_warrant(ident, by=s.subject, reasons=reasons)
            elif what == "alert":
                watchdog.set_alert_status(ident, "acknowledged", by=s.subject)
            else:
                from sekisho.errors import InvalidInput

                raise InvalidInput("is not a decision this dashboard takes", field="verdict")
        except SekishoError as exc:
            return dashboard_page(request, s, errors=i18n.error_items(exc, web.lang_of(request)))
        return RedirectResponse(f"{web.PREFIX}/dashboard", status_code=303)

    return app


class _Witness(Protocol):
    logs: Any

    def last_cosigned(self, origin: str) -> Any: ...

    def alerts(self, *, limit: int = 100) -> Sequence[Any]: ...


def witness_status(witness: _Witness) -> LogStatus:
    """The log's status as the watchdog's witness knows it: the last checkpoint it cosigned for each log it
    follows (it cosigns only after checking consistency with the one before), and whether it ever saw the log
    fork or roll back (its alerts)."""

    def status() -> list[dict[str, Any]]:
        alerts = witness.alerts(limit=100)
        out = []
        for origin in sorted(witness.logs):
            cp = witness.last_cosigned(origin)
            out.append(
                {
                    "origin": origin,
                    "size": cp.size if cp is not None else 0,
                    "cosigned": cp is not None,
                    "consistent": cp is not None and not any(a.origin == origin for a in alerts),
                }
            )
        return out

    return status
