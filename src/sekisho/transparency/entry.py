"""The public log entry: what the world may know about one access, and nothing about the person.

Encoding (version 1) — the leaf data D[i] of the Merkle tree:

* a JSON object (RFC 8259) in UTF-8 with exactly the keys below, sorted by code point, no insignificant
  whitespace (``,`` and ``:`` separators), every key present (absent optional values are ``null``);
* values are ASCII strings, sorted arrays of ASCII strings, ``null``, or the integer ``v``; no floats, no
  escapes (the patterns below admit no character that JSON would escape);
* a decoder re-encodes what it parsed and refuses the entry unless the bytes are identical, so one access has
  exactly one encoding and one leaf hash.

==============  ===========================================================================================
``v``           1
``record_id``   16 random bytes, 32 lowercase hex digits (links the entry to the municipality's full record)
``at``          UTC time to the second, ``YYYY-MM-DDTHH:MM:SSZ``
``actor_kind``  agency | municipality | clerk | resident | transcryptor | watchdog | pki
``actor``       agency id or municipality code (a code, see below)
``terminal``    terminal id (a code) or null
``action``      a code: identity-confirmation, enrolment, notice, certificate, conversion, cross-reference,
                register-read, register-change, ...
``purpose``     a code (a purpose registered with the policy, never free text)
``legal_basis`` a code or null
``warrant``     a warrant id (a code) or null
``items``       sorted, distinct item names released (``name``, ``birth_date``, ``sex``, ``address``, ...)
``decision``    allow | deny
``reason_codes`` sorted, distinct codes
``subject``     HMAC-SHA256(k_res, nonce), 64 lowercase hex digits: only the resident can recognise it
``nonce``       16 random bytes, 32 lowercase hex digits; null while the entry is sealed
``sealed_until`` ``YYYY-MM-DD`` or null; set exactly when ``nonce`` is null
==============  ===========================================================================================

A *code* matches ``^[a-z0-9][a-z0-9._:-]{0,63}$`` and does not look like a date: there is no free-text field, so
a name, an address or a birth date cannot be written into the public log by mistake.

The per-resident commitment: ``k_res = HKDF-SHA256(root, salt = none, info = "sekisho/access-commitment/v1")``
(RFC 5869) from the resident's 32-byte secret root that only the register holds, and
``subject = HMAC-SHA256(k_res, nonce)`` (RFC 2104).  Fresh nonces make two entries of one resident unlinkable for
everyone without k_res; the resident's portal hands k_res to the resident, who finds every entry about them by
scanning the log.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sekisho.errors import IntegrityError, InvalidInput

VERSION = 1
COMMITMENT_INFO = b"sekisho/access-commitment/v1"
MAX_ENTRY_BYTES = 4096  # far below the uint16 limit of tlog-tiles entry bundles

ACTOR_KINDS = frozenset({"agency", "municipality", "clerk", "resident", "transcryptor", "watchdog", "pki"})
#: ``failed``: a release an earlier ``allow`` entry (same action, actor, purpose) announced did not complete
DECISIONS = frozenset({"allow", "deny", "failed"})
#: the actions the network uses today; any other code is accepted (new procedures need no log change)
KNOWN_ACTIONS = frozenset(
    {
        "identity-confirmation",
        "enrolment",
        "notice",
        "certificate",
        "conversion",
        "cross-reference",
        "register-read",
        "register-change",
    }
)

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,63}$")
ITEM_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# a code that looks like a date (1990-01-31, 1990.1.31, 19900131) or a long number is refused: it may be a birth
# date or a personal number
_DATE_LIKE = re.compile(
    r"(?:1[89]|20)\d\d([-._:])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])(?!\d)"
    r"|(?:1[89]|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])|\d{7,}"
)
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_AT_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
_DAY_RE = re.compile(r"^\d{4}-\d\d-\d\d$")
_KEYS = (
    "action",
    "actor",
    "actor_kind",
    "at",
    "decision",
    "items",
    "legal_basis",
    "nonce",
    "purpose",
    "reason_codes",
    "record_id",
    "sealed_until",
    "subject",
    "terminal",
    "v",
    "warrant",
)
MAX_ITEMS = 64


def check_code(value: object, field: str, *, date_like_ok: bool = False) -> str:
    if not isinstance(value, str) or not CODE_RE.match(value):
        raise InvalidInput("must be a code matching ^[a-z0-9][a-z0-9._:-]{0,63}$", field=field)
    if not date_like_ok and _DATE_LIKE.search(value):
        raise InvalidInput("a code must not look like a date or a long number", field=field)
    return value


def _check_codes(values: object, field: str, pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
    if not isinstance(values, (list, tuple)):
        raise InvalidInput("must be a list", field=field)
    if len(values) > MAX_ITEMS:
        raise InvalidInput("too many values", field=field)
    for v in values:
        if pattern is not None:
            if not isinstance(v, str) or not pattern.match(v):
                raise InvalidInput(f"each value must match {pattern.pattern}", field=field)
        else:
            check_code(v, field)
    out = tuple(values)
    if list(out) != sorted(set(out)):
        raise InvalidInput("values must be sorted and distinct", field=field)
    return out


@dataclass(frozen=True, slots=True)
class LogEntry:
    record_id: str
    at: datetime
    actor_kind: str
    actor: str
    terminal: str | None
    action: str
    purpose: str
    legal_basis: str | None
    warrant: str | None
    items: tuple[str, ...]
    decision: str
    reason_codes: tuple[str, ...]
    subject: str
    nonce: str | None
    sealed_until: date | None

    def __post_init__(self) -> None:
        if not isinstance(self.record_id, str) or not _HEX32.match(self.record_id):
            raise InvalidInput("must be 32 lowercase hex digits", field="record_id")
        offset = self.at.utcoffset() if isinstance(self.at, datetime) else None
        if offset is None:
            raise InvalidInput("must be a timezone-aware time", field="at")
        if offset.total_seconds() != 0 or self.at.microsecond:
            raise InvalidInput("must be UTC to the second", field="at")
        if self.actor_kind not in ACTOR_KINDS:
            raise InvalidInput("not a known actor kind", field="actor_kind")
        # municipality codes are six digits: numbers are expected here
        check_code(self.actor, "actor", date_like_ok=True)
        if self.terminal is not None:
            check_code(self.terminal, "terminal", date_like_ok=True)
        check_code(self.action, "action")
        check_code(self.purpose, "purpose")
        if self.legal_basis is not None:
            check_code(self.legal_basis, "legal_basis")
        if self.warrant is not None:
            check_code(self.warrant, "warrant", date_like_ok=True)
        _check_codes(self.items, "items", ITEM_RE)
        if self.decision not in DECISIONS:
            raise InvalidInput("must be allow, deny or failed", field="decision")
        _check_codes(self.reason_codes, "reason_codes")
        if not isinstance(self.subject, str) or not _HEX64.match(self.subject):
            raise InvalidInput("must be 64 lowercase hex digits", field="subject")
        if self.nonce is None:
            if self.sealed_until is None:
                raise InvalidInput("an entry without nonce must be sealed until a date", field="nonce")
        else:
            if not isinstance(self.nonce, str) or not _HEX32.match(self.nonce):
                raise InvalidInput("must be 32 lowercase hex digits", field="nonce")
            if self.sealed_until is not None:
                raise InvalidInput("a sealed entry must not publish its nonce", field="nonce")
        if self.sealed_until is not None and (
            not isinstance(self.sealed_until, date) or isinstance(self.sealed_until, datetime)
        ):
            raise InvalidInput("must be a date", field="sealed_until")

    @property
    def sealed(self) -> bool:
        return self.nonce is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "actor": self.actor,
            "actor_kind": self.actor_kind,
            "at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "decision": self.decision,
            "items": list(self.items),
            "legal_basis": self.legal_basis,
            "nonce": self.nonce,
            "purpose": self.purpose,
            "reason_codes": list(self.reason_codes),
            "record_id": self.record_id,
            "sealed_until": self.sealed_until.isoformat() if self.sealed_until else None,
            "subject": self.subject,
            "terminal": self.terminal,
            "v": VERSION,
            "warrant": self.warrant,
        }

    def encode(self) -> bytes:
        """The canonical bytes (see the module docstring): the leaf data of the log."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogEntry:
        if not isinstance(d, dict) or tuple(sorted(d)) != _KEYS:
            raise InvalidInput("the entry must have exactly the version-1 fields", field="entry")
        if d["v"] != VERSION or type(d["v"]) is not int:
            raise InvalidInput("unsupported entry version", field="v")
        at = d["at"]
        if not isinstance(at, str) or not _AT_RE.match(at):
            raise InvalidInput("must be YYYY-MM-DDTHH:MM:SSZ", field="at")
        sealed = d["sealed_until"]
        if sealed is not None and (not isinstance(sealed, str) or not _DAY_RE.match(sealed)):
            raise InvalidInput("must be YYYY-MM-DD", field="sealed_until")
        for field in ("items", "reason_codes"):
            if not isinstance(d[field], list):
                raise InvalidInput("must be a list", field=field)
        try:
            when = datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            day = date.fromisoformat(sealed) if sealed else None
        except ValueError:
            raise InvalidInput("not a valid calendar time", field="at") from None
        return cls(
            record_id=d["record_id"],
            at=when,
            actor_kind=d["actor_kind"],
            actor=d["actor"],
            terminal=d["terminal"],
            action=d["action"],
            purpose=d["purpose"],
            legal_basis=d["legal_basis"],
            warrant=d["warrant"],
            items=tuple(d["items"]),
            decision=d["decision"],
            reason_codes=tuple(d["reason_codes"]),
            subject=d["subject"],
            nonce=d["nonce"],
            sealed_until=day,
        )

    @classmethod
    def decode(cls, data: bytes) -> LogEntry:
        """Parse and validate; refuse anything but the canonical encoding."""
        if len(data) > MAX_ENTRY_BYTES:
            raise InvalidInput("the entry is too long", field="entry")
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise InvalidInput("the entry is not JSON", field="entry") from None
        entry = cls.from_dict(obj)
        if entry.encode() != data:
            raise InvalidInput("the entry is not in canonical form", field="entry")
        return entry


