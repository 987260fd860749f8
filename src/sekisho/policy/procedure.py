"""The decision procedure itself, as pure functions: what to release (:func:`evaluate`) and how one resident's
circumstances narrow it (:func:`narrow`).  The decision point (:mod:`sekisho.policy.service`) looks up the PIA and
warrant standing, calls these, counts and records.

    released = legal basis ∩ approved PIA ∩ request

and a request for any item outside ``legal basis ∩ approved PIA`` is refused as a whole, with one reason per item
(``item-not-allowed:address``), never narrowed silently: a caller that asked for more than it may have must find
out.  Reasons are codes from a closed set (:data:`REASON_RE`); their only parameters are item, event, action and
level names from the closed vocabularies, never a value from the request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from sekisho.errors import InvalidInput
from sekisho.jp.legal import ACTIONS, EVENTS, ITEMS, REQUESTER_KINDS, LegalBasis, LegalBasisTable
from sekisho.protocols.access import AccessRequest, Decision, SubjectFacts
from sekisho.protocols.warrants import Warrant

REGISTRY_DOMAIN: Final = "registry"  # sekisho.protocols.conversion.REGISTRY_DOMAIN (no import: pure module)

#: every reason code matches this; the optional parameter is a name from a closed vocabulary
REASON_RE: Final = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?::[a-z][a-z0-9_-]*)?$")

_REQUESTER_RE: Final = re.compile(r"^[A-Za-z0-9_./:-]{1,128}$")
_TERMINAL_RE: Final = re.compile(r"^[A-Za-z0-9_./:-]{1,64}$")
_PURPOSE_RE: Final = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_DOMAIN_RE: Final = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_MUNICIPALITY_RE: Final = re.compile(r"^\d{6}$")
MAX_COUNT: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class ApprovedPia:
    id: str
    purposes: frozenset[str]
    items: frozenset[str]
    events: frozenset[str]


#: a PIA lookup answers with the approved PIA, or with the reason there is none
PiaStanding = ApprovedPia | str
#: a warrant lookup answers with the warrant and how many persons it still covers here, or with a reason
WarrantStanding = tuple[Warrant, int] | str


@dataclass(frozen=True, slots=True)
class Subject:
    """What a request is about, in the table's terms."""

    requester_kind: str
    agency: str | None
    actions: frozenset[str]  # any of these in the row allows it
    target: str | None = None  # cross-references

    @property
    def needs_pia(self) -> bool:
        return self.requester_kind == "agency"

    @property
    def needs_warrant(self) -> bool:
        return "cross-reference" in self.actions


@dataclass(frozen=True, slots=True)
class Outcome:
    allow: bool
    items: frozenset[str]
    reasons: tuple[str, ...]
    legal_basis: str | None = None
    pia: str | None = None
    warrant: Warrant | None = None
    events: frozenset[str] = frozenset()
    consent_required: bool = False

    @property
    def sealed_until(self) -> date | None:
        return self.warrant.sealed_until if self.warrant else None


