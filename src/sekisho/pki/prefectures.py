"""The 47 prefectures, each with a root CA, as ``sekisho.jp.catalogue`` lists them (JIS X 0401 codes 01..47)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

from sekisho.errors import IntegrityError, InvalidInput
from sekisho.jp.catalogue import catalogue


@dataclass(frozen=True, slots=True)
class Prefecture:
    code: str  # "01".."47" (JIS X 0401)
    name: str  # kanji, e.g. 東京都


@cache
def prefectures() -> tuple[Prefecture, ...]:
    out = sorted((Prefecture(p.prefecture_code, p.prefecture) for p in catalogue().prefectures()), key=lambda p: p.code)
    # the CA hierarchy is keyed by these codes: a catalogue that lost or renumbered one must stop the PKI
    if [p.code for p in out] != [f"{i:02d}" for i in range(1, 48)]:
        raise IntegrityError("the catalogue does not list the 47 prefectures 01..47", field="catalogue")
    return tuple(out)


def prefecture(code: str) -> Prefecture:
    for p in prefectures():
        if p.code == code:
            return p
    raise InvalidInput("not a prefecture code (01..47)", field="prefecture")


def parse_prefecture(text: str, *, field: str = "prefecture") -> Prefecture:
    """A prefecture as a person names it, the one parser of every prefecture argument (CLI and HTTP): its number
    ``1``..``47``, its JIS X 0401 code ``01``..``47`` (full-width digits too), or its name ``北海道``."""
    value = unicodedata.normalize("NFKC", text).strip()
    if value.isascii() and value.isdigit() and len(value) <= 2 and 1 <= int(value) <= 47:
        return prefecture(f"{int(value):02d}")
    for p in prefectures():
        if p.name == value:
            return p
    raise InvalidInput("a prefecture is its number (1..47), its code (01..47) or its name (北海道)", field=field)


def prefecture_of_municipality(municipality: str) -> Prefecture:
    """A local government code's first two digits name its prefecture."""
    if len(municipality) != 6 or not municipality.isdigit():
        raise InvalidInput("a local government code has 6 digits", field="municipality")
    return prefecture(municipality[:2])