# --- fast validation of encoded entries (the log's append path) ------------------------------------------
# Canonical encoding fixes the layout byte for byte, so one regular expression checks the shape; the few
# rules a regular expression cannot state are checked on its groups.  Equivalent to LogEntry.decode (a test
# checks both agree) at a fraction of the cost.

_C = rb"[a-z0-9][a-z0-9._:-]{0,63}"
_I = rb"[a-z][a-z0-9_]{0,31}"
_KINDS = b"|".join(k.encode() for k in sorted(ACTOR_KINDS))
_ENCODED_RE = re.compile(
    rb'\{"action":"(?P<action>' + _C + rb')","actor":"' + _C + rb'","actor_kind":"(?:' + _KINDS + rb')",'
    rb'"at":"(?P<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)Z","decision":"(?:allow|deny|failed)",'
    rb'"items":\[(?P<items>(?:"' + _I + rb'"(?:,"' + _I + rb'")*)?)\],'
    rb'"legal_basis":(?:null|"(?P<legal>' + _C + rb')"),"nonce":(?P<nonce>null|"[0-9a-f]{32}"),'
    rb'"purpose":"(?P<purpose>' + _C + rb')","reason_codes":\[(?P<reasons>(?:"' + _C + rb'"(?:,"' + _C + rb'")*)?)\],'
    rb'"record_id":"[0-9a-f]{32}","sealed_until":(?:null|"(?P<sealed>\d{4}-\d\d-\d\d)"),'
    rb'"subject":"[0-9a-f]{64}","terminal":(?:null|"' + _C + rb'"),"v":1,"warrant":(?:null|"' + _C + rb'")\}'
)


