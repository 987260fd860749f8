"""A municipality's portal: the clerk console and the resident portal, served by the municipality's own node.

Every page reads and writes through :class:`~sekisho.registry.service.RegisterService` — the same procedures as
the CLI and the API, so every read leaves its access record before anything is shown, and every procedure is one
transaction.  A clerk's work is recorded under their login and terminal; a clerk logs in only at their own
municipality's portal (their account lives in its database), so a clerk never sees another municipality's
register.  A resident logs in with a one-time code a clerk handed over at the counter and sees their own record
and every access to their data, each entry's inclusion proof checked against the witnessed checkpoint of the
public log and its commitment matched with the resident's own key, here on the server before the page is built.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from sekisho.certificates.model import BASIC_ITEMS, OPTIONAL_ITEMS, REQUESTER_KINDS
from sekisho.certificates.model import Request as CertificateRequest
from sekisho.certificates.service import FORMS, Form, Issued, form_of
from sekisho.config import Home
from sekisho.errors import InvalidInput, NotFound, SekishoError, Unavailable
from sekisho.jp.catalogue import get_municipality
from sekisho.jp.clock import JST, japan_today
from sekisho.login import protocol as card_login
from sekisho.node.registers import open_register
from sekisho.policy.municipality import MunicipalityPolicy
from sekisho.portal import i18n, web
from sekisho.portal.accounts import PortalStore, Session
from sekisho.registry.service import Actor, RegisterService, access_list_json

RegisterOpener = Callable[[Actor], RegisterService]
#: a certificate of residence asked at this municipality's counter (or its resident portal) and issued by the
#: resident's home municipality — in-process, or over the network's mutual TLS (wired by ``sekisho.node``)
CertificateDesk = Callable[[CertificateRequest, Form], Issued]
#: the prefectures' published login data (``sekisho.credentials.anon.PublicIssuerData``) a card login is checked
#: against: public documents, the same for every relying party (docs/login.md)
LoginIssuers = Callable[[], Sequence[Any]]


def relying_party(code: str) -> str:
    """The resident portal's relying-party id in the card login: the card's pseudonym is for this portal only."""
    return f"municipality/{code}/portal"


def default_opener(home: Home, code: str) -> RegisterOpener:
    """Registers of ``code`` for one actor each, sharing one engine (opened on first use)."""
    lock = threading.Lock()
    base: list[RegisterService] = []

    def opener(actor: Actor) -> RegisterService:
        with lock:
            if not base:
                base.append(open_register(home, code, actor=Actor(clerk="portal")))
        # a shallow copy shares the engine and the network's clients; only the actor is this request's
        svc = copy.copy(base[0])
        svc.actor = actor
        return svc

    def close() -> None:
        for svc in base:
            svc.engine.dispose()

    opener.close = close  # type: ignore[attr-defined]
    return opener


# --- the procedures' forms --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    kind: str = "text"  # text | date | kana | sex | checkbox | handle
    required: bool = True
    default: str = ""


@dataclass(frozen=True)
class Procedure:
    name: str
    fields: tuple[Field, ...]
    run: Callable[[RegisterService, dict[str, str]], Any]
    #: shown on a resident's record page (the procedure acts on that resident)
    on_record: bool = True
    extra: dict[str, str] = field(default_factory=dict)


_NAME_FIELDS = (
    Field("family_name"),
    Field("given_name"),
    Field("family_name_kana", "kana"),
    Field("given_name_kana", "kana"),
    Field("birth_date", "date"),
    Field("sex", "sex"),
)


def _move_in(svc: RegisterService, f: dict[str, str]) -> Any:
    transfer = f.get("transfer", "").strip()
    where = {k: f.get(k, "") for k in ("town", "block", "katagaki", "relationship")}
    if transfer:
        return svc.move_in(where, moved_on=f.get("moved_on", ""), transfer=transfer).resident
    row = where | {k: f.get(k, "") for k in (*(x.name for x in _NAME_FIELDS), "nationality")}
    return svc.move_in(row, moved_on=f.get("moved_on", "")).resident


def _birth(svc: RegisterService, f: dict[str, str]) -> Any:
    row = {k: f.get(k, "") for k in (*(x.name for x in _NAME_FIELDS), "relationship", "nationality")}
    return svc.birth(row, household=f.get("household", ""))[0]


def _household_change(svc: RegisterService, f: dict[str, str]) -> Any:
    """世帯変更: the resident joins another household (its handle), or founds one (left empty)."""
    handle = f.get("handle", "")
    target = f.get("target_household", "").strip() or None
    changed = svc.household_change([(handle, target, f.get("relationship", ""))], changed_on=f.get("changed_on", ""))
    return next((r for r in changed if r.handle == handle.strip().upper()), changed[0])


def _correction(svc: RegisterService, f: dict[str, str]) -> Any:
    item = f.get("item", "")
    if item not in CORRECTABLE:
        raise InvalidInput("names an item that a correction cannot change", field="item")
    return svc.correct(f.get("handle", ""), {item: f.get("value", "")}, reason=f.get("reason", ""))


#: the kinds of support measure (支援措置) a clerk opens at the counter
MEASURE_KINDS = ("dv", "stalking", "child-abuse", "other")

#: the notice after a clerk's action on a measure
MEASURE_DONE = {"confirm": "measure_confirmed", "renew": "measure_renewed", "lift": "measure_lifted"}
#: why a support measure ends (``MunicipalityPolicy.lift_measure``)
LIFT_REASONS = ("requested-by-subject", "check-failed", "moved-away", "other")

CORRECTABLE = ("family_name", "given_name", "family_name_kana", "given_name_kana", "birth_date", "sex")

PROCEDURES: dict[str, Procedure] = {
    p.name: p
    for p in (
        Procedure(
            "move_in",
            (
                *_NAME_FIELDS,
                Field("nationality", default="日本"),
                Field("town"),
                Field("block"),
                Field("katagaki", required=False),
                Field("relationship", default="世帯主"),
                Field("moved_on", "date"),
                Field("transfer", required=False),
            ),
            _move_in,
            on_record=False,
        ),
        Procedure(
            "birth",
            (
                Field("household", "handle"),
                *_NAME_FIELDS,
                Field("relationship", default="子"),
                Field("nationality", default="日本"),
            ),
            _birth,
        ),
        Procedure(
            "death",
            (Field("handle", "handle"), Field("died_on", "date")),
            lambda svc, f: svc.death(f.get("handle", ""), died_on=f.get("died_on", ""))[0],
        ),
        Procedure(
            "move_within",
            (
                Field("handle", "handle"),
                Field("town"),
                Field("block"),
                Field("katagaki", required=False),
                Field("moved_on", "date"),
                Field("whole_household", "checkbox", required=False),
            ),
            lambda svc, f: svc.move_within(
                f.get("handle", ""),
                town=f.get("town", ""),
                block=f.get("block", ""),
                katagaki=f.get("katagaki", ""),
                moved_on=f.get("moved_on", ""),
                whole_household=f.get("whole_household") == "on",
            )[0][0],
        ),
        Procedure(
            "move_out",
            (Field("handle", "handle"), Field("destination"), Field("planned_on", "date")),
            lambda svc, f: svc.move_out(
                f.get("handle", ""), destination=f.get("destination", ""), planned_on=f.get("planned_on", "")
            ),
        ),
        Procedure(
            "furigana",
            (Field("handle", "handle"), Field("family_name_kana", "kana"), Field("given_name_kana", "kana")),
            lambda svc, f: svc.furigana(
                f.get("handle", ""), family_kana=f.get("family_name_kana", ""), given_kana=f.get("given_name_kana", "")
            ),
        ),
        Procedure(
            "household_change",
            (
                Field("handle", "handle"),
                Field("target_household", required=False),
                Field("relationship"),
                Field("changed_on", "date"),
            ),
            lambda svc, f: _household_change(svc, f),
        ),
        Procedure(
            "correction",
            (Field("handle", "handle"), Field("item", "item"), Field("value"), Field("reason")),
            _correction,
        ),
    )
}

_ACTOR_KINDS = {
    "clerk": ("市区町村の職員", "a municipal clerk"),
    "agency": ("行政機関", "an agency"),
    "municipality": ("市区町村", "a municipality"),
    "resident": ("ご本人", "you"),
    "transcryptor": ("変換機関", "a transcryptor"),
}


def _entry_row(index: int, e: Any, lang: str) -> dict[str, Any]:
    kind = _ACTOR_KINDS.get(e.actor_kind)
    return {
        "index": index,
        "at": e.at.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S"),
        "who": f"{kind[0 if lang == 'ja' else 1] if kind else e.actor_kind} {e.actor}",
        "terminal": e.terminal or "",
        "action": e.action,
        "purpose": e.purpose,
        "basis": " ".join(x for x in (e.legal_basis, f"warrant {e.warrant}" if e.warrant else None) if x),
        "items": ", ".join(e.items),
        "decision": e.decision,
    }


def _resident_view(r: Any) -> dict[str, str]:
    return {
        "handle": r.handle,
        "household": r.household,
        "name": r.display_name,
        "kana": r.display_kana,
        "birth_date": r.birth_date_display(),
        "sex": r.sex,
        "address": r.address.line(),
        "relationship": r.relationship,
        "status": r.status.value,
    }


def default_policy(home: Home, code: str) -> Callable[[], MunicipalityPolicy]:
    """The municipality's own policy tables (本人通知, opt-outs), opened on first use."""
    lock = threading.Lock()
    opened: list[MunicipalityPolicy] = []

    def policy() -> MunicipalityPolicy:
        with lock:
            if not opened:
                opened.append(MunicipalityPolicy.open(home, code))
            return opened[0]

    def close() -> None:
        for p in opened:
            p.engine.dispose()

    policy.close = close  # type: ignore[attr-defined]
    return policy


