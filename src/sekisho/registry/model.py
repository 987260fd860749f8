"""The resident record (住民票) of one municipal register, as the domain sees it.

Pure data: no storage, no HTTP.  A :class:`Resident` holds the items of 住民票 listed in ``domain.md``; the
secret root and the polymorphic pseudonym are *not* part of it: they never leave the register's storage
layer, so nothing that renders or serialises a ``Resident`` can leak them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sekisho.errors import InvalidInput
from sekisho.jp.address import Address
from sekisho.jp.wareki import PartialDate

JAPAN = "JP"
HEAD = "世帯主"


class Status(StrEnum):
    ACTIVE = "active"
    #: created by a move-in whose hand-over from the previous municipality is still in flight; not effective
    INCOMING = "incoming"
    #: 除票: kept (150 years), never deleted
    CLOSED = "closed"


class ClosedReason(StrEnum):
    DEATH = "死亡"
    MOVE_OUT = "転出"
    ABROAD = "国外転出"
    EX_OFFICIO = "職権消除"
    DISAPPEARANCE = "失踪宣告"


class EventKind(StrEnum):
    REGISTERED = "registered"  # record created when a register is loaded (add / import)
    BIRTH = "birth"  # 出生
    DEATH = "death"  # 死亡
    MOVE_IN = "move-in"  # 転入
    MOVE_OUT = "move-out"  # 転出届: record stays active, a transfer is issued
    MOVE_OUT_CANCELLED = "move-out-cancelled"  # 転出取消
    HANDED_OVER = "handed-over"  # the destination took the person in: the record closes (転出確定)
    MOVE_WITHIN = "move-within"  # 転居
    HOUSEHOLD_CHANGE = "household-change"  # 世帯変更 / 世帯主変更
    CORRECTION = "correction"  # 職権修正 / 訂正
    FURIGANA = "furigana"  # 振り仮名の届出
    CLOSED = "closed"  # 職権消除, 失踪宣告, 国外転出


class ForeignCategory(StrEnum):
    MID_LONG = "中長期在留者"
    SPECIAL_PERMANENT = "特別永住者"
    TEMPORARY_REFUGE = "一時庇護許可者"
    PROVISIONAL_STAY = "仮滞在許可者"
    TRANSITIONAL = "経過滞在者"


BENEFITS = frozenset({"選挙人名簿", "国民健康保険", "後期高齢者医療", "介護保険", "国民年金", "児童手当"})


@dataclass(frozen=True, slots=True)
class ForeignItems:
    category: ForeignCategory
    became_foreign_resident_on: date
    residence_status: str = ""
    period_of_stay: str = ""
    stay_expiry: date | None = None
    residence_card_number: str = ""
    special_permanent_certificate_number: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category.value,
            "became_foreign_resident_on": self.became_foreign_resident_on.isoformat(),
            "residence_status": self.residence_status,
            "period_of_stay": self.period_of_stay,
            "stay_expiry": self.stay_expiry.isoformat() if self.stay_expiry else None,
            "residence_card_number": self.residence_card_number,
            "special_permanent_certificate_number": self.special_permanent_certificate_number,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ForeignItems:
        expiry = data.get("stay_expiry")
        return cls(
            category=ForeignCategory(data["category"]),
            became_foreign_resident_on=date.fromisoformat(data["became_foreign_resident_on"]),
            residence_status=data.get("residence_status", ""),
            period_of_stay=data.get("period_of_stay", ""),
            stay_expiry=date.fromisoformat(expiry) if expiry else None,
            residence_card_number=data.get("residence_card_number", ""),
            special_permanent_certificate_number=data.get("special_permanent_certificate_number", ""),
        )


@dataclass(frozen=True, slots=True)
class Closure:
    """Why and when a record was closed (消除), and where the person went."""

    reason: ClosedReason
    event_date: date
    filed_on: date
    destination_planned: str = ""
    destination_confirmed: str = ""


@dataclass(frozen=True, slots=True)
class Resident:
    handle: str
    household: str
    relationship: str
    family_name: str
    given_name: str
    family_name_kana: str
    given_name_kana: str
    kana_confirmed: bool
    birth_date: PartialDate
    sex: str
    nationality: str
    address: Address
    became_resident_on: date
    address_set_on: date
    filed_on: date
    status: Status = Status.ACTIVE
    version: int = 1
    former_family_name: str = ""
    former_family_name_kana: str = ""
    alias_name: str = ""
    alias_name_kana: str = ""
    alphabet_name: str = ""
    foreign: ForeignItems | None = None
    previous_address: str = ""
    honseki: str = ""
    hittousha: str = ""
    benefits: frozenset[str] = field(default_factory=frozenset)
    closed: Closure | None = None
    #: 転出予定: a move-out was filed and the hand-over has not happened yet
    moving_out: bool = False

    @property
    def is_foreign(self) -> bool:
        return self.nationality != JAPAN

    @property
    def is_head(self) -> bool:
        return self.relationship == HEAD

    @property
    def display_name(self) -> str:
        """The name as the certificate shows it (Japanese: 氏 名; foreign: alphabet name, kanji name if any)."""
        kanji = f"{self.family_name}\u3000{self.given_name}".strip("\u3000")
        if self.is_foreign:
            return f"{self.alphabet_name}（{kanji}）" if kanji else self.alphabet_name
        return kanji

    @property
    def display_kana(self) -> str:
        if self.is_foreign:
            return "＊"  # foreign residents have no furigana on 住民票
        return f"{self.family_name_kana}\u3000{self.given_name_kana}".strip("\u3000")

    def birth_date_display(self) -> str:
        """和暦 for Japanese residents, 西暦 for foreign residents (as 住民票 shows them)."""
        return self.birth_date.gregorian() if self.is_foreign else self.birth_date.wareki()


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One row of 異動履歴: what happened, when it happened, when it was filed, and what changed."""

    version: int
    kind: EventKind
    event_date: date
    filed_on: date
    recorded_at: datetime
    late: bool
    actor: str
    #: field -> [old, new] (text forms); empty for the registration that created the record
    changes: dict[str, list[Any]]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Household:
    handle: str
    members: tuple[Resident, ...]

    @property
    def head(self) -> Resident | None:
        return next((m for m in self.members if m.is_head and m.status is Status.ACTIVE), None)


