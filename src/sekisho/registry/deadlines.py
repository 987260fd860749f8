"""Statutory filing deadlines (住民基本台帳法 §22–§25, 戸籍法 §49, §86).

A deadline of N days starts on the day after the event (民法 §140: the first day is not counted) and, when it
ends on a day municipal offices are closed, rolls over to the next open day (民法 §142; 行政機関の休日に関する
法律 §1: Saturdays, Sundays, national holidays and 29 December – 3 January).  A late filing is *recorded as
late*, never refused: the register must reflect where people live.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

#: days allowed after the event, per procedure
BIRTH_DAYS = 14  # 戸籍法 §49 (3 months when born abroad)
DEATH_DAYS = 7  # 戸籍法 §86: 7 days from learning of the death
MOVE_IN_DAYS = 14  # 住基法 §22
MOVE_WITHIN_DAYS = 14  # 住基法 §23
MOVE_OUT_DAYS = 14  # 住基法 §24 says "before moving"; accepted up to 14 days after in practice
HOUSEHOLD_DAYS = 14  # 住基法 §25
CARD_MOVE_IN_DAYS = 30  # 特例転入 (card-based move): within 30 days of the planned move-out date (住基法 §24の2)


@lru_cache(maxsize=256)
def _national_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("JP", years=year).keys())


def office_closed(day: date) -> bool:
    if day.weekday() >= 5:
        return True
    if (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3):
        return True
    return day in _national_holidays(day.year)


def deadline(event: date, days: int) -> date:
    last = event + timedelta(days=days)
    while office_closed(last):
        last += timedelta(days=1)
    return last


def is_late(event: date, filed: date, days: int) -> bool:
    return filed > deadline(event, days)
