"""Validation of a resident's items at the boundary (clerk input, bulk import, procedures).

Input arrives as text, the way a clerk or a legacy system has it (docs/import-format.md); everything that
passes comes out as typed, normalised values.  The parsers of ``sekisho.jp`` do the Japanese rules; this module
adds the rules of a resident record (who needs furigana, what a foreign resident must have, date order).

Bulk imports repeat the same values (dates, towns, surnames) across millions of rows, so the pure parsers are
memoised: a value is parsed once per process, which is what makes validation cheap enough for the import path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TypeVar

from sekisho.errors import InvalidInput, SekishoError
from sekisho.jp import address as jp_address
from sekisho.jp import people, text, wareki
from sekisho.jp.address import Address
from sekisho.jp.wareki import PartialDate
from sekisho.registry.model import BENEFITS, JAPAN, ForeignCategory, ForeignItems

T = TypeVar("T")

_CACHE = 1 << 16


@lru_cache(maxsize=_CACHE)
def _name(value: str, field: str) -> str:
    return text.clean_name(value, field=field)


@lru_cache(maxsize=_CACHE)
def _kana(value: str, field: str) -> str:
    return text.normalize_kana(value, field=field)


@lru_cache(maxsize=_CACHE)
def _partial_date(value: str, field: str) -> PartialDate:
    return wareki.parse_date(value, field=field, allow_partial=True)


@lru_cache(maxsize=_CACHE)
def _full_date(value: str, field: str) -> date:
    return wareki.parse_full_date(value, field=field)


@lru_cache(maxsize=256)
def _sex(value: str) -> str:
    return people.parse_sex(value)


@lru_cache(maxsize=1024)
def _nationality(value: str) -> str:
    return people.parse_nationality(value).code


@lru_cache(maxsize=1024)
def _relationship(value: str) -> str:
    return people.parse_relationship(value)


@lru_cache(maxsize=_CACHE)
def _address(code: str, town: str, block: str, katagaki: str, postal: str) -> Address:
    return jp_address.parse_address(code, town=town, block=block, katagaki=katagaki, postal_code=postal or None)


_ALPHABET_NAME = re.compile(r"^[A-Z][A-Z .,'\-]{0,99}$")
_TRUE = frozenset({"true", "1", "yes", "y", "済", "確認済", "〇", "○"})
_FALSE = frozenset({"", "false", "0", "no", "n", "未", "未確認"})
_FREE_TEXT_MAX = 200
_PERIOD = re.compile(r"^(無期限|\d{1,2}年(\d{1,2}月)?|\d{1,2}月|\d{1,3}日)$")


@lru_cache(maxsize=1024)
def _alphabet_name(value: str) -> str:
    v = " ".join(value.translate(_FULLWIDTH_ASCII).upper().split())
    if not _ALPHABET_NAME.match(v):
        raise InvalidInput("must be written in the Latin alphabet as on the residence card", field="alphabet_name")
    return v


_FULLWIDTH_ASCII = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def _bool(value: str, field: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise InvalidInput("must be true or false", field=field)


def _free_text(value: str, field: str) -> str:
    v = value.strip().strip("\u3000")
    if len(v) > _FREE_TEXT_MAX:
        raise InvalidInput(f"is longer than {_FREE_TEXT_MAX} characters", field=field)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in v):
        raise InvalidInput("contains control characters", field=field)
    return v


@dataclass(frozen=True, slots=True)
class ResidentItems:
    """A resident's validated items, before the register gives them a handle and a household."""

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
    former_family_name: str = ""
    former_family_name_kana: str = ""
    alias_name: str = ""
    alias_name_kana: str = ""
    alphabet_name: str = ""
    foreign: ForeignItems | None = None
    previous_address: str = ""
    honseki: str = ""
    hittousha: str = ""
    benefits: frozenset[str] = frozenset()


class _Collector:
    """Runs field parsers and keeps every error, so one pass reports all of a row's problems."""

    __slots__ = ("errors",)

    def __init__(self) -> None:
        self.errors: list[SekishoError] = []

    def __call__(self, fn: Callable[[], T], default: T) -> T:
        try:
            return fn()
        except SekishoError as exc:
            self.errors.append(exc)
            return default


_EPOCH = PartialDate(year=None, month=None, day=None)
_NO_DATE = date.min


