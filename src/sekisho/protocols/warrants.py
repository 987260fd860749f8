"""Warrants for cross-referencing (A → B conversions) and the watchdog's revocation list (pure).

Agency A asks the watchdog for a warrant naming itself, the target agency B, the task (purpose) and the row of
the legal-basis table it rests on, a case reference, the number of persons and an expiry — and, where that row
allows it, a *sealed-until* date: the residents concerned see the conversion in their access history only from
that date (a criminal investigation under a judge's 許可状), while the watchdog sees it at once.

The watchdog signs its decision (approved or refused) as a statement (:mod:`sekisho.policy.signing`).  An approved
statement is the warrant token the agency hands to the transcryptors; each of them verifies the signature, the
parties, the purpose, the validity period and the revocation list *on its own*, and counts the persons converted
in its own store.

The revocation list is a signed statement with a sequence number and a next-update time, like a CRL (RFC 5280
§5.1.2.4–5): a transcryptor refuses a list older than the one it holds, and refuses to convert at all once the
newest list it holds has passed its next update (fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sekisho.errors import InvalidInput, Refused
from sekisho.jp.clock import japan_date
from sekisho.jp.legal import LegalBasisTable
from sekisho.protocols.statements import verify

MAX_PERSONS: Final = 1_000_000
#: a warrant is for one case: at most a year
MAX_VALIDITY: Final = timedelta(days=366)
#: how long a revocation list is good for; the watchdog reissues it at half-life
REVOCATION_LIST_VALIDITY: Final = timedelta(hours=24)

_ID_RE: Final = re.compile(r"^[0-9a-f]{32}$")
#: a case reference is the agency's file number, never a name: letters, digits and a little punctuation
_CASE_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.-]{0,63}$")
_DOMAIN_RE: Final = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")

Decision = Literal["approved", "refused"]


def check_warrant_id(value: object, *, field: str = "warrant") -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise InvalidInput("must be a warrant id (32 lowercase hex digits)", field=field)
    return value


def check_case_reference(value: object) -> str:
    if not isinstance(value, str) or not _CASE_RE.match(value):
        raise InvalidInput("must be a file number of 1-64 characters of [A-Za-z0-9/_.-]", field="case_reference")
    return value


def _ts(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise InvalidInput("must carry a time zone", field="time")
    return int(dt.timestamp())


def _dt(ts: object) -> datetime:
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise ValueError("not a time")
    return datetime.fromtimestamp(ts, UTC)


@dataclass(frozen=True, slots=True)
class Warrant:
    id: str
    requester: str  # agency A (its domain)
    target: str  # agency B
    purpose: str
    legal_basis: str  # row id of the legal-basis table
    case_reference: str
    persons: int
    not_before: datetime
    not_after: datetime
    sealed_until: date | None = None

    def body(self) -> dict[str, Any]:
        return {
            "v": 1,
            "id": self.id,
            "from": self.requester,
            "to": self.target,
            "purpose": self.purpose,
            "basis": self.legal_basis,
            "case": self.case_reference,
            "persons": self.persons,
            "nbf": _ts(self.not_before),
            "exp": _ts(self.not_after),
            "sealed": self.sealed_until.isoformat() if self.sealed_until else None,
        }

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Warrant:
        sealed = body.get("sealed")
        w = cls(
            id=body["id"],
            requester=body["from"],
            target=body["to"],
            purpose=body["purpose"],
            legal_basis=body["basis"],
            case_reference=body["case"],
            persons=body["persons"],
            not_before=_dt(body["nbf"]),
            not_after=_dt(body["exp"]),
            sealed_until=date.fromisoformat(sealed) if sealed is not None else None,
        )
        check_fields(w)
        return w


def check_fields(w: Warrant) -> None:
    """Form of every field (not whether the table allows it: see :func:`check_against_table`)."""
    check_warrant_id(w.id, field="id")
    for name, value in (("requester", w.requester), ("target", w.target)):
        if not isinstance(value, str) or not _DOMAIN_RE.match(value):
            raise InvalidInput("must be an agency id", field=name)
    if w.requester == w.target:
        raise InvalidInput("must differ from the requesting agency", field="target")
    check_case_reference(w.case_reference)
    if not isinstance(w.persons, int) or isinstance(w.persons, bool) or not 1 <= w.persons <= MAX_PERSONS:
        raise InvalidInput(f"must be between 1 and {MAX_PERSONS}", field="persons")
    if w.not_after <= w.not_before:
        raise InvalidInput("must be after the start of validity", field="not_after")
    if w.not_after - w.not_before > MAX_VALIDITY:
        raise InvalidInput("a warrant is valid for at most a year", field="not_after")
    if w.sealed_until is not None and w.sealed_until < japan_date(w.not_before):
        raise InvalidInput("must not be before the warrant's start", field="sealed_until")


def check_against_table(w: Warrant, table: LegalBasisTable) -> list[str]:
    """Why the watchdog cannot approve this warrant (reason codes; empty: approvable on the table's terms)."""
    row = table.match(requester_kind="agency", agency=w.requester, purpose=w.purpose)
    if row is None or row.id != w.legal_basis:
        return ["no-legal-basis"]
    reasons: list[str] = []
    if "cross-reference" not in row.actions:
        reasons.append("action-not-allowed:cross-reference")
    if w.target not in row.targets:
        reasons.append("target-not-allowed")
    if w.sealed_until is not None:
        if row.max_seal_days == 0:
            reasons.append("sealing-not-allowed")
        elif w.sealed_until > japan_date(w.not_after) + timedelta(days=row.max_seal_days):
            reasons.append("sealing-too-long")
    return reasons


@dataclass(frozen=True, slots=True)
class WarrantDecision:
    warrant: Warrant
    decision: Decision
    decided_at: datetime
    reasons: tuple[str, ...]


def decision_body(d: WarrantDecision) -> dict[str, Any]:
    return {**d.warrant.body(), "decision": d.decision, "decided": _ts(d.decided_at), "reasons": list(d.reasons)}


def verify_warrant(token: str, keys: Mapping[str, Ed25519PublicKey]) -> Warrant:
    """An *approved* warrant from its token, or Refused (field ``warrant``): forged, unknown issuer, malformed, or
    a refusal statement presented as a warrant."""
    body = verify(token, "warrant", keys)
    if body.get("decision") != "approved":
        raise Refused("is not an approved warrant", field="warrant")
    try:
        return Warrant.from_body(body)
    except (KeyError, TypeError, ValueError, OverflowError, OSError, InvalidInput):
        raise Refused("is not a well-formed signed warrant statement", field="warrant") from None


# --- revocation lists -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Revoked:
    kind: Literal["warrant", "pia"]
    id: str
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class RevocationList:
    seq: int
    issued_at: datetime
    next_update: datetime
    revoked: tuple[Revoked, ...]

    def body(self) -> dict[str, Any]:
        return {
            "v": 1,
            "seq": self.seq,
            "issued": _ts(self.issued_at),
            "next": _ts(self.next_update),
            "revoked": [
                {"kind": r.kind, "id": r.id, "at": _ts(r.at), "reason": r.reason}
                for r in sorted(self.revoked, key=lambda r: (r.kind, r.id))
            ],
        }


def verify_revocation_list(token: str, keys: Mapping[str, Ed25519PublicKey]) -> RevocationList:
    body = verify(token, "revocations", keys)
    try:
        entries = tuple(
            Revoked(kind=e["kind"], id=str(e["id"]), at=_dt(e["at"]), reason=str(e["reason"])) for e in body["revoked"]
        )
        if any(e.kind not in ("warrant", "pia") for e in entries):
            raise ValueError("kind")
        rl = RevocationList(
            seq=body["seq"], issued_at=_dt(body["issued"]), next_update=_dt(body["next"]), revoked=entries
        )
        if not isinstance(rl.seq, int) or rl.seq < 1 or rl.next_update <= rl.issued_at:
            raise ValueError("seq")
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise Refused("is not a well-formed signed revocations statement", field="revocations") from None
    return rl


def usable_token(row: Mapping[str, object]) -> str:
    """The token of a warrant as the watchdog's register shows it (``Watchdog.warrant``), if it may be used; a
    warrant not approved (or no longer) is refused with the register's reason rather than sent on as a bare id."""
    token, status = row.get("token"), row.get("status")
    if status == "approved" and token:
        return str(token)
    reason = {"requested": "warrant-not-approved", "refused": "warrant-refused"}.get(str(status), "warrant-revoked")
    raise Refused(f"the warrant cannot be used ({reason})", field="warrant")
