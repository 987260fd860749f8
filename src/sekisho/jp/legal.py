"""Legal bases as data: who may receive which items of the register, for which task, under which article.

The table follows the shape of the Basic Resident Registration Act's annexes (住基法 別表第一〜第六: "this body,
for this task, may be given the identity-confirmation information") and of the My Number Act's annex (番号法 別表:
which body may use the number for which task).  Each row is one (requester, task) pair: the actions it covers
(identity confirmation, enrolment, change notices, certificates, reads, cross-references), the items it may
receive, the change events it may be notified of, whether it rests on a law or only on the resident's consent,
and the article — with ``verified: false`` wherever the article has not been checked against the law's text.

The table is public.  It ships as ``data/legal-bases.yaml`` (validated against ``data/legal-bases.schema.json``);
:func:`load_table` reads another file of the same form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal, cast, get_args

import jsonschema
import yaml

from sekisho.errors import InvalidInput
from sekisho.protocols.access import Action, RequesterKind

#: every item the register can release, with what it covers (an agency never receives anything not named here)
ITEMS: Final[Mapping[str, str]] = {
    "name": "氏名 (for foreign residents also the alphabet name and 通称)",
    "kana": "振り仮名 of the name",
    "birth_date": "出生の年月日",
    "sex": "男女の別",
    "address": "住所 with 方書",
    "resident_since": "住民となった年月日 (e.g. the election roll's three-month rule)",
    "household": "世帯主の氏名 and 続柄",
    "honseki": "本籍 and 筆頭者 (Japanese residents only)",
    "nationality": "国籍・地域",
    "residence_status": "在留資格, period and expiry, card number (foreign residents)",
    "death": "the fact and date of death (消除事由)",
    "moved": "the fact and date of a move in or out, and the other municipality",
    "history": "異動履歴: earlier versions of the record",
    "benefits": "the benefit flags (選挙人名簿, 国保, 後期高齢, 介護, 国民年金, 児童手当)",
}

#: the change events the register announces (the registry's outbox kinds)
EVENTS: Final = frozenset({"died", "moved_out", "moved_in", "moved_within", "name_changed"})

ACTIONS: Final[frozenset[str]] = frozenset(get_args(Action))
REQUESTER_KINDS: Final[frozenset[str]] = frozenset(get_args(RequesterKind))

Basis = Literal["law", "consent"]

_SCHEMA: Final = "legal-bases.schema.json"
_DATA: Final = "legal-bases.yaml"


@dataclass(frozen=True, slots=True)
class Agency:
    id: str  # also its pseudonym domain
    name: str  # in Japanese, as the body calls itself
    name_en: str
    #: joint: a body the local governments run together (地方共同法人, e.g. J-LIS)
    kind: Literal["national", "prefectural", "municipal", "joint", "private"]


@dataclass(frozen=True, slots=True)
class LegalBasis:
    """One row: ``requester`` (of ``requester_kind``) may, for task ``purpose``, do ``actions`` and receive
    ``items`` and ``events`` — under ``law``/``article``, or only with the resident's consent."""

    id: str
    purpose: str
    requester_kind: RequesterKind
    agency: str | None  # for requester_kind "agency": the agency (= domain) the row is for
    actions: frozenset[str]
    items: frozenset[str]
    events: frozenset[str]
    basis: Basis
    law: str | None
    article: str | None
    verified: bool
    description: str
    #: consent-only services a municipality may decline to join (a municipality-level setting)
    optional: bool = False
    #: for cross-references: the agencies B this task may convert pseudonyms to, under a warrant
    targets: frozenset[str] = frozenset()
    #: how long after a warrant's expiry the resident's view of its uses may stay sealed (0: never sealed)
    max_seal_days: int = 0
    note: str = ""

    @property
    def consent(self) -> bool:
        return self.basis == "consent"

    @property
    def citation(self) -> str:
        if self.basis == "consent":
            return "本人の同意 (no legal basis)"
        mark = "" if self.verified else " [unverified]"
        return f"{self.law} {self.article}{mark}"