def check_request(request: AccessRequest) -> None:
    """Form of every field.  A malformed request is an input error (raised), not a refusal (recorded)."""
    if not isinstance(request, AccessRequest):
        raise InvalidInput("must be an AccessRequest", field="request")
    if not isinstance(request.requester, str) or not _REQUESTER_RE.match(request.requester):
        raise InvalidInput("must be 1-128 characters of [A-Za-z0-9_./:-]", field="requester")
    if request.requester_kind not in REQUESTER_KINDS:
        raise InvalidInput("is not a requester kind", field="requester_kind")
    if request.action not in ACTIONS:
        raise InvalidInput("is not an action", field="action")
    if not isinstance(request.purpose, str) or not _PURPOSE_RE.match(request.purpose):
        raise InvalidInput("must be a purpose code ([a-z][a-z0-9_.-]{0,63})", field="purpose")
    if not isinstance(request.items, frozenset) or not all(isinstance(i, str) for i in request.items):
        raise InvalidInput("must be a frozenset of item names", field="items")
    if not isinstance(request.at, datetime) or request.at.tzinfo is None:
        raise InvalidInput("must be a time with a time zone", field="at")
    if request.terminal is not None and not _TERMINAL_RE.match(request.terminal):
        raise InvalidInput("must be 1-64 characters of [A-Za-z0-9_./:-]", field="terminal")
    for name, value in (("from_domain", request.from_domain), ("to_domain", request.to_domain)):
        if value is not None and not _DOMAIN_RE.match(value):
            raise InvalidInput("must be a domain name", field=name)
    if request.municipality is not None and not _MUNICIPALITY_RE.match(request.municipality):
        raise InvalidInput("must be a six-digit municipality code", field="municipality")
    if not isinstance(request.count, int) or isinstance(request.count, bool) or not 1 <= request.count <= MAX_COUNT:
        raise InvalidInput(f"must be between 1 and {MAX_COUNT}", field="count")
    if request.warrant is not None and not (isinstance(request.warrant, str) and 0 < len(request.warrant) <= 4096):
        raise InvalidInput("must be a warrant id or token", field="warrant")


def subject_of(request: AccessRequest) -> Subject:
    """Which row a request needs.  A conversion is judged by its domains, not by who sends it: R → A is an
    enrolment or a notice for A, A → R an identity confirmation by A, A → B a cross-reference by A."""
    if request.action == "conversion":
        f, t = request.from_domain, request.to_domain
        if f is None or t is None:
            raise InvalidInput("a conversion names both domains", field="from_domain" if f is None else "to_domain")
        if f == REGISTRY_DOMAIN and t == REGISTRY_DOMAIN:
            return Subject("municipality", None, frozenset({"conversion"}))
        if f == REGISTRY_DOMAIN:
            return Subject("agency", t, frozenset({"enrolment", "notice"}))
        if t == REGISTRY_DOMAIN:
            return Subject("agency", f, frozenset({"identity-confirmation"}))
        return Subject("agency", f, frozenset({"cross-reference"}), target=t)
    if request.action == "cross-reference":
        if request.requester_kind != "agency":
            return Subject(request.requester_kind, None, frozenset({"cross-reference"}), target=request.to_domain)
        if request.to_domain is None:
            raise InvalidInput("a cross-reference names the target domain", field="to_domain")
        # the agency is its domain (a transcryptor's requester is the party, ``agency/<domain>``)
        return Subject(
            "agency", request.from_domain or request.requester, frozenset({"cross-reference"}), target=request.to_domain
        )
    agency = request.requester if request.requester_kind == "agency" else None
    return Subject(request.requester_kind, agency, frozenset({request.action}))


def _deny(reasons: list[str], row: LegalBasis | None = None) -> Outcome:
    return Outcome(False, frozenset(), tuple(dict.fromkeys(reasons)), legal_basis=row.id if row else None)


