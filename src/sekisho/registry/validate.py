"""Validation of a resident's items at the boundary (clerk input, bulk import, procedures).

Input arrives as text, the way a clerk or a legacy system has it (docs/import-format.md); everything that
passes comes out as typed, normalised values.  The parsers of ``sekisho.jp`` do the Japanese rules; this module
adds the rules of a resident record (who needs furigana, what a foreign resident must have, date order).

Validation runs column by column over a batch of rows (one row is a batch of one):

1. every column goes through its parser, memoised on the value — a bulk import repeats the same dates, towns
   and surnames across millions of rows, so after the first few thousand rows nearly every value is a cache
   hit, and ``map`` over a memoised parser runs without a Python frame per value;
2. one pass per row applies the rules that join fields (furigana only for Japanese residents, dates in
   order, the items a foreign resident must have) and builds the typed record.

A value that fails is parsed again with its field's name to raise the right error; every problem of a row is
reported, not just the first.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any, Final, Generic, NamedTuple, TypeVar

from sekisho.errors import InvalidInput, SekishoError
from sekisho.jp import address as jp_address
from sekisho.jp import people, text, wareki
from sekisho.jp.address import Address
from sekisho.jp.wareki import PartialDate
from sekisho.protocols.import_format import IMPORT_COLUMNS
from sekisho.registry.model import BENEFITS, JAPAN, ForeignCategory, ForeignItems

T = TypeVar("T")

_CACHE: Final = 1 << 18


class _Bad:
    """The value failed its parser (cached as such, so a repeated bad value costs nothing either)."""

    __slots__ = ()


BAD: Final = _Bad()


class _Parser(Generic[T]):
    """A field parser memoised on the value alone: the same text is valid or invalid whatever field holds it;
    the field's name only goes into the error, which :meth:`error` produces when it is needed."""

    __slots__ = ("fast", "full")

    def __init__(self, fn: Callable[[str, str], T], *, memo: bool = True) -> None:
        self.full = fn

        def safe(value: str) -> T | _Bad:
            try:
                return fn(value, "value")
            except SekishoError:
                return BAD

        self.fast: Callable[[str], T | _Bad] = lru_cache(maxsize=_CACHE)(safe) if memo else safe

    def column(self, values: Sequence[str]) -> list[T | _Bad]:
        return list(map(self.fast, values))

    def error(self, value: str, field: str) -> SekishoError:
        try:
            self.full(value, field)
        except SekishoError as exc:
            return exc
        raise AssertionError("a value failed its parser once and passed it the second time")  # pragma: no cover


def _required(value: str, field: str) -> str:
    v = value.strip()
    if not v or not v.strip("\u3000"):
        raise InvalidInput("is required", field=field)
    return v


_ALPHABET_NAME = re.compile(r"^[A-Z][A-Z .,'\-]{0,99}$")
_TRUE = frozenset({"true", "1", "yes", "y", "済", "確認済", "〇", "○"})
_FALSE = frozenset({"", "false", "0", "no", "n", "未", "未確認"})
_FREE_TEXT_MAX = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PERIOD = re.compile(r"^(無期限|\d{1,2}年(\d{1,2}月)?|\d{1,2}月|\d{1,3}日)$")
_FULLWIDTH_ASCII = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def _alphabet_name_text(value: str, field: str) -> str:
    v = " ".join(_required(value, field).translate(_FULLWIDTH_ASCII).upper().split())
    if not _ALPHABET_NAME.match(v):
        raise InvalidInput("must be written in the Latin alphabet as on the residence card", field=field)
    return v


