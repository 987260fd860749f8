"""The JSON form of the identity-confirmation and cross-reference messages (``sekisho.protocols.agency``), as
they travel agency → locator → municipality over HTTP beside the binary batch (``sekisho.protocols.frames``).

Parsing checks shape only (types and the closed sets of statuses); each party validates meaning as it does
in-process.  Errors name the field, never the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from sekisho.errors import InvalidInput
from sekisho.protocols.agency import (
    CrossReferenceQuery,
    CrossReferenceStatus,
    IdentityAnswer,
    IdentityQuery,
    LookupStatus,
)

_LOOKUP: frozenset[str] = frozenset(get_args(LookupStatus))
_CROSSREF: frozenset[str] = frozenset(get_args(CrossReferenceStatus))


def _str(data: Mapping[str, Any], name: str, where: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise InvalidInput("must be a string", field=f"{where}.{name}")
    return value


def _obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("must be an object", field=where)
    return value


def identity_query_json(query: IdentityQuery) -> dict[str, Any]:
    return {
        "request_id": query.request_id,
        "requester": query.requester,
        "purpose": query.purpose,
        "items": list(query.items),
    }


def identity_query(value: object, where: str = "query") -> IdentityQuery:
    data = _obj(value, where)
    items = data.get("items")
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InvalidInput("must be a list of item names", field=f"{where}.items")
    return IdentityQuery(
        request_id=_str(data, "request_id", where),
        requester=_str(data, "requester", where),
        purpose=_str(data, "purpose", where),
        items=tuple(items),
    )


def crossref_query_json(query: CrossReferenceQuery) -> dict[str, Any]:
    return {
        "request_id": query.request_id,
        "requester": query.requester,
        "target": query.target,
        "purpose": query.purpose,
        "warrant": query.warrant,
    }


def crossref_query(value: object, where: str = "query") -> CrossReferenceQuery:
    data = _obj(value, where)
    return CrossReferenceQuery(
        **{k: _str(data, k, where) for k in ("request_id", "requester", "target", "purpose", "warrant")}
    )


def answers_json(answers: list[IdentityAnswer]) -> dict[str, Any]:
    return {"answers": [{"status": a.status, "items": dict(a.items), "reasons": list(a.reasons)} for a in answers]}


def answers(value: object) -> list[IdentityAnswer]:
    data = _obj(value, "body")
    raw = data.get("answers")
    if not isinstance(raw, list):
        raise InvalidInput("must be a list", field="answers")
    out = []
    for i, entry in enumerate(raw):
        a = _obj(entry, f"answers[{i}]")
        status, items, reasons = a.get("status"), a.get("items", {}), a.get("reasons", [])
        if status not in _LOOKUP:
            raise InvalidInput("must be a lookup status", field=f"answers[{i}].status")
        if not isinstance(items, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in items.items()):
            raise InvalidInput("must map item names to text", field=f"answers[{i}].items")
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise InvalidInput("must be a list of reasons", field=f"answers[{i}].reasons")
        out.append(IdentityAnswer(status=status, items=items, reasons=tuple(reasons)))
    return out


def statuses_json(statuses: list[CrossReferenceStatus]) -> dict[str, Any]:
    return {"statuses": list(statuses)}


def statuses(value: object) -> list[CrossReferenceStatus]:
    raw = _obj(value, "body").get("statuses")
    if not isinstance(raw, list) or not all(s in _CROSSREF for s in raw):
        raise InvalidInput("must be a list of cross-reference statuses", field="statuses")
    return list(raw)


ANSWERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["answers"],
    "properties": {
        "answers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {"type": "string", "enum": sorted(_LOOKUP)},
                    "items": {"type": "object", "additionalProperties": {"type": "string"}},
                    "reasons": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}
STATUSES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["statuses"],
    "properties": {"statuses": {"type": "array", "items": {"type": "string", "enum": sorted(_CROSSREF)}}},
}
