"""Local government codes (全国地方公共団体コード, JIS X 0401 / JIS X 0402).

A code is two digits of prefecture (JIS X 0401, 01–47), three digits of municipality (JIS X 0402) and a check
digit.  The check digit follows the ministry's rule (総務省「全国地方公共団体コード」の検査数字):
S = 6·d1 + 5·d2 + 4·d3 + 3·d4 + 2·d5, check = (11 − S mod 11) mod 10.
"""

from __future__ import annotations

from sekisho.errors import InvalidInput

_WEIGHTS = (6, 5, 4, 3, 2)
# full-width digits and the ideographic space a clerk's IME produces
_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def check_digit(code5: str) -> str:
    """The check digit of a five-digit code, e.g. ``check_digit("13101") == "6"``."""
    if len(code5) != 5 or not code5.isascii() or not code5.isdigit():
        raise InvalidInput("a local government code body must be 5 digits", field="code")
    s = sum(w * int(d) for w, d in zip(_WEIGHTS, code5, strict=True))
    return str((11 - s % 11) % 10)


def parse_municipality_code(text: str, *, field: str = "municipality") -> str:
    """Return the canonical 6-digit code.  Accepts 6 digits with a correct check digit or 5 digits
    (the check digit is appended), full-width digits and surrounding spaces."""
    raw = text.translate(_WIDTH).strip(" \t\u3000")
    if not raw:
        raise InvalidInput("a local government code is required", field=field)
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidInput("a local government code must consist of digits only", field=field)
    if len(raw) not in (5, 6):
        raise InvalidInput("a local government code must have 5 or 6 digits", field=field)
    if not 1 <= int(raw[:2]) <= 47:
        raise InvalidInput("a local government code must start with a prefecture number 01–47", field=field)
    if len(raw) == 5:
        return raw + check_digit(raw)
    if check_digit(raw[:5]) != raw[5]:
        raise InvalidInput("the check digit of the local government code is wrong", field=field)
    return raw
