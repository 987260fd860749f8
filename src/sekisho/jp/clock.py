"""Japan's civil date.  A municipality's dates — a filing's day, a deadline, a measure's last day — are days in
Japan (UTC+9, no daylight saving), whatever the time zone of the machine that runs the register: on a UTC
server the machine's date is yesterday's for the nine hours after midnight in Japan."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Final

#: Japan Standard Time (the law: 標準時, UTC+9; no daylight saving)
JST: Final = timezone(timedelta(hours=9), "JST")


def japan_date(instant: datetime) -> date:
    """The date in Japan at ``instant`` (an aware datetime)."""
    if instant.tzinfo is None:
        raise ValueError("a naive datetime has no place in time")
    return instant.astimezone(JST).date()


def japan_today() -> date:
    """Today in Japan: the default ``today`` of a register."""
    return datetime.now(JST).date()