def _bool_text(value: str, field: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise InvalidInput("must be true or false", field=field)


def _free_text_value(value: str, field: str) -> str:
    v = value.strip().strip("\u3000")
    if len(v) > _FREE_TEXT_MAX:
        raise InvalidInput(f"is longer than {_FREE_TEXT_MAX} characters", field=field)
    if _CONTROL.search(v):
        raise InvalidInput("contains control characters", field=field)
    if text.HIDDEN.search(v):
        raise InvalidInput("contains bidirectional-text controls or invisible characters", field=field)
    return v


def _benefits_text(value: str, field: str) -> frozenset[str]:
    items = frozenset(v for v in re.split(r"[,、，\s]+", value.strip()) if v)
    if items - BENEFITS:
        raise InvalidInput(f"must be among {', '.join(sorted(BENEFITS))}", field=field)
    return items


def _category_text(value: str, field: str) -> ForeignCategory:
    try:
        return ForeignCategory(_required(value, field))
    except ValueError:
        raise InvalidInput(f"must be one of {', '.join(c.value for c in ForeignCategory)}", field=field) from None


def _period_text(value: str, field: str) -> str:
    v = _required(value, field).translate(_FULLWIDTH_ASCII).replace(" ", "")
    if not _PERIOD.match(v):
        raise InvalidInput("must look like 3年, 1年6月, 6月, 90日 or 無期限", field=field)
    return v


_name = _Parser(lambda v, f: text.clean_name(_required(v, f), field=f))
_opt_name = _Parser(lambda v, f: text.clean_name(v.strip(), field=f) if v.strip() else "")
_kana = _Parser(lambda v, f: text.normalize_kana(_required(v, f), field=f))
_opt_kana = _Parser(lambda v, f: text.normalize_kana(v.strip(), field=f) if v.strip() else "")
_partial_date = _Parser(lambda v, f: wareki.parse_date(_required(v, f), field=f, allow_partial=True))
_full_date = _Parser(lambda v, f: wareki.parse_full_date(_required(v, f), field=f))
_opt_date = _Parser(lambda v, f: wareki.parse_full_date(v.strip(), field=f) if v.strip() else None)
_sex = _Parser(lambda v, f: people.parse_sex(_required(v, f), field=f))
_nationality = _Parser(lambda v, f: people.parse_nationality(_required(v, f), field=f).code)
_relationship = _Parser(lambda v, f: people.parse_relationship(_required(v, f), field=f))
_alphabet_name = _Parser(_alphabet_name_text)
_bool = _Parser(_bool_text)
_free_text = _Parser(_free_text_value, memo=False)  # addresses and 本籍 hardly repeat: not worth a cache slot
_benefits = _Parser(_benefits_text)
_category = _Parser(_category_text)
_card = _Parser(lambda v, f: people.parse_residence_card_number(_required(v, f), field=f))
_status_text = _Parser(lambda v, f: _free_text_value(_required(v, f), f))
_period = _Parser(_period_text)


# An address is memoised whole (members of a household share it) and in its independent parts: a town recurs
# across thousands of rows, a block across hundreds, a 方書 across a building's residents.
@lru_cache(maxsize=_CACHE)
def _town(code: str, town: str, postal: str) -> jp_address.TownMatch:
    return jp_address.resolve_town(code, town.strip(), postal.strip() or None)


@lru_cache(maxsize=_CACHE)
def _block(value: str, chome: bool) -> str:
    return jp_address.normalize_block(_required(value, "address.block"), chome=chome, field="address.block")


@lru_cache(maxsize=_CACHE)
def _katagaki(value: str) -> str:
    return jp_address.check_katagaki(value)


@lru_cache(maxsize=_CACHE)
def _address(code: str, town: str, block: str, katagaki: str, postal: str) -> Address:
    t = _town(code, town, postal)
    return Address(t.code, t.name, _block(block, t.chome), _katagaki(katagaki), t.postal_code)


class ResidentItems(NamedTuple):
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


class RowErrors(InvalidInput):
    """Every problem found in one row."""

    def __init__(self, errors: list[SekishoError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors), field=errors[0].field)

    def __str__(self) -> str:
        return self.message


_NO_BENEFITS: frozenset[str] = frozenset()
_EPOCH = PartialDate(year=None, month=None, day=None)

#: what validation reads of a row: every item (the household key is the import's, not the record's)
_COLUMNS: Final = tuple(c for c in IMPORT_COLUMNS if c != "household")


_KNOWN: Final = frozenset(IMPORT_COLUMNS)


def unknown_column(name: str) -> InvalidInput:
    """The error for a column (or item) that is not in the import format, with the nearest one that is: a
    misspelt optional column would otherwise lose its values without a word."""
    near = difflib.get_close_matches(name.lower(), IMPORT_COLUMNS, n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]}?)" if near else ""
    # a column's name is the file's, not a person's data, but it may hold anything: shown escaped and cut
    shown = name if name.isprintable() and len(name) <= 40 else repr(name[:40])
    return InvalidInput(f"is not a column of the import format{hint}", field=shown)