_DATE_LIKE_BYTES = re.compile(_DATE_LIKE.pattern.encode())
_NON_DIGITS = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)


def _sorted_distinct(group: bytes | None, field: str) -> None:
    if not group or b"," not in group:
        return
    # the quoted values sort as the values do: '"' sorts below every character a code may contain
    values = group.split(b",")
    if len(values) > MAX_ITEMS:
        raise InvalidInput("too many values", field=field)
    if sorted(set(values)) != values:
        raise InvalidInput("values must be sorted and distinct", field=field)


def validate_encoded(data: bytes) -> None:
    """Raise unless ``data`` is a canonical version-1 entry (what :meth:`LogEntry.decode` accepts)."""
    if len(data) > MAX_ENTRY_BYTES:
        raise InvalidInput("the entry is too long", field="entry")
    m = _ENCODED_RE.fullmatch(data)
    if m is None:
        raise InvalidInput("not a canonical version-1 entry", field="entry")
    action, purpose, legal, reasons, items, at, nonce, sealed = m.group(
        "action", "purpose", "legal", "reasons", "items", "at", "nonce", "sealed"
    )
    _sorted_distinct(items, "items")
    _sorted_distinct(reasons, "reason_codes")
    # one search over the codes that must not look like dates ('/' joins them: no match spans two codes);
    # a date has at least six digits, which most codes have not: count them first, at C speed
    codes = b"/".join((action, purpose, legal or b"", reasons or b""))
    if len(codes.translate(None, _NON_DIGITS)) >= 6 and _DATE_LIKE_BYTES.search(codes):
        raise InvalidInput("a code must not look like a date or a long number", field="entry")
    try:
        datetime.fromisoformat(at.decode())
        if sealed is not None:
            date.fromisoformat(sealed.decode())
    except ValueError:
        raise InvalidInput("not a valid calendar time", field="at") from None
    if (nonce == b"null") != (sealed is not None):
        raise InvalidInput("an entry is sealed exactly when it has no nonce", field="nonce")


