"""The watchdog's HTTP face: the public policy documents, the decision point, warrants and alerts.

A thin router over :class:`~sekisho.policy.service.Watchdog`.  Public (anyone): the legal-basis table, PIAs and
their signed decisions, the revocation list.  For the network's parties: ``POST /policy/decide``.  For the
watchdog's officers: warrants and alerts.  URLs carry only ids of documents (a PIA id, a warrant id, an alert id),
never anything about a person; errors are RFC 9457 ``application/problem+json`` from one handler.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, FastAPI, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from sekisho import problems
from sekisho.errors import Forbidden, NotFound
from sekisho.policy import anomaly
from sekisho.policy.pia import parse_pia
from sekisho.policy.service import Watchdog
from sekisho.policy.signing import document_of
from sekisho.protocols.access import AccessRequest, Decision, SubjectFacts

# identifiers in URLs have the forms of pia.schema.json and of the anomaly rules' names: a query never carries
# anything else to the database (PostgreSQL refuses a NUL in text with an error, which was an HTTP 500)
PIA_ID = r"^[a-z][a-z0-9-]{2,63}$"
AGENCY = r"^[a-z][a-z0-9_-]{0,39}$"
RULE = r"^[a-z][a-z0-9-]{0,31}$"


class DecideIn(BaseModel):
    requester: str = Field(max_length=128)
    requester_kind: Literal["agency", "municipality", "clerk", "resident", "proxy", "third-party", "transcryptor"]
    action: Literal[
        "identity-confirmation", "enrolment", "notice", "certificate", "register-read", "conversion", "cross-reference"
    ]
    purpose: str = Field(max_length=64)
    items: list[str] = Field(default_factory=list, max_length=32)
    at: datetime
    terminal: str | None = Field(default=None, max_length=64)
    warrant: str | None = Field(default=None, max_length=4096)
    from_domain: str | None = Field(default=None, max_length=40)
    to_domain: str | None = Field(default=None, max_length=40)
    count: int = 1
    municipality: str | None = Field(default=None, max_length=6)
    event: str | None = Field(default=None, max_length=32)
    self_service: bool = False


_CODE = r"^\S{1,300}$"  # codes: no whitespace (alert_fields replaces it)


class AlertIn(BaseModel):
    """A refusal another party's guard reported (``sekisho.wire.alerts.AuthAlert.alert_fields``): codes only."""

    rule: str = Field(max_length=32, pattern=r"^auth-[a-z0-9-]{1,27}$")
    severity: Literal["low", "medium", "high"]
    scope: Literal["terminal", "party"]
    subject: str = Field(max_length=128, pattern=r"^[a-z0-9/_-]{1,128}$")
    window_start: datetime
    window_end: datetime
    observed: int = Field(ge=0, le=1_000_000)
    threshold: int = Field(ge=0, le=1_000_000)
    details: list[Annotated[str, Field(pattern=_CODE)]] = Field(default_factory=list, max_length=16)


class RevokeIn(BaseModel):
    by: str = Field(max_length=64)
    reason: str = Field(default="revoked", max_length=64)


class SubmitIn(BaseModel):
    pia: dict[str, Any]
    by: str = Field(max_length=64)


class DecisionIn(BaseModel):
    """A decision as ``/policy/decide`` returned it, handed back to be narrowed for one resident."""

    decision_id: str = Field(max_length=64)
    allow: bool
    items: list[str] = Field(default_factory=list, max_length=32)
    reasons: list[str] = Field(default_factory=list, max_length=32)
    legal_basis: str | None = Field(default=None, max_length=64)
    pia: str | None = Field(default=None, max_length=64)
    warrant: str | None = Field(default=None, max_length=64)
    sealed_until: date | None = None
    events: list[str] = Field(default_factory=list, max_length=16)
    consent_required: bool = False
    parent: str | None = Field(default=None, max_length=64)


class FactsIn(BaseModel):
    """What the municipality knows about the person that can change a decision (no identity: ``subject_ref`` is
    the municipality's keyed digest of a protected person)."""

    protected: bool = False
    protected_requester_refused: list[str] = Field(default_factory=list, max_length=64)
    opted_out_of_consent_uses: bool = False
    consented_requesters: list[str] = Field(default_factory=list, max_length=64)
    subject_ref: str | None = Field(default=None, max_length=128)
    municipality_joined: list[str] | None = Field(default=None, max_length=64)


class CheckSubjectIn(BaseModel):
    decision: DecisionIn
    facts: FactsIn
    request: DecideIn


def access_request(body: DecideIn) -> AccessRequest:
    return AccessRequest(**{**body.model_dump(), "items": frozenset(body.items)})


def decision_of(body: DecisionIn) -> Decision:
    return Decision(
        **{**body.model_dump(), "items": frozenset(body.items), "reasons": tuple(body.reasons)}
        | {"events": frozenset(body.events)}
    )


def facts_of(body: FactsIn) -> SubjectFacts:
    joined = body.municipality_joined
    return SubjectFacts(
        protected=body.protected,
        protected_requester_refused=frozenset(body.protected_requester_refused),
        opted_out_of_consent_uses=body.opted_out_of_consent_uses,
        consented_requesters=frozenset(body.consented_requesters),
        subject_ref=body.subject_ref,
        municipality_joined=None if joined is None else frozenset(joined),
    )


def _decision(d: Any) -> dict[str, Any]:
    return {
        "decision_id": d.decision_id,
        "allow": d.allow,
        "items": sorted(d.items),
        "reasons": list(d.reasons),
        "legal_basis": d.legal_basis,
        "pia": d.pia,
        "warrant": d.warrant,
        "sealed_until": d.sealed_until.isoformat() if d.sealed_until else None,
        "events": sorted(d.events),
        "consent_required": d.consent_required,
        "parent": d.parent,
    }


