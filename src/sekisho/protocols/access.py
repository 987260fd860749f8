"""The one decision point every path asks before personal data moves, as a protocol.

Every path — identity confirmation, enrolment, change notices, certificates, register reads by third
parties, conversions between domains — builds an :class:`AccessRequest` and asks
:meth:`PolicyDecisionPoint.decide`.  The decision is recorded by the decision point (allow *and* deny, with
reasons) before it is returned; the items released are exactly the intersection of the legal basis, the
approved PIA and the request.

Checks that need the *person* (a DV support measure, the resident's opt-out of consent-only uses) can only run
where the person is known — at the municipality — so they are a second step,
:meth:`PolicyDecisionPoint.check_subject`, which narrows a decision for one resident.  Nothing here carries
personal data: reasons are short codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

Action = Literal[
    "identity-confirmation",  # agency → register: current items of a person the agency knows by pseudonym
    "enrolment",  # register → agency: a resident becomes known to an agency (its pseudonym + items)
    "notice",  # register → agency: moved / died / name changed, for an enrolled person
    "certificate",  # 住民票の写し (own, proxy, third party) and 広域交付
    "register-read",  # a clerk or a third party reads a record at the municipality
    "conversion",  # any transcryption hop (checked by each transcryptor on its own)
    "cross-reference",  # agency A → agency B under a warrant
]

RequesterKind = Literal["agency", "municipality", "clerk", "resident", "proxy", "third-party", "transcryptor"]


@dataclass(frozen=True, slots=True)
class AccessRequest:
    requester: str  # agency id, municipality code, clerk id; never a person's name
    requester_kind: RequesterKind
    action: Action
    purpose: str  # a task code from the legal-basis table, e.g. "pension.benefit"
    items: frozenset[str]  # what is asked for: name, kana, birth_date, sex, address, household, ...
    at: datetime
    terminal: str | None = None
    warrant: str | None = None  # for cross-references
    from_domain: str | None = None  # for conversions
    to_domain: str | None = None
    count: int = 1  # how many persons this request concerns (a conversion batch)
    #: municipality whose register answers (some settings are per municipality)
    municipality: str | None = None
    #: for notices: which change (died, moved_out, moved_in, moved_within, name_changed)
    event: str | None = None
    #: a certificate issued without a clerk (kiosk, convenience store, online): blocked for protected residents
    self_service: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    decision_id: str
    allow: bool
    #: released = legal basis ∩ approved PIA ∩ request (empty when refused)
    items: frozenset[str]
    #: short codes, e.g. "no-legal-basis", "pia-not-approved", "item-not-allowed:address", "warrant-expired"
    reasons: tuple[str, ...]
    #: id of the legal-basis row the release rests on (the table gives the law and article), e.g. "pension.benefit"
    legal_basis: str | None = None
    pia: str | None = None  # id of the approved PIA
    warrant: str | None = None
    #: the resident sees the access from this date (court-ordered investigations); the watchdog sees it at once
    sealed_until: date | None = None
    events: frozenset[str] = field(default_factory=frozenset)  # notices the requester is entitled to
    #: the basis is the resident's consent: not final until check_subject has seen the consent
    consent_required: bool = False
    #: the decision this one narrows (check_subject records a changed decision under a new id)
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class SubjectFacts:
    """What the municipality knows about the person that can change a decision (no identity in it)."""

    protected: bool = False  # 支援措置 in force (DV, stalking, child abuse), incl. co-resident family
    protected_requester_refused: frozenset[str] = frozenset()  # requester ids named in the measure
    opted_out_of_consent_uses: bool = False
    consented_requesters: frozenset[str] = frozenset()
    #: an opaque per-municipality reference to a *protected* person (keyed digest, never the handle), so that the
    #: watchdog can see repeated requests about one protected person without learning who it is
    subject_ref: str | None = None
    #: optional services (purpose codes) the answering municipality has joined; None = the setting does not apply
    municipality_joined: frozenset[str] | None = None


class PolicyDecisionPoint(Protocol):
    def decide(self, request: AccessRequest) -> Decision:
        """Decide and record the decision (allow or deny, with reasons) before returning it.

        Never raises for a refusal: a refusal is a Decision with ``allow=False``; callers that must stop raise
        :class:`~sekisho.errors.Refused` with the reasons.
        """
        ...

    def check_subject(self, decision: Decision, facts: SubjectFacts, request: AccessRequest) -> Decision:
        """Narrow a decision for one resident (protections, opt-outs); records a changed decision too."""
        ...