def validate_items(
    row: Mapping[str, str], *, municipality: str, today: date, derived: Mapping[str, str] | None = None
) -> ResidentItems:
    """Validate one resident's items; raise :class:`RowErrors` carrying every problem of the row (an item the
    format does not have is one).

    ``derived`` maps an item the caller filled from another (a newborn's 住民となった年月日 is its birth date)
    to that other: the clerk typed only the source, so a problem is reported once, under the source's name."""
    errors: list[SekishoError] = [unknown_column(k) for k in row if k not in _KNOWN]
    [result] = validate_rows([row], municipality=municipality, today=today)
    if isinstance(result, RowErrors):
        raise RowErrors(errors + _as_typed(result.errors, derived or {}))
    if errors:
        raise RowErrors(errors)
    return result


def _as_typed(errors: list[SekishoError], derived: Mapping[str, str]) -> list[SekishoError]:
    failed = {e.field for e in errors}
    out: list[SekishoError] = []
    said: set[tuple[str | None, str]] = set()
    for e in errors:
        source = derived.get(e.field or "")
        if source is not None:
            if source in failed:
                continue  # the source's own error says it
            e = type(e)(e.message, field=source)
        if (e.field, e.message) not in said:
            said.add((e.field, e.message))
            out.append(e)
    return out


def validate_rows(
    rows: Sequence[Mapping[str, str]], *, municipality: str, today: date
) -> list[ResidentItems | RowErrors]:
    """Validate a batch of rows; each result is the row's items or a :class:`RowErrors` with all its problems."""
    cols = {k: [r.get(k) or "" for r in rows] for k in _COLUMNS}
    return validate_columns(cols, len(rows), municipality=municipality, today=today)