def evaluate(
    request: AccessRequest,
    *,
    table: LegalBasisTable,
    subject: Subject,
    pia: PiaStanding | None,
    warrant: WarrantStanding | None,
    now: datetime,
    freshness: str | None = None,
) -> Outcome:
    """Decide one request.  ``pia`` and ``warrant`` are the caller's lookups (None where not needed);
    ``freshness`` a reason the caller's policy data is too old to decide on (fail closed)."""
    if freshness is not None:
        return _deny([freshness])
    unknown = [i for i in request.items if i not in ITEMS]
    if unknown:
        return _deny(["item-unknown"])
    row = table.match(requester_kind=subject.requester_kind, agency=subject.agency, purpose=request.purpose)
    if row is None:
        return _deny(["purpose-unknown" if request.purpose not in table.purposes() else "no-legal-basis"])
    if not row.actions & subject.actions:
        return _deny([f"action-not-allowed:{request.action}"], row)
    reasons: list[str] = []
    allowed, events = row.items, row.events
    pia_id: str | None = None
    if subject.needs_pia:
        if pia is None or isinstance(pia, str):
            return _deny([pia or "pia-missing"], row)
        pia_id = pia.id
        allowed, events = allowed & pia.items, events & pia.events
    reasons += [f"item-not-allowed:{i}" for i in sorted(request.items - allowed)]
    if request.action == "notice":
        if request.event is None:
            reasons.append("event-missing")
        elif request.event not in EVENTS:
            reasons.append("event-unknown")
        elif request.event not in events:
            reasons.append(f"event-not-allowed:{request.event}")
    w: Warrant | None = None
    if subject.needs_warrant:
        if subject.target not in row.targets:
            reasons.append("target-not-allowed")
        if warrant is None:
            reasons.append("warrant-missing")
        elif isinstance(warrant, str):
            reasons.append(warrant)
        else:
            w, remaining = warrant
            reasons += _warrant_reasons(w, remaining, request=request, subject=subject, row=row, now=now)
    if reasons:
        return _deny(reasons, row)
    ok = ["basis-consent" if row.consent else "basis-law"]
    if pia_id:
        ok.append("pia-approved")
    if w is not None:
        ok.append("warrant-valid")
    return Outcome(
        True,
        request.items,
        tuple(ok),
        legal_basis=row.id,
        pia=pia_id,
        warrant=w,
        events=events,
        consent_required=row.consent,
    )


def _warrant_reasons(
    w: Warrant, remaining: int, *, request: AccessRequest, subject: Subject, row: LegalBasis, now: datetime
) -> list[str]:
    reasons: list[str] = []
    if w.requester != subject.agency:
        reasons.append("warrant-other-agency")
    if w.target != subject.target:
        reasons.append("warrant-other-target")
    if w.purpose != request.purpose or w.legal_basis != row.id:
        reasons.append("warrant-other-purpose")
    if now < w.not_before:
        reasons.append("warrant-not-yet-valid")
    if now >= w.not_after:
        reasons.append("warrant-expired")
    if request.count > remaining:
        reasons.append("warrant-exhausted")
    return reasons


# --- one resident ------------------------------------------------------------------------------------------------

#: requester kinds that are third parties to the resident (a proxy acts for the resident but may be the abuser's)
THIRD_PARTIES: Final = frozenset({"third-party", "proxy"})


def narrow(decision: Decision, facts: SubjectFacts, request: AccessRequest, table: LegalBasisTable) -> Outcome | None:
    """How one resident's protections, consent and municipality change an *allowed* decision; None if they
    change nothing.  A refusal is never turned into a release."""
    if not decision.allow:
        return None
    deny: list[str] = []
    marks: list[str] = []
    if request.requester in facts.protected_requester_refused:
        deny.append("protected-requester-named")
    if facts.protected:
        if request.requester_kind in THIRD_PARTIES:
            deny += ["protected-third-party", "clerk-review"]
        elif request.self_service:
            deny.append("protected-self-service")
        else:
            marks.append("protected-subject")
    if decision.consent_required:
        if facts.opted_out_of_consent_uses:
            deny.append("opted-out")
        elif request.requester not in facts.consented_requesters:
            deny.append("consent-missing")
        else:
            marks.append("consent-given")
    row = _row(table, decision.legal_basis)
    if (
        row is not None
        and row.optional
        and facts.municipality_joined is not None
        and row.purpose not in facts.municipality_joined
    ):
        deny.append("municipality-not-joined")
    if not deny and not marks:
        return None
    if deny:
        return Outcome(False, frozenset(), tuple(dict.fromkeys(deny)), legal_basis=decision.legal_basis)
    return Outcome(
        True,
        decision.items,
        decision.reasons + tuple(marks),
        legal_basis=decision.legal_basis,
        pia=decision.pia,
        events=decision.events,
        consent_required=False,  # seen and given, or not needed
    )


def _row(table: LegalBasisTable, row_id: str | None) -> LegalBasis | None:
    if row_id is None:
        return None
    return next((r for r in table.rows if r.id == row_id), None)
