"""What every portal page shares: templates, the security headers, sessions in cookies, CSRF and origin checks.

* **Sessions**: an HttpOnly, SameSite=Strict, Secure cookie scoped to ``/portal`` holding a random id; the
  session itself is a row of the party's database (:mod:`sekisho.portal.accounts`), so that it survives a
  restart and ends on logout or after :data:`~sekisho.portal.accounts.IDLE` of inactivity.
* **CSRF**: every form carries a token; a POST without the session's token (or, before login, without the
  token of the login form's own cookie) is refused, as is a POST whose ``Origin`` (or ``Sec-Fetch-Site``) says
  it comes from another site.
* **Content-Security-Policy**: ``default-src 'none'``, scripts, styles and images from the portal itself only,
  no inline script or style, no framing.  Every script, style and font a page uses is shipped in ``static/``.
* **No personal data in URLs**: a search or a record is asked for by POST; URLs name pages, never people, so the
  server's access log holds none.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.middleware.base import BaseHTTPMiddleware

from sekisho.errors import SekishoError
from sekisho.portal import i18n
from sekisho.portal.accounts import Kind, PortalStore, Session

PREFIX = "/portal"
SESSION_COOKIE = "sekisho_portal"
LOGIN_COOKIE = "sekisho_portal_login"
LANG_COOKIE = "sekisho_portal_lang"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # not no-referrer: with it Chromium sends "Origin: null" on the portal's own forms, which the origin check
    # must refuse; the portal's URLs name pages, never people, so its own origin may see them
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cache-Control": "no-store",
}

_env = Environment(
    loader=PackageLoader("sekisho.portal", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if request.url.path.startswith(f"{PREFIX}/static/"):
            # shipped files may be cached; pages never are
            response.headers["Cache-Control"] = "public, max-age=3600"
        return response


def lang_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "ja")
    return lang if lang in i18n.LANGS else "ja"


def render(
    request: Request,
    template: str,
    *,
    session: Session | None = None,
    status_code: int = 200,
    csrf: str | None = None,
    **context: Any,
) -> HTMLResponse:
    lang = lang_of(request)
    t = i18n.translator(lang)
    html = _env.get_template(template).render(
        t=t,
        lang=lang,
        prefix=PREFIX,
        session=session,
        csrf=csrf if csrf is not None else (session.csrf if session else ""),
        here=request.url.path,
        field_label=lambda f: i18n.field_label(f, lang),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def _secure(request: Request) -> bool:
    # always Secure in a deployment (HTTPS); a browser on loopback accepts Secure cookies over plain HTTP too
    return True


def set_session_cookie(response: Response, request: Request, session: Session) -> None:
    response.set_cookie(
        SESSION_COOKIE, session.id, httponly=True, secure=_secure(request), samesite="strict", path=PREFIX
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, secure=_secure(request), samesite="strict")


def login_form(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A login page with a fresh CSRF token, bound to a cookie of its own (there is no session yet)."""
    token = secrets.token_urlsafe(32)
    response = render(request, template, csrf=token, status_code=status_code, **context)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, secure=_secure(request), samesite="strict", path=PREFIX)
    return response


class CsrfRefused(SekishoError):
    """A POST without the right token, or from another origin."""

    kind = "forbidden"


def check_origin(request: Request) -> None:
    """Refuse a cross-site POST: the browser's ``Sec-Fetch-Site`` and ``Origin`` name where the form was."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise CsrfRefused("the form came from another site", field="csrf")
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        parts = urlsplit(origin)
        if origin == "null" or parts.netloc != host:
            raise CsrfRefused("the form came from another origin", field="csrf")


def check_token(expected: str | None, given: object) -> None:
    if not expected or not isinstance(given, str) or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CsrfRefused("the form has expired or did not come from this portal", field="csrf")


async def form_of(request: Request, *, session: Session | None) -> dict[str, str]:
    """The POSTed form, after the origin and CSRF checks (against the session, or the login form's cookie)."""
    check_origin(request)
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    expected = session.csrf if session is not None else request.cookies.get(LOGIN_COOKIE)
    check_token(expected, data.get("csrf"))
    data.pop("csrf", None)
    return data


class Portal:
    """One party's portal: its store (opened on first use: the party's node starts, and answers its health
    check, before the party is set up) and the sessions of its users."""

    def __init__(self, open_store: Callable[[], PortalStore]) -> None:
        self._open_store = open_store

    @property
    def store(self) -> PortalStore:
        return self._open_store()

    def session(self, request: Request, kind: Kind) -> Session | None:
        s = self.store.session(request.cookies.get(SESSION_COOKIE))
        return s if s is not None and s.kind == kind else None


def to_login(path: str, *, over: bool = False) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}{path}" + ("?over=1" if over else ""), status_code=303)


def new_app(portal: Portal, *, title: str) -> FastAPI:
    """The portal's ASGI app (mounted at :data:`PREFIX`): static files, the language switch, security headers,
    and errors as pages.  The party's routes are added by its module."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(packages=[("sekisho.portal", "static")]), name="static")

    @app.get("/lang/{to}")
    def switch_language(request: Request, to: str, back: str = "/") -> Response:
        # only a path of this portal: never an open redirect
        target = back if back.startswith(PREFIX + "/") and "//" not in back and "\\" not in back else f"{PREFIX}/"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(LANG_COOKIE, to if to in i18n.LANGS else "ja", samesite="strict", path=PREFIX)
        return response

    @app.exception_handler(CsrfRefused)
    async def refused(request: Request, exc: CsrfRefused) -> HTMLResponse:
        return render(request, "error.html", status_code=403, errors=i18n.error_items(exc, lang_of(request)))

    @app.exception_handler(SekishoError)
    async def failed(request: Request, exc: SekishoError) -> HTMLResponse:
        status = {"not-found": 404, "refused": 403, "forbidden": 403, "unavailable": 503}.get(exc.kind, 400)
        return render(request, "error.html", status_code=status, errors=i18n.error_items(exc, lang_of(request)))

    return app