def validate_items(row: Mapping[str, str], *, municipality: str, today: date) -> ResidentItems:
    """Validate one resident's items; raise one InvalidInput (first problem) or an ``ErrorList``-ready group.

    Raises :class:`RowErrors` carrying every problem of the row.
    """
    g = row.get
    check = _Collector()

    def req(key: str) -> str:
        value = (g(key) or "").strip()
        if not value:
            raise InvalidInput("is required", field=key)
        return value

    nationality = check(lambda: _nationality(req("nationality")), JAPAN)
    foreign = nationality != JAPAN
    relationship = check(lambda: _relationship(req("relationship")), "")

    family = (g("family_name") or "").strip()
    given = (g("given_name") or "").strip()
    family_kana = (g("family_name_kana") or "").strip()
    given_kana = (g("given_name_kana") or "").strip()
    alphabet = (g("alphabet_name") or "").strip()
    alias = (g("alias_name") or "").strip()
    alias_kana = (g("alias_name_kana") or "").strip()
    if foreign:
        alphabet = check(lambda: _alphabet_name(req("alphabet_name")), "")
        family = check(lambda: _name(family, "family_name"), "") if family else ""
        given = check(lambda: _name(given, "given_name"), "") if given else ""
        if family_kana or given_kana:
            check.errors.append(
                InvalidInput(
                    "foreign residents have no furigana on 住民票 (give a 通称's reading in alias_name_kana)",
                    field="family_name_kana" if family_kana else "given_name_kana",
                )
            )
        if alias:
            alias = check(lambda: _name(alias, "alias_name"), "")
            alias_kana = check(lambda: _kana(req("alias_name_kana"), "alias_name_kana"), "")
        elif alias_kana:
            check.errors.append(InvalidInput("given without an alias_name", field="alias_name_kana"))
    else:
        family = check(lambda: _name(req("family_name"), "family_name"), "")
        given = check(lambda: _name(req("given_name"), "given_name"), "")
        family_kana = check(lambda: _kana(req("family_name_kana"), "family_name_kana"), "")
        given_kana = check(lambda: _kana(req("given_name_kana"), "given_name_kana"), "")
        if alphabet:
            check.errors.append(InvalidInput("is recorded for foreign residents only", field="alphabet_name"))
        if alias or alias_kana:
            check.errors.append(InvalidInput("通称 is recorded for foreign residents only", field="alias_name"))

    former = (g("former_family_name") or "").strip()
    former_kana = (g("former_family_name_kana") or "").strip()
    if former:
        former = check(lambda: _name(former, "former_family_name"), "")
        if former_kana:
            former_kana = check(lambda: _kana(former_kana, "former_family_name_kana"), "")
    elif former_kana:
        check.errors.append(InvalidInput("given without a former_family_name", field="former_family_name_kana"))

    kana_confirmed = check(lambda: _bool(g("kana_confirmed") or "", "kana_confirmed"), False)
    if kana_confirmed and foreign:
        kana_confirmed = False

    birth = check(lambda: _partial_date(req("birth_date"), "birth_date"), _EPOCH)
    if birth.is_complete and birth.as_date() > today:
        check.errors.append(InvalidInput("is in the future", field="birth_date"))
        birth = _EPOCH  # the dates below are not compared with an impossible birth date
    sex = check(lambda: _sex(req("sex")), "")

    addr = check(
        lambda: _address(
            municipality,
            # a few villages (利島村, 御蔵島村, 渡名喜村) have no town names: the address parser decides
            (g("town") or "").strip(),
            req("block"),
            (g("katagaki") or "").strip(),
            (g("postal_code") or "").strip(),
        ),
        None,
    )

    became = check(lambda: _full_date(req("became_resident_on"), "became_resident_on"), _NO_DATE)
    address_set = check(lambda: _full_date(req("address_set_on"), "address_set_on"), _NO_DATE)
    filed_text = (g("filed_on") or "").strip()
    filed = check(lambda: _full_date(filed_text, "filed_on"), _NO_DATE) if filed_text else became
    for key, value in (("became_resident_on", became), ("address_set_on", address_set), ("filed_on", filed)):
        if value is not _NO_DATE and value > today:
            check.errors.append(InvalidInput("is in the future", field=key))
        if value is not _NO_DATE and birth.is_complete and value < birth.as_date():
            check.errors.append(InvalidInput("is before the birth date", field=key))

    foreign_items = _foreign_items(row, check, today) if foreign else None
    if not foreign:
        for key in ("foreign_category", "residence_status", "residence_card_number"):
            if (g(key) or "").strip():
                check.errors.append(InvalidInput("is recorded for foreign residents only", field=key))

    honseki = check(lambda: _free_text(g("honseki") or "", "honseki"), "")
    hittousha = check(lambda: _free_text(g("hittousha") or "", "hittousha"), "")
    if foreign and (honseki or hittousha):
        check.errors.append(InvalidInput("本籍 is recorded for Japanese residents only", field="honseki"))
    previous = check(lambda: _free_text(g("previous_address") or "", "previous_address"), "")
    benefits: frozenset[str] = check(lambda: _benefits(g("benefits") or ""), frozenset[str]())

    if check.errors:
        raise RowErrors(check.errors)
    assert addr is not None
    return ResidentItems(
        relationship=relationship,
        family_name=family,
        given_name=given,
        family_name_kana=family_kana,
        given_name_kana=given_kana,
        kana_confirmed=kana_confirmed,
        birth_date=birth,
        sex=sex,
        nationality=nationality,
        address=addr,
        became_resident_on=became,
        address_set_on=address_set,
        filed_on=filed,
        former_family_name=former,
        former_family_name_kana=former_kana,
        alias_name=alias,
        alias_name_kana=alias_kana,
        alphabet_name=alphabet,
        foreign=foreign_items,
        previous_address=previous,
        honseki=honseki,
        hittousha=hittousha,
        benefits=benefits,
    )


