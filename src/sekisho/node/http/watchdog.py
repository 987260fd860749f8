"""The watchdog's decision point as other parties reach it over HTTP (``sekisho.policy.api``)."""

from __future__ import annotations

from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sekisho.errors import IntegrityError, NotFound
from sekisho.node.http.base import send
from sekisho.policy.api import DecisionIn, FactsIn, decision_of
from sekisho.policy.grants import INDEX_PURPOSE
from sekisho.policy.grants_api import PATH as GRANTS_PATH
from sekisho.policy.pia import approved_scope
from sekisho.policy.signing import keys_of
from sekisho.protocols.access import AccessRequest, Decision, RequesterKind, SubjectFacts
from sekisho.protocols.conversion import REGISTRY_DOMAIN
from sekisho.protocols.statements import is_statement
from sekisho.protocols.warrants import check_warrant_id, usable_token


def _request(request: AccessRequest) -> dict[str, Any]:
    return {
        "requester": request.requester,
        "requester_kind": request.requester_kind,
        "action": request.action,
        "purpose": request.purpose,
        "items": sorted(request.items),
        "at": request.at.isoformat(),
        "terminal": request.terminal,
        "warrant": request.warrant,
        "from_domain": request.from_domain,
        "to_domain": request.to_domain,
        "count": request.count,
        "municipality": request.municipality,
        "event": request.event,
        "self_service": request.self_service,
    }


def _decision(decision: Decision) -> dict[str, Any]:
    return DecisionIn(
        decision_id=decision.decision_id,
        allow=decision.allow,
        items=sorted(decision.items),
        reasons=list(decision.reasons),
        legal_basis=decision.legal_basis,
        pia=decision.pia,
        warrant=decision.warrant,
        sealed_until=decision.sealed_until,
        events=sorted(decision.events),
        consent_required=decision.consent_required,
        parent=decision.parent,
    ).model_dump(mode="json")


def _facts(facts: SubjectFacts) -> dict[str, Any]:
    joined = facts.municipality_joined
    return FactsIn(
        protected=facts.protected,
        protected_requester_refused=sorted(facts.protected_requester_refused),
        opted_out_of_consent_uses=facts.opted_out_of_consent_uses,
        consented_requesters=sorted(facts.consented_requesters),
        subject_ref=facts.subject_ref,
        municipality_joined=None if joined is None else sorted(joined),
    ).model_dump(mode="json")


class HttpDecisionPoint:
    """:class:`~sekisho.protocols.access.PolicyDecisionPoint` over ``client`` (base URL: the watchdog).  The
    watchdog records every decision before it answers, as the in-process one does."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def decide(self, request: AccessRequest) -> Decision:
        answer = send(self._client, "POST", "/policy/decide", json=_request(request))
        return decision_of(DecisionIn.model_validate(answer.json()))

    def check_subject(self, decision: Decision, facts: SubjectFacts, request: AccessRequest) -> Decision:
        body = {"decision": _decision(decision), "facts": _facts(facts), "request": _request(request)}
        answer = send(self._client, "POST", "/policy/check-subject", json=body)
        return decision_of(DecisionIn.model_validate(answer.json()))

    def __repr__(self) -> str:
        return "HttpDecisionPoint()"


class HttpWatchdog:
    """What parties read from the watchdog's register over ``client`` (base URL: the watchdog): its published
    policy keys, a warrant's token by id, an agency's PIA in force.  The same answers as
    :class:`~sekisho.node.local.LocalNetwork`'s ``warrant_keys``, ``warrant_token`` and ``approved_pia``."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def warrant_keys(self) -> dict[str, Ed25519PublicKey]:
        return keys_of(send(self._client, "GET", "/policy/watchdog.json").json())

    def warrant_token(self, warrant: str) -> str:
        if is_statement(warrant, "warrant"):
            return warrant
        wid = check_warrant_id(warrant)  # checked here: only a well-formed id goes into the path
        return usable_token(send(self._client, "GET", f"/policy/warrants/{wid}").json())

    def approved_pia(self, agency: str) -> tuple[frozenset[str], frozenset[str]] | None:
        answer = send(self._client, "GET", "/policy/pias", params={"agency": agency})
        return approved_scope(answer.json())

    # the transcryptors' policy source (``sekisho.policy.hook.WatchdogSource``): signed, verified by the receiver

    def pia_statements(self) -> list[str]:
        answer = send(self._client, "GET", "/policy/pia-statements").json()
        if not isinstance(answer, list) or not all(isinstance(s, str) for s in answer):
            raise IntegrityError("the watchdog's statements are malformed", field="pia")
        return answer

    def revocation_list(self) -> str:
        return send(self._client, "GET", "/policy/revocations").text

    def published(self) -> bool:
        """Whether the watchdog has published its policy key (then the transcryptors decide every conversion)."""
        try:
            self.warrant_keys()
        except NotFound:
            return False
        return True

    def __repr__(self) -> str:
        return "HttpWatchdog()"


class HttpGrantDesk:
    """The watchdog's grant desk (``sekisho.policy.grants.GrantBroker``) over ``client``."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def conversion_grant(
        self,
        *,
        requester: str,
        requester_kind: RequesterKind,
        from_domain: str,
        to_domain: str,
        purpose: str,
        count: int,
        municipality: str | None = None,
    ) -> str:
        body = {
            "requester": requester,
            "requester_kind": requester_kind,
            "from_domain": from_domain,
            "to_domain": to_domain,
            "purpose": purpose,
            "count": count,
            "municipality": municipality,
        }
        return str(send(self._client, "POST", GRANTS_PATH, json=body).json()["grant"])

    def index_grant(self, *, municipality: str, count: int) -> str:
        return self.conversion_grant(
            requester=f"municipality/{municipality}",
            requester_kind="municipality",
            from_domain=REGISTRY_DOMAIN,
            to_domain=REGISTRY_DOMAIN,
            purpose=INDEX_PURPOSE,
            count=count,
            municipality=municipality,
        )

    def __repr__(self) -> str:
        return "HttpGrantDesk()"