def validate_columns(
    columns: Mapping[str, Sequence[str]], n: int, *, municipality: str, today: date
) -> list[ResidentItems | RowErrors]:
    """:func:`validate_rows` for a batch already laid out by column (a missing column is all empty)."""
    empty = [""] * n
    col: dict[str, Sequence[str]] = {k: columns.get(k) or empty for k in _COLUMNS}
    nat = _nationality.column(col["nationality"])
    rel = _relationship.column(col["relationship"])
    birth = _partial_date.column(col["birth_date"])
    sex = _sex.column(col["sex"])
    became = _full_date.column(col["became_resident_on"])
    address_set = _full_date.column(col["address_set_on"])
    filed = _opt_date.column(col["filed_on"])
    confirmed = _bool.column(col["kana_confirmed"])
    names = {k: _opt_name.column(col[k]) for k in ("family_name", "given_name", "alias_name", "former_family_name")}
    kanas = {
        k: _opt_kana.column(col[k])
        for k in ("family_name_kana", "given_name_kana", "alias_name_kana", "former_family_name_kana")
    }
    towns, blocks, katagakis, postals = col["town"], col["block"], col["katagaki"], col["postal_code"]
    free = {k: _free_text_column(col[k]) for k in ("honseki", "hittousha", "previous_address")}
    out: list[ResidentItems | RowErrors] = []
    for i in range(n):
        errors: list[SekishoError] = []

        def check(parser: _Parser[Any], value: Any, key: str, default: Any) -> Any:
            if value is BAD:
                errors.append(parser.error(col[key][i], key))  # noqa: B023  (called only in this iteration)
                return default
            return value

        nationality = check(_nationality, nat[i], "nationality", JAPAN)
        foreign = nationality != JAPAN
        relationship = check(_relationship, rel[i], "relationship", "")
        family = check(_opt_name, names["family_name"][i], "family_name", "")
        given = check(_opt_name, names["given_name"][i], "given_name", "")
        family_kana = check(_opt_kana, kanas["family_name_kana"][i], "family_name_kana", "")
        given_kana = check(_opt_kana, kanas["given_name_kana"][i], "given_name_kana", "")
        alias = check(_opt_name, names["alias_name"][i], "alias_name", "")
        alias_kana = check(_opt_kana, kanas["alias_name_kana"][i], "alias_name_kana", "")
        alphabet = col["alphabet_name"][i].strip()
        if foreign:
            alphabet = check(_alphabet_name, _alphabet_name.fast(alphabet), "alphabet_name", "")
            if col["family_name_kana"][i].strip() or col["given_name_kana"][i].strip():
                errors.append(
                    InvalidInput(
                        "foreign residents have no furigana on 住民票 (give a 通称's reading in alias_name_kana)",
                        field="family_name_kana" if col["family_name_kana"][i].strip() else "given_name_kana",
                    )
                )
            if alias and not alias_kana and not col["alias_name_kana"][i].strip():
                errors.append(InvalidInput("is required", field="alias_name_kana"))
            elif alias_kana and not alias:
                errors.append(InvalidInput("given without an alias_name", field="alias_name_kana"))
        else:
            for key, value in (
                ("family_name", family),
                ("given_name", given),
                ("family_name_kana", family_kana),
                ("given_name_kana", given_kana),
            ):
                if not value and not col[key][i].strip(" \u3000"):
                    errors.append(InvalidInput("is required", field=key))
            if alphabet:
                errors.append(InvalidInput("is recorded for foreign residents only", field="alphabet_name"))
            if alias or alias_kana:
                errors.append(InvalidInput("通称 is recorded for foreign residents only", field="alias_name"))
        former = check(_opt_name, names["former_family_name"][i], "former_family_name", "")
        former_kana = check(_opt_kana, kanas["former_family_name_kana"][i], "former_family_name_kana", "")
        if former_kana and not former:
            errors.append(InvalidInput("given without a former_family_name", field="former_family_name_kana"))
        kana_confirmed = check(_bool, confirmed[i], "kana_confirmed", False) and not foreign

        born_pd = check(_partial_date, birth[i], "birth_date", _EPOCH)
        born = born_pd.as_date() if born_pd.is_complete else None
        if born is not None and born > today:
            errors.append(InvalidInput("is in the future", field="birth_date"))
            born, born_pd = None, _EPOCH  # the dates below are not compared with an impossible birth date
        sex_v = check(_sex, sex[i], "sex", "")
        try:
            # a few villages (利島村, 御蔵島村, 渡名喜村) have no town names: the address parser decides
            addr: Address | None = _address(municipality, towns[i], blocks[i], katagakis[i], postals[i])
        except SekishoError as exc:
            errors.append(exc)
            addr = None

        became_d = check(_full_date, became[i], "became_resident_on", None)
        address_set_d = check(_full_date, address_set[i], "address_set_on", None)
        filed_d = check(_opt_date, filed[i], "filed_on", None) or became_d
        for key, value in (("became_resident_on", became_d), ("address_set_on", address_set_d), ("filed_on", filed_d)):
            if value is None or (key == "filed_on" and not col["filed_on"][i].strip()):
                continue
            if value > today:
                errors.append(InvalidInput("is in the future", field=key))
            if born is not None and value < born:
                errors.append(InvalidInput("is before the birth date", field=key))

        foreign_items = _foreign_items(col, i, errors, today) if foreign else None
        if not foreign:
            for key in ("foreign_category", "residence_status", "residence_card_number"):
                if col[key][i].strip():
                    errors.append(InvalidInput("is recorded for foreign residents only", field=key))

        honseki = _free_text_checked(free["honseki"][i], col["honseki"][i], "honseki", errors)
        hittousha = _free_text_checked(free["hittousha"][i], col["hittousha"][i], "hittousha", errors)
        if foreign and (honseki or hittousha):
            errors.append(InvalidInput("本籍 is recorded for Japanese residents only", field="honseki"))
        previous = _free_text_checked(
            free["previous_address"][i], col["previous_address"][i], "previous_address", errors
        )
        benefits_text = col["benefits"][i]
        benefits = (
            check(_benefits, _benefits.fast(benefits_text), "benefits", _NO_BENEFITS) if benefits_text else _NO_BENEFITS
        )

        if errors or addr is None or became_d is None or address_set_d is None or filed_d is None:
            out.append(RowErrors(errors))
            continue
        out.append(
            ResidentItems(
                relationship,
                family,
                given,
                family_kana,
                given_kana,
                kana_confirmed,
                born_pd,
                sex_v,
                nationality,
                addr,
                became_d,
                address_set_d,
                filed_d,
                former,
                former_kana,
                alias,
                alias_kana,
                alphabet,
                foreign_items,
                previous,
                honseki,
                hittousha,
                benefits,
            )
        )
    return out