def _caller(request: Request) -> str | None:
    """The party the network's guard authenticated (``agency/pension``), or None when no guard is in front."""
    found = request.scope.get("state", {}).get("sekisho_caller")
    name = getattr(getattr(found, "party", None), "name", None)
    return name if isinstance(name, str) else None


def router(watchdog: Watchdog) -> APIRouter:
    api = APIRouter(prefix="/policy", tags=["policy"])
    decision_point = watchdog.decision_point()

    @api.get("/legal-bases")
    def legal_bases() -> dict[str, Any]:
        t = watchdog.table
        return {
            "as_of": t.as_of,
            "agencies": {a.id: {"name": a.name, "name_en": a.name_en, "kind": a.kind} for a in t.agencies.values()},
            "bases": [
                {
                    "id": r.id,
                    "purpose": r.purpose,
                    "requester_kind": r.requester_kind,
                    "agency": r.agency,
                    "actions": sorted(r.actions),
                    "items": sorted(r.items),
                    "events": sorted(r.events),
                    "basis": r.basis,
                    "citation": r.citation,
                    "verified": r.verified,
                    "optional": r.optional,
                    "targets": sorted(r.targets),
                    "max_seal_days": r.max_seal_days,
                }
                for r in t.rows
            ],
        }

    @api.get("/pias")
    def pias(agency: Annotated[str | None, Query(max_length=40, pattern=AGENCY)] = None) -> list[dict[str, Any]]:
        return watchdog.pias(agency=agency)

    @api.get("/pias/{pia_id}")
    def pia(pia_id: Annotated[str, Path(pattern=PIA_ID)]) -> dict[str, Any]:
        return watchdog.pia(pia_id)

    @api.post("/pias", status_code=201)
    def submit(request: Request, body: SubmitIn) -> dict[str, Any]:
        pia = parse_pia(body.pia)
        caller = _caller(request)
        # behind the network's guard an agency files its own PIAs only: another agency's PIA filed first would
        # block the real one (a PIA id is never reused) — the watchdog's own CLI files in-process, with no caller
        if caller is not None and caller != f"agency/{pia.agency}":
            raise Forbidden("an agency files only its own PIAs", field="pia.agency")
        return watchdog.submit_pia(pia, by=body.by)

    @api.post("/pias/{pia_id}/revocation")
    def revoke(pia_id: Annotated[str, Path(pattern=PIA_ID)], body: RevokeIn) -> dict[str, Any]:
        """Withdraw an approval: the watchdog signs a new revocation list (returned), which the transcryptors and
        the decision points fetch; requests under the PIA are then refused ``pia-revoked``."""
        revocations = watchdog.revoke_pia(pia_id, by=body.by, reason=body.reason)
        return {"pia": pia_id, "status": "revoked", "revocations": revocations}

    @api.get("/pia-statements")
    def pia_statements() -> list[str]:
        return watchdog.pia_statements()

    @api.get("/revocations", response_class=Response, responses=problems.text("text/plain"))
    def revocations() -> Response:
        return Response(watchdog.revocation_list(), media_type="text/plain", headers={"Cache-Control": "no-store"})

    @api.post("/decide")
    def decide(body: Annotated[DecideIn, Body()]) -> dict[str, Any]:
        return _decision(decision_point.decide(access_request(body)))

    @api.post("/check-subject")
    def check_subject(body: Annotated[CheckSubjectIn, Body()]) -> dict[str, Any]:
        """Narrow a decision for one resident (protections, opt-outs), as the answering municipality asks; a
        changed decision is recorded under a new id.  The body carries facts, never the person."""
        decided = decision_of(body.decision)
        return _decision(decision_point.check_subject(decided, facts_of(body.facts), access_request(body.request)))

    @api.get("/watchdog.json")
    def published_keys() -> dict[str, Any]:
        """The watchdog's published policy keys (``watchdog.json``): what every party reads warrants and
        statements with."""
        if not watchdog.keys:
            raise NotFound("the watchdog has not published its policy key", field="watchdog")
        return document_of(watchdog.keys)

    @api.get("/warrants/{warrant_id}")
    def warrant(warrant_id: str) -> dict[str, Any]:
        return watchdog.warrant(warrant_id)

    @api.post("/alerts", status_code=201)
    def report_alert(body: AlertIn) -> dict[str, Any]:
        """A refusal at another party's guard (no personal data: codes, the party, the terminal, the path)."""
        data = body.model_dump()
        return watchdog.record_alert(anomaly.Alert(**{**data, "details": tuple(data["details"])}))

    @api.get("/alerts")
    def alerts(
        status: Annotated[Literal["open", "acknowledged", "closed"] | None, Query()] = None,
        rule: Annotated[str | None, Query(max_length=32, pattern=RULE)] = None,
    ) -> list[dict[str, Any]]:
        return watchdog.alerts(status=status, rule=rule)

    return api


def create_app(watchdog: Watchdog) -> FastAPI:
    app = FastAPI(title="Sekisho watchdog (policy)", openapi_url="/policy/openapi.json", docs_url=None, redoc_url=None)
    app.include_router(router(watchdog))

    problems.install(app)

    return app


def app_from_env() -> FastAPI:
    """``uvicorn --factory sekisho.policy.api:app_from_env`` (SEKISHO_HOME, SEKISHO_DB, SEKISHO_PASSPHRASE)."""
    from sekisho.config import Home
    from sekisho.keyfile import passphrase_from_env

    return create_app(Watchdog.open(Home.from_env(), passphrase=passphrase_from_env()))