@dataclass(frozen=True, slots=True)
class LegalBasisTable:
    as_of: str
    agencies: Mapping[str, Agency]
    rows: tuple[LegalBasis, ...]

    def row(self, row_id: str) -> LegalBasis:
        for r in self.rows:
            if r.id == row_id:
                return r
        raise InvalidInput("names no row of the legal-basis table", field="legal_basis")

    def purposes(self) -> frozenset[str]:
        return frozenset(r.purpose for r in self.rows)

    def match(self, *, requester_kind: str, agency: str | None, purpose: str) -> LegalBasis | None:
        """The row for this requester and task, or None.  For agencies the agency must match too."""
        for r in self.rows:
            if r.purpose != purpose or r.requester_kind != requester_kind:
                continue
            if requester_kind == "agency" and r.agency != agency:
                continue
            return r
        return None


def _schema() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(resources.files("sekisho.jp").joinpath("data", _SCHEMA).read_text()))


def validate_document(doc: object, schema: Mapping[str, Any], *, field: str) -> None:
    """JSON Schema validation; the error names the path of the first problem, never the value."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(document)"
        raise InvalidInput(f"breaks the schema at {where} ({errors[0].validator} rule)", field=field)


def _rows(raw: Iterable[Mapping[str, Any]], agencies: Mapping[str, Agency]) -> tuple[LegalBasis, ...]:
    rows: list[LegalBasis] = []
    seen: set[str] = set()
    keys: set[tuple[str, str | None, str]] = set()
    for i, r in enumerate(raw):
        where = f"bases[{i}]"
        if r["id"] in seen:
            raise InvalidInput("repeats a row id", field=f"{where}.id")
        seen.add(r["id"])
        kind = r["requester_kind"]
        agency = r.get("agency")
        if (kind == "agency") != (agency is not None):
            raise InvalidInput("names an agency exactly when requester_kind is agency", field=f"{where}.agency")
        if agency is not None and agency not in agencies:
            raise InvalidInput("names an agency the table does not list", field=f"{where}.agency")
        key = (kind, agency, r["purpose"])
        if key in keys:
            raise InvalidInput("repeats a (requester, purpose) pair", field=f"{where}.purpose")
        keys.add(key)
        basis = r["basis"]
        if (basis == "law") != bool(r.get("law") and r.get("article")):
            raise InvalidInput("a law-based row cites law and article; a consent row cites none", field=where)
        targets = frozenset(r.get("targets", ()))
        if ("cross-reference" in r["actions"]) != bool(targets):
            raise InvalidInput("lists targets exactly when it allows cross-references", field=f"{where}.targets")
        if not targets <= set(agencies):
            raise InvalidInput("names a target agency the table does not list", field=f"{where}.targets")
        rows.append(
            LegalBasis(
                id=r["id"],
                purpose=r["purpose"],
                requester_kind=kind,
                agency=agency,
                actions=frozenset(r["actions"]),
                items=frozenset(r["items"]),
                events=frozenset(r.get("events", ())),
                basis=basis,
                law=r.get("law"),
                article=r.get("article"),
                verified=r["verified"],
                description=r["description"],
                optional=r.get("optional", False),
                targets=targets,
                max_seal_days=r.get("max_seal_days", 0),
                note=r.get("note", ""),
            )
        )
    return tuple(rows)


def parse_table(doc: object) -> LegalBasisTable:
    """A table from its parsed YAML/JSON form, validated against the schema and the cross-row rules."""
    validate_document(doc, _schema(), field="legal_bases")
    d = cast(dict[str, Any], doc)
    agencies = {k: Agency(id=k, name=v["name"], name_en=v["name_en"], kind=v["kind"]) for k, v in d["agencies"].items()}
    return LegalBasisTable(as_of=str(d["as_of"]), agencies=agencies, rows=_rows(d["bases"], agencies))


def load_table(path: Path) -> LegalBasisTable:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        raise InvalidInput("cannot be read", field="legal_bases") from None
    except yaml.YAMLError:
        raise InvalidInput("is not valid YAML", field="legal_bases") from None
    return parse_table(doc)


@cache
def default_table() -> LegalBasisTable:
    """The sample table shipped with Sekisho (``sekisho/jp/data/legal-bases.yaml``)."""
    text = resources.files("sekisho.jp").joinpath("data", _DATA).read_text(encoding="utf-8")
    return parse_table(yaml.safe_load(text))