# --- the per-resident commitment ------------------------------------------------------------------------


def derive_commitment_key(root: bytes) -> bytes:
    """k_res = HKDF-SHA256(root, info="sekisho/access-commitment/v1") (RFC 5869); the resident's scanning key."""
    if len(root) != 32:
        raise InvalidInput("the resident root is 32 bytes", field="root")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=COMMITMENT_INFO).derive(root)


def commit_subject(k_res: bytes, nonce: bytes) -> bytes:
    """subject = HMAC-SHA256(k_res, nonce)."""
    if len(k_res) != 32:
        raise InvalidInput("the commitment key is 32 bytes", field="k_res")
    if len(nonce) != 16:
        raise InvalidInput("the nonce is 16 bytes", field="nonce")
    return hmac.digest(k_res, nonce, "sha256")


def verify_subject(entry: LogEntry, k_res: bytes, *, nonce: bytes | None = None) -> None:
    """Raise unless ``entry`` is about the resident whose commitment key is ``k_res``.

    A sealed entry carries no nonce; pass the nonce the municipality revealed after the sealing date.
    """
    if entry.nonce is not None:
        if nonce is not None and nonce.hex() != entry.nonce:
            raise InvalidInput("the revealed nonce differs from the published one", field="nonce")
        nonce = bytes.fromhex(entry.nonce)
    elif nonce is None:
        raise InvalidInput("a sealed entry can be matched only with its revealed nonce", field="nonce")
    if not hmac.compare_digest(commit_subject(k_res, nonce).hex(), entry.subject):
        raise IntegrityError("the entry's subject is not this resident's commitment", field="subject")


_NONCE_MARK = b'"nonce":"'
_SUBJECT_MARK = b'"subject":"'


def scan_for_subject(entries: Iterable[tuple[int, bytes]], k_res: bytes) -> Iterator[tuple[int, LogEntry]]:
    """The (index, entry) pairs about this resident among canonical entries; sealed entries never match.

    Canonical encoding puts ``"nonce":"…"`` and ``"subject":"…"`` at fixed markers, so the scan runs one HMAC
    per entry without parsing JSON, and parses (validates) only the matches.
    """
    if len(k_res) != 32:
        raise InvalidInput("the commitment key is 32 bytes", field="k_res")
    digest = hmac.digest
    for index, data in entries:
        i = data.find(_NONCE_MARK)
        j = data.find(_SUBJECT_MARK)
        if i < 0 or j < 0:
            continue  # sealed (nonce is null) or not an entry
        try:
            nonce = bytes.fromhex(data[i + 9 : i + 41].decode("ascii"))
        except ValueError:
            continue
        if digest(k_res, nonce, "sha256").hex().encode() != data[j + 11 : j + 75]:
            continue
        yield index, LogEntry.decode(data)


