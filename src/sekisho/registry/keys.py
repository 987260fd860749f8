"""Search keys of a record: names are stored exactly as given; only these keys are folded (sekisho.jp.text)."""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

from sekisho.jp.text import search_key


class _Named(Protocol):
    @property
    def family_name(self) -> str: ...
    @property
    def given_name(self) -> str: ...
    @property
    def family_name_kana(self) -> str: ...
    @property
    def given_name_kana(self) -> str: ...
    @property
    def alphabet_name(self) -> str: ...
    @property
    def alias_name(self) -> str: ...
    @property
    def alias_name_kana(self) -> str: ...


@lru_cache(maxsize=1 << 16)
def _key(part: str) -> str:
    return search_key(part) if part else ""


# Keys are folded part by part (family, given, …) and joined: parts recur across a register, whole names rarely,
# so the folding is memoised per part.  A query is folded whole and matched as a substring.
def name_key(r: _Named) -> str:
    return _key(r.family_name) + _key(r.given_name) + _key(r.alphabet_name) + _key(r.alias_name)


def kana_key(r: _Named) -> str:
    return _key(r.family_name_kana) + _key(r.given_name_kana) + _key(r.alias_name_kana)