def portal_app(
    home: Home,
    code: str,
    *,
    opener: RegisterOpener | None = None,
    policy: Callable[[], MunicipalityPolicy] | None = None,
    credential_offer: Callable[[str], dict[str, Any]] | None = None,
    certificate: CertificateDesk | None = None,
    login_issuers: LoginIssuers | None = None,
    store: PortalStore | None = None,
) -> FastAPI:
    """The portal of municipality ``code`` (mount it at ``/portal`` on the municipality's app)."""
    municipality = get_municipality(code)
    registers = opener or default_opener(home, code)
    policies = policy or default_policy(home, code)
    lock = threading.Lock()
    stores: list[PortalStore] = [store] if store is not None else []

    def the_store() -> PortalStore:
        # opened on first use: the node starts (and answers health) before its register is set up
        with lock:
            if not stores:
                stores.append(PortalStore.open(home, f"municipality/{code}"))
            return stores[0]

    portal = web.Portal(the_store)
    app = web.new_app(portal, title=f"Sekisho portal {municipality.full_name}")

    def close() -> None:
        for s in stores:
            s.close()
        for part in (registers, policies):
            closer = getattr(part, "close", None)
            if closer is not None:
                closer()

    app.state.close = close
    place: dict[str, Any] = {"municipality": municipality.full_name}

    def clerk_register(s: Session) -> RegisterService:
        return registers(Actor(clerk=s.subject, terminal=s.terminal or None))

    @app.get("/")
    def landing(request: Request) -> Response:
        return web.render(request, "landing.html", **place)

    # --- the clerk console -----------------------------------------------------------------------------------

    @app.get("/clerk/login")
    def clerk_login_page(request: Request, over: int = 0) -> Response:
        return web.login_form(request, "login.html", action="clerk/login", kind="clerk", over=bool(over), **place)

    @app.post("/clerk/login")
    async def clerk_login(request: Request) -> Response:
        form = await web.form_of(request, session=None)
        try:
            user = portal.store.authenticate(form.get("login", ""), form.get("password", ""), kind="clerk")
        except SekishoError as exc:
            status = 429 if exc.kind == "too-many-requests" else 401
            errors = i18n.error_items(exc, web.lang_of(request))
            return web.login_form(
                request, "login.html", action="clerk/login", kind="clerk", errors=errors, status_code=status,
                values={"login": form.get("login", "")}, **place,
            )  # fmt: skip
        s = portal.store.start_session("clerk", user.login)
        response = RedirectResponse(f"{web.PREFIX}/clerk", status_code=303)
        web.set_session_cookie(response, request, s)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        sid = request.cookies.get(web.SESSION_COOKIE)
        s = portal.store.session(sid)
        await web.form_of(request, session=s)
        if s is not None:
            portal.store.end_session(s.id)
        response = web.render(request, "landing.html", notice="logged_out", **place)
        web.clear_session_cookie(response, request)
        return response

    @app.get("/clerk")
    def console(request: Request) -> Response:
        s = portal.session(request, "clerk")
        if s is None:
            return web.to_login("/clerk/login", over=web.SESSION_COOKIE in request.cookies)
        return web.render(request, "clerk/console.html", session=s, procedures=PROCEDURES, **place)

    @app.post("/clerk/search")
    async def search(request: Request) -> Response:
        s = portal.session(request, "clerk")
        if s is None:
            return web.to_login("/clerk/login", over=True)
        form = await web.form_of(request, session=s)
        query = form.get("q", "")
        try:
            hits = clerk_register(s).search(query, limit=50)
        except SekishoError as exc:
            return web.render(
                request, "clerk/console.html", session=s, procedures=PROCEDURES, q=query, status_code=422,
                errors=i18n.error_items(exc, web.lang_of(request)), **place,
            )  # fmt: skip
        return web.render(
            request, "clerk/console.html", session=s, procedures=PROCEDURES, q=query,
            hits=[_resident_view(r) for r in hits], searched=True, **place,
        )  # fmt: skip

    @app.post("/clerk/record")
    async def record(request: Request) -> Response:
        s = portal.session(request, "clerk")
        if s is None:
            return web.to_login("/clerk/login", over=True)
        form = await web.form_of(request, session=s)
        r = clerk_register(s).show(form.get("handle", ""))
        return record_page(request, s, r)

    def record_page(request: Request, s: Session, r: Any, *, status_code: int = 200, **extra: Any) -> Response:
        procs = {k: p for k, p in PROCEDURES.items() if p.on_record}
        measures = policies().measures(handle=r.handle)
        extra.setdefault("values", {})
        return web.render(
            request, "clerk/record.html", session=s, r=_resident_view(r), procedures=procs, measures=measures,
            measure_kinds=MEASURE_KINDS, lift_reasons=LIFT_REASONS, certificates=certificate is not None,
            cards=login_issuers is not None,
            status_code=status_code, **place, **extra,
        )  # fmt: skip

    def refused_on_record(request: Request, s: Session, r: Any, exc: SekishoError, values: dict[str, str]) -> Response:
        errors = i18n.error_items(exc, web.lang_of(request))
        # the record again, the problem named at the top and beside its field, what the clerk chose kept
        return record_page(
            request, s, r, errors=errors, bad={e[0] for e in errors}, values=values,
            status_code=409 if exc.kind == "conflict" else 422,
        )  # fmt: skip

    @app.post("/clerk/measure")
    async def open_measure(request: Request) -> Response:
        """支援措置: a DV, stalking or child-abuse support measure, in force at once (provisionally until it is
        confirmed); the register's other procedures and every release then honour it."""
        s = portal.session(request, "clerk")
        if s is None:
            return web.to_login("/clerk/login", over=True)
        form = await web.form_of(request, session=s)
        r = clerk_register(s).show(form.get("handle", ""), purpose="resident-protection")
        try:
            policies().add_measure(
                handle=r.handle,
                kind=form.get("kind", ""),
                by=s.subject,
                include_household=form.get("household") == "on",
            )
        except SekishoError as exc:
            return refused_on_record(request, s, r, exc, form)
        return record_page(request, s, r, notice="measure_opened")

    @app.post("/clerk/measure/{action}")
    async def change_measure(request: Request, action: str) -> Response:
        """Confirm a provisional measure (a year from today), renew an active one (from 30 days before its end)
        or lift one (with the reason) — `sekisho protection confirm|renew|lift` at the counter."""
        s = portal.session(request, "clerk")
        if s is None:
            return web.to_login("/clerk/login", over=True)
        if action not in MEASURE_DONE:
            raise NotFound("no such action on a support measure", field="action")
        form = await web.form_of(request, session=s)
        r = clerk_register(s).show(form.get("handle", ""), purpose="resident-protection")
        mp = policies()
        ref = form.get("measure", "")
        try:
            # only a measure that protects this resident: the record page is where a clerk acts on it
            if ref not in {m["ref"] for m in mp.measures(handle=r.handle)}:
                raise NotFound("no support measure with this reference", field="measure")
            if action == "confirm":
                mp.confirm_measure(ref, by=s.subject)
            elif action == "renew":
                mp.renew_measure(ref, by=s.subject)
            else:
                reason = form.get("lift_reason", "")
                if reason not in LIFT_REASONS:  # named as the form names it
                    raise InvalidInput(
                        "must be requested-by-subject, check-failed, moved-away or other", field="lift_reason"
                    )
                mp.lift_measure(ref, by=s.subject, reason=reason)
        except SekishoError as exc:
            return refused_on_record(request, s, r, exc, form)
        return record_page(request, s, r, notice=MEASURE_DONE[action])

    @app.post("/clerk/code")
    async def issue_code(request: Request) -> Response:
        s = portal.session(request, "clerk")
        if s is None:
            return web.to_login("/clerk/login", over=True)
        form = await web.form_of(request, session=s)
        r = clerk_register(s).show(form.get("handle", ""), purpose="resident.portal-code")
        code_text = portal.store.issue_code(r.handle, by=s.subject)
        return record_page(request, s, r, code=code_text)

    @app.get("/clerk/proc/{name}")
    def procedure_page(request: Request, name: str) -> Response:
        s = portal.session(request, "clerk")
        if s is None:
            return web.to_login("/clerk/login", over=True)
        p = _procedure(name)
        values = {f.name: f.default for f in p.fields}
        return web.render(request, "clerk/procedure.html", session=s, p=p, values=values, **place)

    @app.post("/clerk/proc/{name}")
    async def procedure(request: Request, name: str) -> Response:
        s = portal.session(request, "clerk")
        if s is None:
            return web.to_login("/clerk/login", over=True)
        p = _procedure(name)
        form = await web.form_of(request, session=s)
        values = {f.name: f.default for f in p.fields} | {k: v for k, v in form.items() if not k.startswith("_")}
        if form.get("_prefill"):  # opened from a record page: the form, with that resident's handle filled in
            return web.render(request, "clerk/procedure.html", session=s, p=p, values=values, **place)
        try:
            result = p.run(clerk_register(s), values)
        except SekishoError as exc:
            errors = i18n.error_items(exc, web.lang_of(request))
            # everything the clerk typed comes back, each problem beside its field
            return web.render(
                request, "clerk/procedure.html", session=s, p=p, values=values, errors=errors,
                bad={e[0] for e in errors}, status_code=422, **place,
            )  # fmt: skip
        token = None
        if isinstance(result, tuple):  # a move-out: (record, transfer token, late)
            result, token = result[0], result[1]
        return web.render(request, "clerk/done.html", session=s, p=p, r=_resident_view(result), token=token, **place)

    # --- certificates of residence (住民票の写し, 広域交付 too) -------------------------------------------------

    cert_words: dict[str, Any] = {
        "kinds": REQUESTER_KINDS, "optional_items": OPTIONAL_ITEMS, "basic_items": BASIC_ITEMS, "forms": FORMS,
    }  # fmt: skip

    def certificate_page(request: Request, s: Session, values: dict[str, str], **extra: Any) -> Response:
        kind = "clerk/certificate.html" if s.kind == "clerk" else "resident/certificate.html"
        return web.render(request, kind, session=s, values=values, **cert_words, **place, **extra)

    async def issue_certificate(
        request: Request, s: Session, form: dict[str, str], asked: Callable[[], CertificateRequest]
    ) -> Response:
        """The signed certificate as the POST's own answer (an attachment: no personal data in any URL), or the
        form again with the refusal or the problems named, everything typed kept."""
        try:
            if certificate is None:
                raise Unavailable("this municipality's node issues no certificates", field="certificate")
            wanted = asked()
            wanted.check_reason()  # a third party without a reason: refused before the home is even asked
            chosen = form_of(form.get("form", "pdf"))
            issued = await asyncio.to_thread(certificate, wanted, chosen)
        except SekishoError as exc:
            errors = i18n.error_items(exc, web.lang_of(request))
            status = {"refused": 403, "unavailable": 503, "not-found": 404}.get(exc.kind, 422)
            return certificate_page(
                request, s, form, errors=errors, bad={e[0] for e in errors}, status_code=status,
                refused=exc.kind == "refused",
            )  # fmt: skip
        return Response(
            issued.body,
            media_type=issued.media_type,
            headers={"Content-Disposition": f'attachment; filename="{issued.serial}.{issued.form}"',
                     "X-Certificate-Serial": issued.serial},
        )  # fmt: skip

    def _items(form: dict[str, str]) -> frozenset[str]:
        return frozenset(BASIC_ITEMS) | {i for i in OPTIONAL_ITEMS if form.get(f"item_{i}") == "on"}

    def _copies(form: dict[str, str]) -> int:
        text = form.get("copies", "1").strip() or "1"
        if not text.isdigit():
            raise InvalidInput("must be between 1 and 10", field="copies")
        return int(text)

    @app.get("/clerk/certificate")
    def clerk_certificate_page(request: Request) -> Response:
        s = portal.session(request, "clerk")
        if s is None:
            return web.to_login("/clerk/login", over=True)
        return certificate_page(request, s, {"home": code, "as": "self", "copies": "1", "form": "pdf"})

    @app.post("/clerk/certificate")
    async def clerk_certificate(request: Request) -> Response:
        """住民票の写し at this counter: the resident's own municipality's, or 広域交付 for a resident of another
        (the home decides and signs); the clerk says who asks — the resident, a member of the household, a proxy
        with a mandate, a third party with its statutory reason — and which items beyond the basic four."""
        s = portal.session(request, "clerk")
        if s is None:
            return web.to_login("/clerk/login", over=True)
        form = await web.form_of(request, session=s)
        values = {"home": code, "as": "self", "copies": "1", "form": "pdf"} | form
        if form.get("_prefill"):  # opened from a record page: the form, with that resident's handle filled in
            return certificate_page(request, s, values)

        def asked() -> CertificateRequest:
            from sekisho.protocols.handles import parse_handle

            handle = parse_handle(values.get("for", ""), field="for")
            return CertificateRequest(
                handle=handle,
                home=get_municipality(values.get("home", ""), field="home").code,
                counter=code,
                kind=values.get("as", ""),  # type: ignore[arg-type]
                items=_items(values),
                requester=values.get("requester", "").strip() or None,
                reason=values.get("reason", "").strip() or None,
                copies=_copies(values),
            )

        return await issue_certificate(request, s, values, asked)

    # --- the card login: the card's pseudonym for this portal, bound to the resident once at the counter -------

    rp = relying_party(code)

    def new_challenge(purpose: str) -> str:
        """A challenge for the card (sekisho.login.protocol), remembered until answered once or expired."""
        text = json.dumps(
            card_login.Challenge.new(rp=rp, today=japan_today(), at=int(time.time())).to_json(),
            sort_keys=True,
            separators=(",", ":"),
        )
        portal.store.keep_challenge(text, purpose=purpose)
        return text

    def card_pseudonym(form: dict[str, str], purpose: str) -> str:
        """The pseudonym the card proved for this portal, with a valid, unrevoked card of today; the challenge
        must be one this portal issued for ``purpose``, answered once."""
        if login_issuers is None:
            raise Unavailable("this portal takes no card logins yet (no prefecture's login issuer)", field="card")
        text = form.get("challenge", "")
        portal.store.take_challenge(text, purpose=purpose)
        challenge = card_login.Challenge.from_json(json.loads(text))
        try:
            answer = json.loads(form.get("response", ""))
        except ValueError:
            raise InvalidInput("is not the card's answer (JSON)", field="response") from None
        if not isinstance(answer, dict):
            raise InvalidInput("is not the card's answer (JSON)", field="response")
        return card_login.verify(challenge, answer, login_issuers(), allow_prefecture=False).pseudonym

    def card_login_page(request: Request, **extra: Any) -> Response:
        challenge = new_challenge("login") if login_issuers is not None else ""
        return web.login_form(request, "resident/card_login.html", challenge=challenge, rp=rp, **place, **extra)

    @app.get("/resident/card")
    def resident_card_page(request: Request) -> Response:
        return card_login_page(request)

    @app.post("/resident/card")
    async def resident_card_login(request: Request) -> Response:
        """The card answers the challenge (its card-holder software: `sekisho login answer`); the portal checks
        the pseudonym's proof and the card's validity from the prefecture's public data, then finds the resident
        the counter bound that pseudonym to.  No serial, certificate or number of the card reaches the portal."""
        form = await web.form_of(request, session=None)
        try:
            try:
                nym = card_pseudonym(form, "login")
            except SekishoError as exc:
                if exc.kind not in ("too-many-requests", "unavailable"):  # a wrong answer, not an outage
                    portal.store.failed_card_login()
                raise
            handle = portal.store.card_holder(nym)
        except SekishoError as exc:
            status = 429 if exc.kind == "too-many-requests" else 401
            return card_login_page(request, errors=i18n.error_items(exc, web.lang_of(request)), status_code=status)
        s = portal.store.start_session("resident", handle)
        response = RedirectResponse(f"{web.PREFIX}/resident", status_code=303)
        web.set_session_cookie(response, request, s)
        return response

    @app.post("/clerk/card")
    async def enrol_card(request: Request) -> Response:
        """At the counter, once: the resident's card answers a challenge, and its pseudonym for this portal is
        bound to the record the clerk opened (the clerk has checked the person against the card)."""
        s = portal.session(request, "clerk")
        if s is None:
            return web.to_login("/clerk/login", over=True)
        form = await web.form_of(request, session=s)
        register = clerk_register(s)
        purpose = f"enrol:{s.subject}"
        if "response" not in form:  # opened from the record page: the challenge for the card
            r = register.show(form.get("handle", ""), purpose="resident.card-enrolment")
            return web.render(request, "clerk/card.html", session=s, r=_resident_view(r), rp=rp,
                              challenge=new_challenge(purpose), **place)  # fmt: skip
        try:
            nym = card_pseudonym(form, purpose)
            r = register.show(form.get("handle", ""), purpose="resident.card-enrolment")
            portal.store.bind_card(nym, r.handle, by=s.subject)
        except SekishoError as exc:
            r = register.show(form.get("handle", ""), purpose="resident.card-enrolment")
            errors = i18n.error_items(exc, web.lang_of(request))
            # a challenge answers once: the form comes back with a new one for the card to answer
            return web.render(
                request, "clerk/card.html", session=s, r=_resident_view(r), rp=rp, challenge=new_challenge(purpose),
                errors=errors, bad={e[0] for e in errors}, status_code=409 if exc.kind == "conflict" else 422,
                **place,
            )  # fmt: skip
        return record_page(request, s, r, notice="card_enrolled")

    # --- the resident portal -------------------------------------------------------------------------------

    @app.get("/resident/login")
    def resident_login_page(request: Request, over: int = 0) -> Response:
        return web.login_form(request, "login.html", action="resident/login", kind="resident", over=bool(over), **place)

    @app.post("/resident/login")
    async def resident_login(request: Request) -> Response:
        form = await web.form_of(request, session=None)
        try:
            handle = portal.store.redeem_code(form.get("code", ""))
        except SekishoError as exc:
            status = 429 if exc.kind == "too-many-requests" else 401
            errors = i18n.error_items(exc, web.lang_of(request))
            return web.login_form(
                request, "login.html", action="resident/login", kind="resident", errors=errors, status_code=status,
                **place,
            )  # fmt: skip
        s = portal.store.start_session("resident", handle)
        response = RedirectResponse(f"{web.PREFIX}/resident", status_code=303)
        web.set_session_cookie(response, request, s)
        return response

    def resident_register() -> RegisterService:
        return registers(Actor(clerk="resident-portal"))

    @app.get("/resident")
    def resident_home(request: Request) -> Response:
        s = portal.session(request, "resident")
        if s is None:
            return web.to_login("/resident/login", over=web.SESSION_COOKIE in request.cookies)
        lang = web.lang_of(request)
        svc = resident_register()
        r = svc.show(s.subject, purpose="resident.own-record")
        listing = svc.access_list(s.subject)
        if svc.access_log is None:
            raise Unavailable("this register is not connected to a public access log", field="log")
        # the server checks what the resident's own verifier checks: each inclusion proof against the witnessed
        # checkpoint, and each entry's commitment with the resident's key (k_res); a failure shows nothing
        checkpoint, entries = svc.access_log.verify_document(access_list_json(listing))
        rows = [_entry_row(i, e, lang) for i, e in reversed(entries)]
        mp = policies()
        return web.render(
            request, "resident/home.html", session=s, r=_resident_view(r), rows=rows,
            checkpoint={"size": checkpoint.size, "origin": checkpoint.origin},
            sealed_hidden=listing.sealed_hidden, pending=listing.pending,
            notices=mp.registered_for_notices(s.subject), notifications=mp.notifications(s.subject),
            opted_out=mp.facts(s.subject).opted_out_of_consent_uses, wallet=credential_offer is not None, **place,
        )  # fmt: skip

    @app.post("/resident/settings")
    async def resident_settings(request: Request) -> Response:
        """本人通知 on or off, and consent-only uses refused or allowed: the resident's own choices."""
        s = portal.session(request, "resident")
        if s is None:
            return web.to_login("/resident/login", over=True)
        form = await web.form_of(request, session=s)
        mp = policies()
        setting, value = form.get("setting", ""), form.get("value") == "on"
        if setting == "notices":
            mp.register_for_notices(s.subject, registered=value)
        elif setting == "opt_out":
            mp.set_opt_out(s.subject, opted_out=value)
        else:
            raise InvalidInput("is not a setting of the resident portal", field="setting")
        return RedirectResponse(f"{web.PREFIX}/resident", status_code=303)

    @app.post("/resident/credential")
    async def resident_credential(request: Request) -> Response:
        """A credential offer (OpenID4VCI, pre-authorised code, one use, 10 minutes) for the resident's wallet,
        made for the logged-in resident as the counter makes one (`sekisho credentials offer`)."""
        s = portal.session(request, "resident")
        if s is None:
            return web.to_login("/resident/login", over=True)
        await web.form_of(request, session=s)
        if credential_offer is None:
            raise Unavailable("this municipality issues no wallet credentials yet", field="credential")
        offer = credential_offer(s.subject)
        text = json.dumps({"credential_offer": offer}, ensure_ascii=False, indent=2)
        uri = "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer, separators=(",", ":")))
        return web.render(request, "resident/credential.html", session=s, offer=text, uri=uri, **place)

    @app.get("/resident/certificate")
    def resident_certificate_page(request: Request) -> Response:
        s = portal.session(request, "resident")
        if s is None:
            return web.to_login("/resident/login", over=True)
        return certificate_page(request, s, {"form": "pdf", "copies": "1"})

    @app.post("/resident/certificate")
    async def resident_certificate(request: Request) -> Response:
        """The resident's own 住民票の写し, online: issued without a clerk (self-service — refused for a resident
        under a support measure, who asks at a counter), at their own municipality."""
        s = portal.session(request, "resident")
        if s is None:
            return web.to_login("/resident/login", over=True)
        form = await web.form_of(request, session=s)
        values = {"form": "pdf", "copies": "1"} | form

        def asked() -> CertificateRequest:
            return CertificateRequest(
                handle=s.subject, home=code, counter=code, kind="self", items=_items(values), copies=_copies(values),
                self_service=True,
            )  # fmt: skip

        return await issue_certificate(request, s, values, asked)

    @app.get("/resident/access-list.json")
    def resident_download(request: Request) -> Response:
        s = portal.session(request, "resident")
        if s is None:
            return web.to_login("/resident/login", over=True)
        doc = access_list_json(resident_register().access_list(s.subject))
        return Response(
            json.dumps(doc, ensure_ascii=False, indent=2) + "\n",
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="access-list.json"'},
        )

    return app


def _procedure(name: str) -> Procedure:
    p = PROCEDURES.get(name)
    if p is None:
        raise NotFound("no such procedure", field="procedure")
    return p


__all__ = ["PROCEDURES", "UTC", "portal_app"]