def _free_text_column(values: Sequence[str]) -> list[str | _Bad]:
    """Free text (addresses, 本籍) hardly repeats, so instead of a cache the whole column is checked at once;
    only a column with a problem is gone through value by value."""
    joined = "".join(values)
    if (
        not _CONTROL.search(joined)
        and not text.HIDDEN.search(joined)
        and max(map(len, values), default=0) <= _FREE_TEXT_MAX
    ):
        return list(map(str.strip, values))
    return [_free_text.fast(v) for v in values]


def _free_text_checked(result: str | _Bad, value: str, field: str, errors: list[SekishoError]) -> str:
    if isinstance(result, _Bad):
        errors.append(_free_text.error(value, field))
        return ""
    return result


def _foreign_items(
    col: Mapping[str, Sequence[str]], i: int, errors: list[SekishoError], today: date
) -> ForeignItems | None:
    """The items of 外国人住民 (住基法 §30の45), by category; parsed per row (a few percent of residents)."""

    def one(parser: _Parser[Any], key: str, default: Any) -> Any:
        value = col[key][i]
        result = parser.fast(value)
        if result is BAD:
            errors.append(parser.error(value, key))
            return default
        return result

    cat = one(_category, "foreign_category", None)
    became = one(_full_date, "became_foreign_resident_on", None)
    if cat is None or became is None:
        return None
    status = period = card = special = ""
    expiry: date | None = None
    if cat is ForeignCategory.MID_LONG:
        status = one(_status_text, "residence_status", "")
        period = one(_period, "period_of_stay", "")
        card = one(_card, "residence_card_number", "")
        if period != "無期限":
            expiry = one(_full_date, "stay_expiry", None)
    elif cat is ForeignCategory.SPECIAL_PERMANENT:
        special = one(_card, "special_permanent_certificate_number", "")
    else:
        expiry = one(_opt_date, "stay_expiry", None)
    if became > today:
        errors.append(InvalidInput("is in the future", field="became_foreign_resident_on"))
    return ForeignItems(
        category=cat,
        became_foreign_resident_on=became,
        residence_status=status,
        period_of_stay=period,
        stay_expiry=expiry,
        residence_card_number=card,
        special_permanent_certificate_number=special,
    )


def parse_event_date(value: str, *, field: str, today: date) -> date:
    """A complete date of an event that has happened (not in the future)."""
    d = _full_date.full(value or "", field)
    if d > today:
        raise InvalidInput("is in the future", field=field)
    return d