def _benefits(value: str) -> frozenset[str]:
    items = frozenset(v for v in re.split(r"[,、，\s]+", value.strip()) if v)
    unknown = items - BENEFITS
    if unknown:
        raise InvalidInput(f"must be among {', '.join(sorted(BENEFITS))}", field="benefits")
    return items


def _foreign_items(row: Mapping[str, str], check: _Collector, today: date) -> ForeignItems | None:
    g = row.get

    def val(key: str) -> str:
        return (g(key) or "").strip()

    def req(key: str) -> str:
        v = val(key)
        if not v:
            raise InvalidInput("is required for this foreign resident", field=key)
        return v

    def category() -> ForeignCategory:
        try:
            return ForeignCategory(req("foreign_category"))
        except ValueError:
            raise InvalidInput(
                f"must be one of {', '.join(c.value for c in ForeignCategory)}", field="foreign_category"
            ) from None

    cat = check(category, None)
    became = check(lambda: _full_date(req("became_foreign_resident_on"), "became_foreign_resident_on"), _NO_DATE)
    if cat is None:
        return None
    status = period = card = special = ""
    expiry: date | None = None
    if cat is ForeignCategory.MID_LONG:
        status = check(lambda: _free_text(req("residence_status"), "residence_status"), "")
        period = check(lambda: _period(req("period_of_stay")), "")
        card = check(
            lambda: people.parse_residence_card_number(req("residence_card_number"), field="residence_card_number"),
            "",
        )
        if period != "無期限":
            expiry = check(lambda: _full_date(req("stay_expiry"), "stay_expiry"), None)
    elif cat is ForeignCategory.SPECIAL_PERMANENT:
        special = check(
            lambda: people.parse_residence_card_number(
                req("special_permanent_certificate_number"), field="special_permanent_certificate_number"
            ),
            "",
        )
    elif val("stay_expiry"):
        expiry = check(lambda: _full_date(val("stay_expiry"), "stay_expiry"), None)
    if became is not _NO_DATE and became > today:
        check.errors.append(InvalidInput("is in the future", field="became_foreign_resident_on"))
    return ForeignItems(
        category=cat,
        became_foreign_resident_on=became,
        residence_status=status,
        period_of_stay=period,
        stay_expiry=expiry,
        residence_card_number=card,
        special_permanent_certificate_number=special,
    )


def _period(value: str) -> str:
    v = value.translate(_FULLWIDTH_ASCII).replace(" ", "")
    if not _PERIOD.match(v):
        raise InvalidInput("must look like 3年, 1年6月, 6月, 90日 or 無期限", field="period_of_stay")
    return v


class RowErrors(InvalidInput):
    """Every problem found in one row."""

    def __init__(self, errors: list[SekishoError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors), field=errors[0].field)

    def __str__(self) -> str:
        return self.message


def parse_event_date(value: str, *, field: str, today: date) -> date:
    """A complete date of an event that has happened (not in the future)."""
    d = _full_date(value.strip(), field) if value.strip() else None
    if d is None:
        raise InvalidInput("is required", field=field)
    if d > today:
        raise InvalidInput("is in the future", field=field)
    return d
