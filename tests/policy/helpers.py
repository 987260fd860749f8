"""Requests built from rows of the legal-basis table."""

from __future__ import annotations

from datetime import timedelta

from sekisho.jp.legal import LegalBasis
from sekisho.policy.service import Watchdog
from sekisho.protocols.access import AccessRequest

from .conftest import NOW, OFFICER


def request_for(
    row: LegalBasis,
    action: str,
    items: frozenset[str],
    *,
    warrant: str | None = None,
    requester: str | None = None,
    kind: str | None = None,
    count: int = 1,
    terminal: str | None = "t-001",
) -> AccessRequest:
    kind = kind or row.requester_kind
    requester = requester or (row.agency if row.requester_kind == "agency" else f"{kind}-0001")
    extra: dict[str, object] = {}
    if action == "notice":
        extra["event"] = sorted(row.events)[0]
    if action == "cross-reference":
        extra["to_domain"] = sorted(row.targets)[0]
        extra["warrant"] = warrant
    if action == "conversion":
        extra["from_domain"] = extra["to_domain"] = "registry"
    return AccessRequest(
        requester=requester,
        requester_kind=kind,  # type: ignore[arg-type]
        action=action,  # type: ignore[arg-type]
        purpose=row.purpose,
        items=items,
        at=NOW,
        terminal=terminal,
        count=count,
        **extra,  # type: ignore[arg-type]
    )


def warrant_for(wd: Watchdog, row: LegalBasis, *, persons: int = 10, days: int = 30, **kw: object) -> tuple[str, str]:
    """An approved warrant for a cross-reference row: (id, token)."""
    wid = wd.request_warrant(
        requester=row.agency or "",
        target=kw.pop("target", sorted(row.targets)[0]),  # type: ignore[arg-type]
        purpose=row.purpose,
        legal_basis=row.id,
        case_reference="case/2026-0001",
        persons=persons,
        not_after=NOW + timedelta(days=days),
        by="agency-officer",
        **kw,  # type: ignore[arg-type]
    )
    return wid, wd.approve_warrant(wid, by=OFFICER)
