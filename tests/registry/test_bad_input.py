"""A battery of bad inputs: each is rejected with a message naming the field and the rule, never the value,
and leaves nothing behind in any table of the register."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pytest
import sqlalchemy as sa

from sekisho.errors import Conflict, InvalidInput, NotFound, SekishoError
from sekisho.protocols.registry import TransferPackage
from sekisho.registry import store as st
from sekisho.registry.service import RegisterService, items_text

from .conftest import CHIYODA, person


def _snapshot(svc: RegisterService) -> dict[str, int]:
    with svc.engine.connect() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in st.metadata.sorted_tables
        }


@dataclass(frozen=True)
class Case:
    name: str
    overrides: dict[str, str]
    field: str
    #: words the message must contain (the rule)
    rule: str
    #: the offending value, which must not appear in the message
    value: str


CASES = [
    Case("heisei-after-its-end", {"birth_date": "平成31年5月1日"}, "birth_date", "", "平成31年5月1日"),
    Case("showa-after-its-end", {"birth_date": "昭和64年1月8日"}, "birth_date", "", "昭和64年1月8日"),
    Case("future-birth", {"birth_date": "2030-01-01"}, "birth_date", "future", "2030-01-01"),
    Case("impossible-date", {"birth_date": "昭和50年2月30日"}, "birth_date", "", "2月30日"),
    Case("empty-family-name", {"family_name": ""}, "family_name", "required", ""),
    Case("blank-given-name", {"given_name": "\u3000 "}, "given_name", "required", ""),
    Case("kana-with-kanji", {"family_name_kana": "高はし"}, "family_name_kana", "kana", "高はし"),
    Case("kana-with-latin", {"given_name_kana": "KENICHI"}, "given_name_kana", "kana", "KENICHI"),
    Case("unknown-sex", {"sex": "X"}, "sex", "", "X"),
    Case("bad-relationship", {"relationship": "子の子の子の子の子"}, "relationship", "縁故者", "子の子の子の子の子"),
    Case("town-not-in-gifu", {"town": "飯田橋"}, "address", "", "飯田橋"),
    Case("block-without-number", {"block": "丁目"}, "address", "", "丁目"),
    Case(
        "resident-before-born",
        {"became_resident_on": "昭和40年1月1日"},
        "became_resident_on",
        "birth",
        "昭和40年1月1日",
    ),
    Case(
        "alias-for-japanese", {"alias_name": "タロー", "alias_name_kana": "タロー"}, "alias_name", "foreign", "タロー"
    ),
    Case("unknown-nationality", {"nationality": "アトランティス"}, "nationality", "", "アトランティス"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_item_is_rejected_and_nothing_written(gifu: RegisterService, case: Case) -> None:
    before = _snapshot(gifu)
    with pytest.raises(InvalidInput) as exc:
        gifu.add(person(**case.overrides))
    err = exc.value
    assert err.field is not None and err.field.split(".")[0] == case.field, str(err)
    assert case.rule in err.message, str(err)
    if case.value.strip():
        assert case.value not in str(err)
    assert _snapshot(gifu) == before


def test_half_width_kana_is_normalised_not_rejected(gifu: RegisterService) -> None:
    r = gifu.add(person(family_name_kana="ﾀｶﾊｼ", given_name_kana="ｹﾝｲﾁ"))
    assert (r.family_name_kana, r.given_name_kana) == ("タカハシ", "ケンイチ")


@pytest.mark.parametrize(
    ("code", "kind"),
    [("212017", InvalidInput), ("21201X", InvalidInput), ("9999", InvalidInput), ("139998", NotFound)],
    ids=["wrong-check-digit", "not-digits", "too-short", "unknown-municipality"],
)
def test_bad_municipality_codes(
    open_register: Callable[..., RegisterService], code: str, kind: type[SekishoError]
) -> None:
    with pytest.raises(kind) as exc:
        open_register(code)
    assert exc.value.field == "municipality"
    assert code not in str(exc.value)


def test_prefecture_is_not_a_municipality(open_register: Callable[..., RegisterService]) -> None:
    with pytest.raises(InvalidInput):
        open_register("210005")  # 岐阜県


def test_move_in_of_an_active_person_is_refused_and_nothing_written(
    open_register: Callable[..., RegisterService],
) -> None:
    """A transfer that carries the root of someone already active here (a replayed or forged hand-over)."""
    gifu = open_register()
    r = gifu.add(person())
    with gifu.engine.connect() as conn:
        root = conn.execute(sa.select(st.resident.c.root)).scalar_one()
    package = TransferPackage(
        token="131016-" + "A" * 32,
        source=CHIYODA,
        items=items_text(r) | {"household": "x"},
        root=root,
        pp=None,
        previous_address="東京都千代田区飯田橋2丁目3番4号",
        destination_planned="岐阜県岐阜市藍川町18番地",
        planned_on=date(2026, 11, 20),
    )

    class Origin:
        completed = False

        def fetch_transfer(self, token: str, *, requester: str) -> TransferPackage:
            return package

        def complete_transfer(self, token: str, **kw: object) -> None:
            Origin.completed = True

    class Dir:
        def municipality(self, code: str) -> Origin:
            return Origin()

    gifu.directory = Dir()
    before = _snapshot(gifu)
    with pytest.raises(Conflict) as exc:
        gifu.move_in({"town": "藍川町", "block": "18番地"}, moved_on="2026-11-20", transfer=package.token)
    assert exc.value.field == "transfer"
    assert _snapshot(gifu) == before
    assert not Origin.completed  # the origin was not told to close its record


def test_unknown_handle_and_bad_handle(gifu: RegisterService) -> None:
    with pytest.raises(InvalidInput) as exc:
        gifu.show("7KQ2-X9MB-T3Z")  # wrong check character
    assert "check character" in str(exc.value)
    with pytest.raises(InvalidInput):
        gifu.show("hello")
