"""The resident record (住民票) of one municipal register, as the domain sees it.

Pure data: no storage, no HTTP.  A :class:`Resident` holds the items of 住民票 listed in ``domain.md``; the
secret root and the polymorphic pseudonym are *not* part of it: they never leave the register's storage
layer, so nothing that renders or serialises a ``Resident`` can leak them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sekisho.jp.address import Address
from sekisho.jp.wareki import PartialDate
from sekisho.protocols.handles import new_handle, parse_handle

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


HOUSEHOLD_PREFIX = "H"


def new_household_handle() -> str:
    return new_handle(HOUSEHOLD_PREFIX)


def parse_household_handle(text: str, *, field: str = "household") -> str:
    return parse_handle(text, field=field, prefix=HOUSEHOLD_PREFIX)
