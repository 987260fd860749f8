"""A register's day is the day in Japan, whatever the machine's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from sekisho.config import Home
from sekisho.jp.clock import japan_date
from sekisho.node.registers import create_register
from sekisho.registry import core as registry_core


@pytest.mark.parametrize(
    ("instant", "day"),
    [
        (datetime(2026, 11, 23, 14, 59, 59, tzinfo=UTC), date(2026, 11, 23)),
        (datetime(2026, 11, 23, 15, 0, 0, tzinfo=UTC), date(2026, 11, 24)),  # midnight in Japan
        (datetime(2019, 4, 30, 15, 0, 0, tzinfo=UTC), date(2019, 5, 1)),  # 令和元年5月1日 began at 15:00 UTC
        (datetime(2026, 11, 24, 0, 30, tzinfo=timezone(timedelta(hours=-5))), date(2026, 11, 24)),
    ],
)
def test_the_date_in_japan(instant: datetime, day: date) -> None:
    assert japan_date(instant) == day


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        japan_date(datetime(2026, 11, 23, 12, 0))


def test_a_register_counts_days_in_japan(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    # 2026-11-23 20:00 UTC: the machine's date (in UTC) is the 23rd, the municipality's day is the 24th
    monkeypatch.setattr(registry_core, "japan_today", lambda: japan_date(datetime(2026, 11, 23, 20, tzinfo=UTC)))
    register = create_register(home, "212016")
    try:
        assert register.today() == date(2026, 11, 24)
    finally:
        register.engine.dispose()