# --- the municipality's side: an access record and its public entry -------------------------------------


def _utc_second(when: datetime) -> datetime:
    if when.utcoffset() is None:
        raise InvalidInput("must be a timezone-aware time", field="at")
    return when.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One access as the municipality keeps it (with the resident, in ``reg_access``) and as the log shows it.

    ``nonce`` stays with the municipality: it is published in the entry unless the entry is sealed, and revealed
    to the resident once ``sealed_until`` has passed.
    """

    entry: LogEntry
    nonce: bytes

    def entry_bytes(self) -> bytes:
        return self.entry.encode()

    def __repr__(self) -> str:
        return f"AccessRecord(record_id={self.entry.record_id!r}, sealed={self.entry.sealed})"


_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class AccessRecordBuilder:
    """Build an :class:`AccessRecord`; immutable, and every setting may be made once only.

    >>> b = AccessRecordBuilder().actor("agency", "pension").action("identity-confirmation", purpose="pension.benefit")
    >>> rec = b.items(["address", "name"]).decision("allow").build(k_res)       # doctest: +SKIP
    """

    _fields: tuple[tuple[str, Any], ...] = ()

    def _set(self, **kw: Any) -> AccessRecordBuilder:
        have = dict(self._fields)
        for k in kw:
            if k in have:
                raise InvalidInput("may only be set once", field=k)
        return replace(self, _fields=self._fields + tuple(kw.items()))

    def actor(self, kind: str, actor: str, *, terminal: str | None = None) -> AccessRecordBuilder:
        return self._set(actor_kind=kind, actor=actor, terminal=terminal)

    def action(
        self, action: str, *, purpose: str, legal_basis: str | None = None, warrant: str | None = None
    ) -> AccessRecordBuilder:
        return self._set(action=action, purpose=purpose, legal_basis=legal_basis, warrant=warrant)

    def items(self, items: Iterable[str]) -> AccessRecordBuilder:
        values = list(items)
        if len(set(values)) != len(values):
            raise InvalidInput("an item is named twice", field="items")
        return self._set(items=tuple(sorted(values)))

    def decision(self, decision: str, reason_codes: Iterable[str] = ()) -> AccessRecordBuilder:
        return self._set(decision=decision, reason_codes=tuple(sorted(set(reason_codes))))

    def at(self, when: datetime) -> AccessRecordBuilder:
        return self._set(at=_utc_second(when))

    def sealed_until(self, day: date) -> AccessRecordBuilder:
        return self._set(sealed_until=day)

    def build(self, k_res: bytes, *, record_id: bytes | None = None, nonce: bytes | None = None) -> AccessRecord:
        f = dict(self._fields)
        for required in ("actor_kind", "action", "decision"):
            if required not in f:
                raise InvalidInput("must be set before build", field=required)
        nonce = os.urandom(16) if nonce is None else nonce
        rid = os.urandom(16) if record_id is None else record_id
        if len(rid) != 16:
            raise InvalidInput("the record id is 16 bytes", field="record_id")
        sealed = f.get("sealed_until")
        entry = LogEntry(
            record_id=rid.hex(),
            at=f.get("at") or datetime.now(UTC).replace(microsecond=0),
            actor_kind=f["actor_kind"],
            actor=f["actor"],
            terminal=f.get("terminal"),
            action=f["action"],
            purpose=f["purpose"],
            legal_basis=f.get("legal_basis"),
            warrant=f.get("warrant"),
            items=f.get("items", ()),
            decision=f["decision"],
            reason_codes=f.get("reason_codes", ()),
            subject=commit_subject(k_res, nonce).hex(),
            nonce=None if sealed else nonce.hex(),
            sealed_until=sealed,
        )
        return AccessRecord(entry=entry, nonce=nonce)
