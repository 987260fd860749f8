"""The 47 prefectures, each with a root CA.

``sekisho.jp.catalogue`` is the authoritative catalogue; until it is importable this module falls back to a local
table of the 47 JIS X 0401 codes and names (the codes and names have been fixed since 1972).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache

from sekisho.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Prefecture:
    code: str  # "01".."47" (JIS X 0401)
    name: str  # kanji, e.g. 東京都
    romaji: str


_LOCAL = (
    ("01", "北海道", "Hokkaido"), ("02", "青森県", "Aomori"), ("03", "岩手県", "Iwate"), ("04", "宮城県", "Miyagi"),
    ("05", "秋田県", "Akita"), ("06", "山形県", "Yamagata"), ("07", "福島県", "Fukushima"),
    ("08", "茨城県", "Ibaraki"), ("09", "栃木県", "Tochigi"), ("10", "群馬県", "Gunma"), ("11", "埼玉県", "Saitama"),
    ("12", "千葉県", "Chiba"), ("13", "東京都", "Tokyo"), ("14", "神奈川県", "Kanagawa"), ("15", "新潟県", "Niigata"),
    ("16", "富山県", "Toyama"), ("17", "石川県", "Ishikawa"), ("18", "福井県", "Fukui"),
    ("19", "山梨県", "Yamanashi"), ("20", "長野県", "Nagano"), ("21", "岐阜県", "Gifu"), ("22", "静岡県", "Shizuoka"),
    ("23", "愛知県", "Aichi"), ("24", "三重県", "Mie"), ("25", "滋賀県", "Shiga"), ("26", "京都府", "Kyoto"),
    ("27", "大阪府", "Osaka"), ("28", "兵庫県", "Hyogo"), ("29", "奈良県", "Nara"), ("30", "和歌山県", "Wakayama"),
    ("31", "鳥取県", "Tottori"), ("32", "島根県", "Shimane"), ("33", "岡山県", "Okayama"),
    ("34", "広島県", "Hiroshima"), ("35", "山口県", "Yamaguchi"), ("36", "徳島県", "Tokushima"),
    ("37", "香川県", "Kagawa"), ("38", "愛媛県", "Ehime"), ("39", "高知県", "Kochi"), ("40", "福岡県", "Fukuoka"),
    ("41", "佐賀県", "Saga"), ("42", "長崎県", "Nagasaki"), ("43", "熊本県", "Kumamoto"), ("44", "大分県", "Oita"),
    ("45", "宮崎県", "Miyazaki"), ("46", "鹿児島県", "Kagoshima"), ("47", "沖縄県", "Okinawa"),
)  # fmt: skip


@cache
def prefectures() -> tuple[Prefecture, ...]:
    try:  # the jp context's catalogue, once it exists
        catalogue = importlib.import_module("sekisho.jp.catalogue").catalogue
    except (ImportError, AttributeError):
        return tuple(Prefecture(c, n, r) for c, n, r in _LOCAL)
    romaji = {c: r for c, _, r in _LOCAL}
    out = []
    for p in catalogue().prefectures():
        # the catalogue's prefecture entries carry a 6-digit local government code and the 2-digit prefecture code
        code = str(getattr(p, "prefecture_code", "") or str(getattr(p, "code", ""))[:2])
        name = str(getattr(p, "prefecture", "") or getattr(p, "name", ""))
        out.append(Prefecture(code, name, romaji.get(code, code)))
    out.sort(key=lambda p: p.code)
    if [p.code for p in out] != [c for c, _, _ in _LOCAL]:  # a catalogue still being built must not change the CAs
        return tuple(Prefecture(c, n, r) for c, n, r in _LOCAL)
    return tuple(out)


def prefecture(code: str) -> Prefecture:
    for p in prefectures():
        if p.code == code:
            return p
    raise InvalidInput("not a prefecture code (01..47)", field="prefecture")


def prefecture_of_municipality(municipality: str) -> Prefecture:
    """A local government code's first two digits name its prefecture."""
    if len(municipality) != 6 or not municipality.isdigit():
        raise InvalidInput("a local government code has 6 digits", field="municipality")
    return prefecture(municipality[:2])