# --- local handles ---------------------------------------------------------------------------------------
# A clerk refers to a resident by a handle that means nothing outside this register: random (no order, no
# count, no date), short enough to read over a counter, with a check character against typos.  Crockford's
# base32 alphabet avoids I, L, O, U; the check character is Luhn mod N (N = 32) over that alphabet.

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def _luhn32_slow(chars: str) -> str:
    factor, total = 2, 0
    for ch in reversed(chars):
        addend = factor * _INDEX[ch]
        factor = 1 if factor == 2 else 2
        total += addend // 32 + addend % 32
    return _ALPHABET[(32 - total % 32) % 32]


def _pair_sums() -> dict[str, int]:
    # in an even-length string the factor is 1 at even positions and 2 at odd ones (counted from the left):
    # precompute each pair's contribution so that a check character costs a few lookups
    def part(ch: str, factor: int) -> int:
        addend = factor * _INDEX[ch]
        return addend // 32 + addend % 32

    return {a + b: part(a, 1) + part(b, 2) for a in _ALPHABET for b in _ALPHABET}


_PAIRS = _pair_sums()


def _luhn32(chars: str) -> str:
    if len(chars) != _BODY:
        return _luhn32_slow(chars)
    p = _PAIRS
    total = p[chars[0:2]] + p[chars[2:4]] + p[chars[4:6]] + p[chars[6:8]] + p[chars[8:10]]
    return _ALPHABET[(32 - total % 32) % 32]


_BODY = 10  # 50 random bits: collisions stay negligible at millions of residents per register


def format_handle(body: str, prefix: str = "") -> str:
    return f"{prefix + '-' if prefix else ''}{body[:4]}-{body[4:8]}-{body[8:]}{_luhn32(body)}"


def new_handle(prefix: str = "") -> str:
    return format_handle("".join(secrets.choice(_ALPHABET) for _ in range(_BODY)), prefix)


def parse_handle(text: str, *, field: str = "handle", prefix: str = "") -> str:
    raw = text.strip().upper().replace("-", "").replace(" ", "")
    # full-width input from a Japanese keyboard
    raw = raw.translate({cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}).replace("-", "")
    if prefix:
        if not raw.startswith(prefix):
            raise InvalidInput(f"must start with {prefix}-", field=field)
        raw = raw[len(prefix) :]
    raw = raw.translate(_ALIASES)
    if len(raw) != _BODY + 1 or any(c not in _INDEX for c in raw):
        raise InvalidInput("must be 11 characters of the handle alphabet (e.g. 7KQ2-X9MB-T3Y)", field=field)
    if _luhn32(raw[:_BODY]) != raw[_BODY]:
        raise InvalidInput("check character does not match (mistyped handle?)", field=field)
    return format_handle(raw[:_BODY], prefix)


HOUSEHOLD_PREFIX = "H"


def new_household_handle() -> str:
    return new_handle(HOUSEHOLD_PREFIX)


def parse_household_handle(text: str, *, field: str = "household") -> str:
    return parse_handle(text, field=field, prefix=HOUSEHOLD_PREFIX)
