"""Privacy impact assessments: the document, its level, and the watchdog's review rules (pure).

Japan's rule for the My Number (特定個人情報保護評価に関する規則, the Personal Information Protection Commission's
rule of 2014) scales the assessment with the number of persons a system holds: none below 1,000 persons, a
simplified assessment in between, a full assessment (with public consultation and a third-party review) at
300,000 or more — and also from 100,000 when 500 or more staff handle the data or a serious incident happened in
the past year (that refinement is UNVERIFIED here: :func:`required_level` is the one place to correct it).

Sekisho goes further than the law in one respect: *every* agency system files a document, even below 1,000
persons, because its list of purposes and items is what the decision point enforces.  Level ``none`` means the
declaration alone (no assessment sections).

Reasons are codes (``[a-z0-9-]`` with an optional ``:item`` suffix), never values from the document.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal, cast

import yaml

from sekisho.errors import InvalidInput
from sekisho.jp.legal import LegalBasisTable, validate_document
from sekisho.protocols.statements import canonical

Level = Literal["none", "simplified", "full"]
LEVELS: Final[tuple[Level, ...]] = ("none", "simplified", "full")

#: no assessment below this many persons (the declaration is still filed)
SIMPLIFIED_FROM: Final = 1_000
#: a full assessment from this many persons
FULL_FROM: Final = 300_000
#: between these and FULL_FROM, a full assessment when many handle the data or after a serious incident (UNVERIFIED)
FULL_CONDITIONAL_FROM: Final = 100_000
FULL_CONDITIONAL_HANDLERS: Final = 500

#: the sections each level must have beyond the declaration (the JSON Schema checks the same, by level)
SECTIONS: Final[Mapping[Level, tuple[str, ...]]] = {
    "none": (),
    "simplified": ("handlers", "serious_incident_within_year", "safeguards", "risks"),
    "full": (
        "handlers",
        "serious_incident_within_year",
        "safeguards",
        "risks",
        "data_flows",
        "public_consultation",
        "third_party_review",
        "incident_response",
    ),
}

#: a full assessment must say how each of these risks is met
FULL_RISK_CATEGORIES: Final = ("unauthorised-access", "leak", "purpose-creep", "over-retention", "inaccuracy")

#: an approval is good for five years, then the system is assessed again (the PPC's re-assessment period)
APPROVAL_YEARS: Final = 5

_SCHEMA: Final = "pia.schema.json"


def required_level(persons: int, *, handlers: int = 0, serious_incident: bool = False) -> Level:
    if persons < SIMPLIFIED_FROM:
        return "none"
    if persons >= FULL_FROM:
        return "full"
    if persons >= FULL_CONDITIONAL_FROM and (handlers >= FULL_CONDITIONAL_HANDLERS or serious_incident):
        return "full"
    return "simplified"


@dataclass(frozen=True, slots=True)
class Pia:
    """One PIA document, parsed and schema-valid.  ``document`` is the whole of it; ``digest`` its SHA-256 over
    the canonical JSON form (what the watchdog's decision signs)."""

    id: str
    agency: str
    system: str
    level: Level
    purposes: frozenset[str]
    items: frozenset[str]
    events: frozenset[str]
    persons: int
    submitted_on: date
    supersedes: str | None
    document: Mapping[str, Any]

    @property
    def digest(self) -> str:
        return hashlib.sha256(canonical(self.document)).hexdigest()

    def canonical_json(self) -> str:
        return canonical(self.document).decode("utf-8")


@cache
def _schema() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(resources.files("sekisho.policy.data").joinpath(_SCHEMA).read_text()))


def parse_pia(doc: object) -> Pia:
    """Validate a PIA document against the schema (sections by level included); return it parsed."""
    validate_document(doc, _schema(), field="pia")
    d = cast(dict[str, Any], doc)
    try:
        submitted = date.fromisoformat(d["submitted_on"])
    except ValueError:
        raise InvalidInput("must be a date (YYYY-MM-DD)", field="pia.submitted_on") from None
    return Pia(
        id=d["id"],
        agency=d["agency"],
        system=d["system"],
        level=d["level"],
        purposes=frozenset(d["purposes"]),
        items=frozenset(d["items"]),
        events=frozenset(d["events"]),
        persons=d["persons"],
        submitted_on=submitted,
        supersedes=d.get("supersedes"),
        document=d,
    )


def load_pia(path: Path) -> Pia:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        raise InvalidInput("cannot be read", field="pia") from None
    except yaml.YAMLError:
        raise InvalidInput("is not valid YAML", field="pia") from None
    return parse_pia(doc)


def pia_from_json(text: str) -> Pia:
    return parse_pia(json.loads(text))


def review(pia: Pia, table: LegalBasisTable) -> list[str]:
    """The watchdog's findings: every reason the PIA cannot be approved as it stands (empty: approvable).

    Checks what a schema cannot: the level against the number of persons, each purpose against the legal-basis
    table *for this agency*, each item and event against what those rows allow, the risks a full assessment must
    cover."""
    findings: list[str] = []
    d = pia.document
    needed = required_level(
        pia.persons, handlers=int(d.get("handlers", 0)), serious_incident=bool(d.get("serious_incident_within_year"))
    )
    if LEVELS.index(pia.level) < LEVELS.index(needed):
        findings.append(f"pia-level-too-low:{needed}")
    if pia.agency not in table.agencies:
        findings.append("agency-unknown")
        return findings
    rows = [table.match(requester_kind="agency", agency=pia.agency, purpose=p) for p in sorted(pia.purposes)]
    if any(r is None for r in rows):
        findings.append("purpose-no-legal-basis")
    allowed_items = frozenset().union(*(r.items for r in rows if r is not None))
    allowed_events = frozenset().union(*(r.events for r in rows if r is not None))
    findings += [f"item-beyond-legal-basis:{i}" for i in sorted(pia.items - allowed_items)]
    findings += [f"event-beyond-legal-basis:{e}" for e in sorted(pia.events - allowed_events)]
    if pia.level == "full":
        covered = {r["category"] for r in d.get("risks", ())}
        findings += [f"risk-not-assessed:{c}" for c in FULL_RISK_CATEGORIES if c not in covered]
    return findings


def approved_scope(pias: Iterable[Mapping[str, Any]]) -> tuple[frozenset[str], frozenset[str]] | None:
    """The purposes and items of the PIA in force among ``pias`` (``Watchdog.pias(agency=…)``), or ``None``."""
    for pia in pias:
        if pia["status"] == "approved":
            return frozenset(pia["purposes"]), frozenset(pia["items"])
    return None
