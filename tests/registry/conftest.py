from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from sekisho.config import Home
from sekisho.node.local import LocalDirectory
from sekisho.node.registers import create_register
from sekisho.registry.service import Actor, RegisterService

GIFU = "212016"  # 岐阜市
CHIYODA = "131016"  # 千代田区
TODAY = date(2026, 11, 20)


def person(**overrides: str) -> dict[str, str]:
    """A valid Japanese resident of 岐阜市 in import-format text."""
    row = {
        "household": "h1",
        "relationship": "世帯主",
        "family_name": "髙橋",
        "given_name": "健一",
        "family_name_kana": "たかはし",
        "given_name_kana": "ｹﾝｲﾁ",
        "birth_date": "昭和50年4月1日",
        "sex": "男",
        "nationality": "日本",
        "town": "青柳町",
        "block": "3丁目5番12号",
        "katagaki": "",
        "became_resident_on": "平成10年4月1日",
        "address_set_on": "平成10年4月1日",
        "honseki": "岐阜県岐阜市青柳町3丁目5番地",
        "hittousha": "髙橋　健一",
    }
    row.update(overrides)
    return row


def foreigner(**overrides: str) -> dict[str, str]:
    row = {
        "household": "f1",
        "relationship": "世帯主",
        "alphabet_name": "NGUYEN VAN AN",
        "birth_date": "1995-07-14",
        "sex": "M",
        "nationality": "ベトナム",
        "foreign_category": "中長期在留者",
        "residence_status": "技術・人文知識・国際業務",
        "period_of_stay": "3年",
        "stay_expiry": "2028-03-31",
        "residence_card_number": "AB12345678CD",
        "became_foreign_resident_on": "2023-04-01",
        "town": "藍川町",
        "block": "18番地",
        "became_resident_on": "2023-04-05",
        "address_set_on": "2023-04-05",
    }
    row.update(overrides)
    return row


@pytest.fixture
def today() -> date:
    return TODAY


@pytest.fixture
def open_register(home: Home) -> Callable[..., RegisterService]:
    def _open(code: str = GIFU, clerk: str = "clerk-7", **kw: Any) -> RegisterService:
        return create_register(
            home,
            code,
            actor=Actor(clerk=clerk),
            today=lambda: TODAY,
            directory=LocalDirectory(home, today=lambda: TODAY),
            **kw,
        )

    return _open


@pytest.fixture
def gifu(open_register: Callable[..., RegisterService]) -> RegisterService:
    return open_register(GIFU)
