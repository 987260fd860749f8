"""What a certificate of residence says (pure: no storage, no HTTP, no rendering).

A request names the resident (a handle of the home register), the counter that asks (any municipality: 広域交付
when it is not the home), who asks — the resident (``self``), a proxy with a mandate (``proxy``), or a third party
with a statutory reason (``third-party``, 職務上請求) — and the items wanted beyond the four basic ones.  Which
items may go on the certificate is the decision point's (legal basis ∩ request, refused whole when the request asks
for more: 本籍 only when asked, and never at another municipality's counter, 住基法 第12条の4); the items come from
the register (:mod:`sekisho.registry.certificates`), which records the access before they leave.

The JSON form (:meth:`Certificate.document`) is what is signed (a detached JWS over its canonical bytes) and what
the PDF shows; the PDF is rendered from it, so the two cannot say different things.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Literal

from sekisho.errors import InvalidInput, Refused
from sekisho.jp.catalogue import get_municipality
from sekisho.jp.clock import JST
from sekisho.jp.wareki import PartialDate, format_wareki

FORMAT: Final = "sekisho-residence-certificate/1"
#: always on a certificate (住基法 第12条第5項: the items the law lists first)
BASIC_ITEMS: Final = ("name", "birth_date", "sex", "address")
#: on request only: 世帯主・続柄, 本籍・筆頭者 and the others a resident may ask for (the decision point decides)
OPTIONAL_ITEMS: Final = ("kana", "resident_since", "household", "honseki", "moved")
ITEMS: Final = BASIC_ITEMS + OPTIONAL_ITEMS
RequesterKind = Literal["self", "household", "proxy", "third-party"]
REQUESTER_KINDS: Final = ("self", "household", "proxy", "third-party")
#: the decision point's requester kinds (``sekisho.protocols.access.RequesterKind``): a member of the resident's
#: household asks as the resident does (住基法 第12条第1項: 本人又は同一世帯の者)
POLICY_KIND: Final[Mapping[str, str]] = {
    "self": "resident",
    "household": "resident",
    "proxy": "proxy",
    "third-party": "third-party",
}
KIND_LABEL: Final[Mapping[str, str]] = {
    "self": "本人",
    "household": "同一世帯の者",
    "proxy": "代理人",
    "third-party": "第三者（職務上請求）",
}
CERTIFICATION: Final = "この写しは住民票の原本と相違ないことを証明する。"
#: a closed record's copy (除票の写し, 住基法 第15条の4): the home keeps the 除票 of whoever moved out or died
CLOSED_CERTIFICATION: Final = "この写しは除票の原本と相違ないことを証明する。"
#: one person's record, or every member of the household shown (世帯全員の住民票の写し)
Scope = Literal["person", "household"]
SCOPES: Final = ("person", "household")
MAX_REASON = 200
_REQUESTER = re.compile(r"[A-Za-z0-9_./:-]{1,128}")
_SERIAL_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def parse_items(values: Iterable[str]) -> frozenset[str]:
    """The optional items asked for (comma lists allowed: ``kana,household``); the basic ones are always there."""
    out: set[str] = set()
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            if item not in ITEMS:
                raise InvalidInput(f"must be items among {', '.join(OPTIONAL_ITEMS)}", field="items")
            out.add(item)
    return frozenset(out) | frozenset(BASIC_ITEMS)


def parse_subject(text: str) -> tuple[str, str]:
    """``HANDLE@HOME`` → (handle, home municipality code)."""
    handle, sep, home = text.strip().rpartition("@")
    if not sep or not handle:
        raise InvalidInput("must be HANDLE@MUNICIPALITY (the resident's handle at the home register)", field="for")
    return handle, get_municipality(home, field="for").code


@dataclass(frozen=True, slots=True)
class Request:
    """One request at a counter.  ``requester`` is an id (a mandate or office registration), never a name."""

    handle: str
    home: str
    counter: str
    kind: RequesterKind
    items: frozenset[str] = frozenset(BASIC_ITEMS)
    requester: str | None = None
    reason: str | None = None
    copies: int = 1
    #: issued without a clerk (kiosk, convenience store, online): blocked for a protected resident
    self_service: bool = False
    #: ``household``: the whole household of ``handle`` (each member decided on and recorded on its own)
    scope: Scope = "person"
    #: the copy of ``handle``'s closed record (除票), not of an active one
    closed: bool = False

    def __post_init__(self) -> None:
        if self.kind not in REQUESTER_KINDS:
            raise InvalidInput("must be self, household, proxy or third-party", field="as")
        if self.scope not in SCOPES:
            raise InvalidInput("must be person or household", field="scope")
        if self.closed and self.scope == "household":
            raise InvalidInput("a 除票 is one person's closed record: not with the whole household", field="closed")
        unknown = self.items - set(ITEMS)
        if unknown or not set(BASIC_ITEMS) <= self.items:
            raise InvalidInput(f"must be items among {', '.join(ITEMS)}, the basic four included", field="items")
        if not 1 <= self.copies <= 10:
            raise InvalidInput("must be between 1 and 10", field="copies")
        if self.kind != "self" and (self.requester is None or not _REQUESTER.fullmatch(self.requester)):
            raise InvalidInput(
                "a household member names itself by its handle, a proxy or third party by an id (mandate or"
                " registration, 1-128 of [A-Za-z0-9_./:-])",
                field="requester",
            )
        if self.reason is not None and (not self.reason.strip() or len(self.reason) > MAX_REASON):
            raise InvalidInput(f"must be 1 to {MAX_REASON} characters", field="reason")

    def check_reason(self) -> None:
        """A third party must state its reason (住基法 第12条の3): without one nothing is asked of the register."""
        if self.kind == "third-party" and self.reason is None:
            raise Refused("a third party must state its statutory reason (職務上請求)", field="reason")

    @property
    def wide_area(self) -> bool:
        return self.counter != self.home

    @property
    def purpose(self) -> str:
        """The legal-basis row the request rests on (``jp/data/legal-bases.yaml``)."""
        if self.kind in ("self", "household"):
            return "certificate.wide-area" if self.wide_area else "certificate.self"
        return f"certificate.{self.kind}"

    def to_json(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "home": self.home,
            "counter": self.counter,
            "kind": self.kind,
            "items": sorted(self.items),
            "requester": self.requester,
            "reason": self.reason,
            "copies": self.copies,
            "self_service": self.self_service,
            "scope": self.scope,
            "closed": self.closed,
        }


def new_serial(code: str, day: date) -> str:
    """``212016-20261205-7KQ2X9MB``: the issuing municipality, the day, 40 random bits."""
    tail = "".join(secrets.choice(_SERIAL_ALPHABET) for _ in range(8))
    return f"{code}-{day:%Y%m%d}-{tail}"


def _date_text(iso: str | None, *, foreign: bool) -> str | None:
    if not iso:
        return None
    d = PartialDate.from_iso(iso)
    return d.gregorian() if foreign else d.wareki()


def _person(released: Mapping[str, Any], shown: tuple[str, ...]) -> dict[str, Any]:
    """One person's lines on the certificate: the basic four, then only the ``shown`` optional items."""
    foreign = bool(released.get("foreign"))
    person: dict[str, Any] = {
        "name": released["name"],
        "birth_date": _date_text(released["birth_date"], foreign=foreign),
        "sex": {"M": "男", "F": "女"}[released["sex"]],
        "address": released["address"],
    }
    if "kana" in shown:
        person["kana"] = released.get("kana")
    if "resident_since" in shown:
        for key in ("resident_since", "address_since", "filed_on"):
            person[key] = _date_text(released.get(key), foreign=foreign)
    if "household" in shown:
        person["household_head"] = released.get("household_head") or ""
        person["relationship"] = released.get("relationship") or ""
    if "honseki" in shown:
        person["honseki"] = released.get("honseki") or ""
        person["hittousha"] = released.get("hittousha") or ""
    if "moved" in shown:
        person["previous_address"] = released.get("previous_address") or ""
    closure = released.get("closed")
    if isinstance(closure, Mapping):  # a 除票: why and when the record was closed, and where the person went
        person["closed"] = {
            "reason": closure["reason"],
            "on": _date_text(closure["on"], foreign=foreign),
            "filed_on": _date_text(closure.get("filed_on"), foreign=foreign),
            "destination": closure.get("destination") or "",
        }
    return person


