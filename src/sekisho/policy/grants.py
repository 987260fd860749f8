"""The watchdog's grant desk: a conversion the policy allowed becomes a signed grant both transcryptors honour.

Used only while the watchdog has not published its policy key.  Once it has, each transcryptor decides every
conversion itself with its own policy hook (:mod:`sekisho.policy.hook`) and a conversion carries no grant from
here.  Before that, every conversion carries a grant of the default :class:`~sekisho.pseudonyms.SignedGrantPolicy`:
signed by the network's grant issuer (the watchdog's key from ``sekisho network init``), for exactly one (from, to,
purpose), at most ``count`` ciphertexts, valid for a few minutes.  The desk signs only after the policy decision
point allowed the conversion (action ``conversion``); a refusal is :class:`~sekisho.errors.Refused` and nothing is
converted.

The registry's own index (registry → registry, purpose ``registry.locate``) is asked the same way, by the
municipality (the legal-basis table's row ``registry.locate``, action ``conversion``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from sekisho.errors import Refused, Unavailable
from sekisho.policy.decision import Clock
from sekisho.protocols.access import AccessRequest, PolicyDecisionPoint, RequesterKind

#: the registry's pseudonym domain (``sekisho.protocols.conversion.REGISTRY_DOMAIN``; a protocol constant)
REGISTRY_DOMAIN = "registry"

#: the purpose code of registry → registry conversions for the locator's index (a row of the legal-basis table)
INDEX_PURPOSE = "registry.locate"
#: a grant is used at once; a short life limits what a leaked one is worth
GRANT_VALIDITY = timedelta(minutes=10)
#: tolerated clock difference between the desk and the transcryptors
_SKEW = timedelta(minutes=1)


class GrantSigner(Protocol):
    """What the desk needs of the watchdog's grant key (the composition root hands it a
    :class:`sekisho.pseudonyms.grants.GrantIssuer`)."""

    def issue(
        self,
        *,
        from_domain: str,
        to_domain: str,
        purpose: str,
        not_after: datetime,
        max_uses: int,
        not_before: datetime | None = None,
        legal_basis: str = "",
        grant_id: str | None = None,
    ) -> str: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


class GrantBroker:
    def __init__(self, issuer: GrantSigner, *, pdp: PolicyDecisionPoint | None, clock: Clock = utcnow) -> None:
        self._issuer = issuer
        self._pdp = pdp
        self._clock = clock

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
        """Ask the policy about this conversion; if allowed, a grant for exactly it.  Raises Refused otherwise."""
        if self._pdp is None:
            raise Unavailable("no policy decision point is configured", field="policy")
        now = self._clock()
        decision = self._pdp.decide(
            AccessRequest(
                requester=requester,
                requester_kind=requester_kind,
                action="conversion",
                purpose=purpose,
                items=frozenset(),
                at=now,
                from_domain=from_domain,
                to_domain=to_domain,
                count=count,
                municipality=municipality,
            )
        )
        if not decision.allow:
            raise Refused(f"the policy refused the conversion ({', '.join(decision.reasons) or 'no reason'})")
        return self._issue(from_domain, to_domain, purpose, count, legal_basis=decision.legal_basis or "")

    def index_grant(self, *, municipality: str, count: int) -> str:
        """A grant for a municipality's registry → registry conversion (the locator's index)."""
        return self.conversion_grant(
            requester=f"municipality/{municipality}",
            requester_kind="municipality",
            from_domain=REGISTRY_DOMAIN,
            to_domain=REGISTRY_DOMAIN,
            purpose=INDEX_PURPOSE,
            count=count,
            municipality=municipality,
        )

    def _issue(self, from_domain: str, to_domain: str, purpose: str, count: int, *, legal_basis: str) -> str:
        now = self._clock()
        return self._issuer.issue(
            from_domain=from_domain,
            to_domain=to_domain,
            purpose=purpose,
            max_uses=max(count, 1),
            not_before=now - _SKEW,
            not_after=now + GRANT_VALIDITY,
            legal_basis=legal_basis[:200],
        )

    def __repr__(self) -> str:
        return "GrantBroker()"
