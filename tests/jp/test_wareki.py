from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekisho.errors import InvalidInput
from sekisho.jp import wareki as wareki_module
from sekisho.jp.wareki import (
    ERAS,
    PartialDate,
    format_wareki,
    parse_date,
    parse_full_date,
    to_wareki,
)

from ._vectors import rows

VECTORS = rows("wareki.csv")


@pytest.mark.parametrize(("text", "partial", "expected"), VECTORS, ids=[f"{v[0]}|{v[1]}" for v in VECTORS])
def test_wareki_vectors(text: str, partial: str, expected: str) -> None:
    if expected.startswith("!"):
        with pytest.raises(InvalidInput) as e:
            parse_date(text, field="birth_date", allow_partial=partial == "1")
        assert expected[1:] in e.value.message
        assert e.value.field == "birth_date"
        if text.strip():
            assert text not in str(e.value)
    else:
        d = parse_date(text, field="birth_date", allow_partial=partial == "1")
        assert d.iso() == expected
        assert PartialDate.from_iso(d.iso()) == d


def test_era_table() -> None:
    assert [(e.name, e.first, e.last) for e in ERAS] == [
        ("明治", date(1873, 1, 1), date(1912, 7, 30)),
        ("大正", date(1912, 7, 30), date(1926, 12, 25)),
        ("昭和", date(1926, 12, 25), date(1989, 1, 7)),
        ("平成", date(1989, 1, 8), date(2019, 4, 30)),
        ("令和", date(2019, 5, 1), None),
    ]


@pytest.mark.parametrize(
    ("d", "text"),
    [
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1926, 12, 25), "昭和元年12月25日"),  # the later era names a transition day
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(1912, 7, 30), "大正元年7月30日"),
        (date(1912, 7, 29), "明治45年7月29日"),
        (date(1873, 1, 1), "明治6年1月1日"),
    ],
)
def test_format_wareki(d: date, text: str) -> None:
    assert format_wareki(d) == text
    assert parse_full_date(text, field="d") == d


def test_to_wareki() -> None:
    assert to_wareki(date(2019, 5, 1)) == ("令和", 1)
    assert to_wareki(date(1975, 4, 1)) == ("昭和", 50)
    with pytest.raises(InvalidInput, match="1873"):
        to_wareki(date(1872, 12, 31))


def test_partial_display() -> None:
    assert PartialDate(1990, 3, None).wareki() == "平成2年3月"
    assert PartialDate(1975, None, None, approximate=True).wareki() == "昭和50年頃"
    assert PartialDate(None, None, None).wareki() == "年月日不詳"
    assert PartialDate(None, None, None, approximate=True, era="令和").wareki() == "令和○年頃"
    assert PartialDate(2019, 5, 1).gregorian() == "2019年5月1日"
    assert PartialDate(2019, 5, 1).wareki() == "令和元年5月1日"
    assert PartialDate(1989, None, None).wareki() == "平成元年"  # the era of most of the year
    assert not PartialDate(1990, 3, None).is_complete
    assert PartialDate(1990, 3, 4).is_complete
    with pytest.raises(InvalidInput, match="complete date"):
        PartialDate(1990, 3, None).as_date()


def test_sort_key_orders_unknown_partial_complete() -> None:
    ds = [
        PartialDate(1990, 3, 4),
        PartialDate(None, None, None),
        PartialDate(1990, 3, None),
        PartialDate(1990, None, None),
        PartialDate(1989, 12, 31),
        PartialDate(None, None, None, approximate=True, era="令和"),
    ]
    assert [d.iso() for d in sorted(ds, key=lambda d: d.sort_key)] == [
        "",
        "1989-12-31",
        "1990",
        "1990-03",
        "1990-03-04",
        "R~",
    ]


# every day within 400 days of an era boundary, and anything in between
_BOUNDARY_DAYS = st.sampled_from([e.first for e in ERAS] + [e.last for e in ERAS if e.last]).flatmap(
    lambda b: st.integers(-400, 400).map(lambda n: b + timedelta(days=n))
)
_DAYS = st.one_of(_BOUNDARY_DAYS, st.dates(min_value=date(1873, 1, 1), max_value=date(2100, 12, 31)))


@given(_DAYS)
def test_round_trip_date_wareki_text(d: date) -> None:
    if d < date(1873, 1, 1):
        return
    text = format_wareki(d)
    assert parse_full_date(text, field="d") == d
    era, year = to_wareki(d)
    abbrev = {"明治": "M", "大正": "T", "昭和": "S", "平成": "H", "令和": "R"}[era]
    assert parse_full_date(f"{abbrev}{year}.{d.month}.{d.day}", field="d") == d
    assert parse_full_date(text.translate(str.maketrans("0123456789", "０１２３４５６７８９")), field="d") == d


@given(_DAYS, st.integers(0, 2), st.booleans())
def test_round_trip_partial(d: date, drop: int, approx: bool) -> None:
    if d < date(1873, 1, 1):
        return
    p = PartialDate(d.year, d.month if drop < 2 else None, d.day if drop < 1 else None, approximate=approx)
    assert PartialDate.from_iso(p.iso()) == p
    assert parse_date(p.wareki(), field="d", allow_partial=True) == p
    assert parse_date(p.gregorian(), field="d", allow_partial=True) == p


@given(st.sampled_from([*ERAS, None]), st.booleans())
def test_round_trip_unknown_year(era: object, approx: bool) -> None:
    name = getattr(era, "name", None)
    p = PartialDate(None, None, None, approximate=approx and name is not None, era=name)
    assert PartialDate.from_iso(p.iso()) == p
    assert parse_date(p.wareki(), field="d", allow_partial=True) == p


@given(st.from_regex(wareki_module._PREPARED, fullmatch=True))
def test_dates_that_skip_normalisation_are_what_normalisation_makes_of_them(text: str) -> None:
    """The common forms (「平成16年1月16日」, 「2025-09-08」) skip NFKC and the rewrites: only sound if those
    would have left them unchanged, so that the parse (or its error) is the same either way."""
    assert wareki_module._normalise(text) == text
    assert wareki_module._prepare(text) == text


@pytest.mark.parametrize(
    "text", ["平成16年1月16日", "2025-09-08", "令和元年5月1日", "平成１６年１月１６日", "平成 16年1月16日"]
)
def test_a_prepared_form_and_its_variants_parse_alike(text: str) -> None:
    canonical = {"平成１６年１月１６日": "平成16年1月16日", "平成 16年1月16日": "平成16年1月16日"}.get(text, text)
    assert parse_date(text, field="d") == parse_date(canonical, field="d")