@dataclass(frozen=True, slots=True)
class Certificate:
    """One issued certificate: the issuer, the request's public facts and the released items (display-ready).
    ``person`` is the resident's lines; a whole household's certificate has its members' in ``members`` (the
    resident's among them) and ``person`` empty."""

    serial: str
    issuer: str  # municipality code
    issued_at: datetime
    counter: str
    kind: RequesterKind
    purpose: str
    items: tuple[str, ...]
    person: Mapping[str, Any]
    copies: int = 1
    omitted: tuple[str, ...] = field(default=())
    scope: Scope = "person"
    members: tuple[Mapping[str, Any], ...] = field(default=())

    @classmethod
    def build(
        cls, *, request: Request, released: Mapping[str, Any], items: Iterable[str], at: datetime, serial: str
    ) -> Certificate:
        """From the register's released items (``sekisho.registry.certificates``; a household's: ``{"members":
        [...]}``); only ``items`` are shown."""
        shown = tuple(i for i in ITEMS if i in set(items))
        members: tuple[Mapping[str, Any], ...] = ()
        if request.scope == "household":
            members = tuple(_person(m, shown) for m in released["members"])
            person: dict[str, Any] = {}
        else:
            person = _person(released, shown)
        omitted = tuple(i for i in ("household", "honseki") if i not in shown)
        return cls(
            serial=serial,
            issuer=request.home,
            issued_at=at.astimezone(JST).replace(microsecond=0),
            counter=request.counter,
            kind=request.kind,
            purpose=request.purpose,
            items=shown,
            person=person,
            copies=request.copies,
            omitted=omitted,
            scope=request.scope,
            members=members,
        )

    @property
    def closed(self) -> bool:
        """A 除票's copy (the closure is on the person's lines)."""
        return "closed" in self.person

    @property
    def issued_on(self) -> date:
        return self.issued_at.astimezone(JST).date()

    @property
    def issuer_name(self) -> str:
        return get_municipality(self.issuer).full_name

    @property
    def counter_name(self) -> str:
        return get_municipality(self.counter).full_name

    @property
    def issued_on_wareki(self) -> str:
        return format_wareki(self.issued_on)

    def document(self) -> dict[str, Any]:
        """The JSON form (what the JWS signs, what the PDF shows)."""
        return {
            "format": FORMAT,
            "serial": self.serial,
            "issuer": {"code": self.issuer, "name": self.issuer_name},
            "issued_at": self.issued_at.isoformat(),
            "issued_on": self.issued_on_wareki,
            "counter": {"code": self.counter, "name": self.counter_name, "wide_area": self.counter != self.issuer},
            "requester_kind": self.kind,
            "purpose": self.purpose,
            "copies": self.copies,
            "items": list(self.items),
            "omitted": list(self.omitted),
            **({"person": dict(self.person)} if self.scope == "person" else {}),
            **({"scope": "household", "members": [dict(m) for m in self.members]} if self.scope == "household" else {}),
            **({"record": "closed"} if self.closed else {}),
            "certification": CLOSED_CERTIFICATION if self.closed else CERTIFICATION,
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Certificate:
        if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
            raise InvalidInput(f"is not a {FORMAT} document", field="certificate")
        try:
            return cls(
                serial=str(doc["serial"]),
                issuer=str(doc["issuer"]["code"]),
                issued_at=datetime.fromisoformat(doc["issued_at"]),
                counter=str(doc["counter"]["code"]),
                kind=doc["requester_kind"],
                purpose=str(doc["purpose"]),
                items=tuple(doc["items"]),
                person=dict(doc["person"]) if doc.get("scope", "person") == "person" else {},
                copies=int(doc["copies"]),
                omitted=tuple(doc["omitted"]),
                scope="household" if doc.get("scope") == "household" else "person",
                members=tuple(dict(m) for m in doc.get("members", ())),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidInput(f"is not a well-formed {FORMAT} document", field="certificate") from None


def canonical(doc: Mapping[str, Any]) -> bytes:
    """The bytes the JWS signs: sorted keys, no spaces, UTF-8 (the verifier recomputes them from the file)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
