"""The PDF of a certificate of residence: A4, the layout of a municipal 住民票の写し, IPA Mincho embedded (subset).

Rendered with fpdf2 from the certificate's JSON form (:meth:`Certificate.document`), so the PDF shows exactly what
the JWS signs.  The fonts are Debian's ``fonts-ipafont-mincho`` / ``-gothic`` (``scripts/install-system-deps``);
``SEKISHO_CERT_FONT`` names another TrueType file.  The PDF is signed afterwards (:mod:`.signing`): nothing here
is security-relevant.

A font is parsed once per process (:func:`_parsed`), not per document: fpdf2's ``add_font`` reads the whole cmap
and metrics of an 8 MB font every time, and its subsetting then rewrites the font object in place.  So each
document gets a copy of the parsed font (metrics and maps shared, read-only) with a subset of its own, cut from the
font's bytes with the tables a PDF never reads removed once.
"""

from __future__ import annotations

import copy
import functools
import io
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import SubsetMap, TTFFont

from sekisho.certificates.model import KIND_LABEL, Certificate
from sekisho.errors import Unavailable
from sekisho.jp.catalogue import get_municipality

FONT_ENV = "SEKISHO_CERT_FONT"
MINCHO = (
    "/usr/share/fonts/opentype/ipafont-mincho/ipam.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-mincho.ttf",
)
#: IPAmj明朝 (the 住基ネット standard's MJ characters, e.g. 𠮷): loaded only for a text IPA Mincho cannot show
MJ = ("/usr/share/fonts/truetype/ipamj/ipamjm.ttf",)
GOTHIC = (
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
)
_LABEL_W = 42.0
_LINE_H = 9.0


def _font(candidates: Sequence[str], *, env: str | None = None) -> Path:
    chosen = os.environ.get(env) if env else None
    for path in ([chosen] if chosen else []) + list(candidates):
        if path and Path(path).is_file():
            return Path(path)
    raise Unavailable(
        "no Japanese font: install fonts-ipafont-mincho (scripts/install-system-deps) or set " + FONT_ENV,
        field="font",
    )


@functools.lru_cache(maxsize=4)
def _covered(path: Path) -> frozenset[int]:
    """The code points a font has glyphs for (its best cmap), read once per process."""
    from fontTools.ttLib import TTFont

    with TTFont(str(path), lazy=True) as font:
        return frozenset(font.getBestCmap())


#: tables fpdf2's subset drops anyway, or a horizontal PDF text never reads (vertical metrics): removed once
_UNUSED_TABLES = (
    *("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "MATH"),
    *("vhea", "vmtx", "VORG", "hdmx", "LTSH", "VDMX", "DSIG"),
)


@dataclass(frozen=True, slots=True)
class _Parsed:
    template: TTFFont  # parsed once; its metrics and maps are only read from then on
    data: bytes  # the font file less the unused tables and cmap subtables, what each document subsets


_PARSED: dict[Path, _Parsed] = {}
_PARSING = threading.Lock()


def _slim(path: Path) -> bytes:
    """The font without the tables a PDF's subset never needs, and one Unicode cmap subtable (same glyph order, so
    the parsed template's glyph ids and names hold)."""
    with TTFont(str(path), lazy=True, recalcTimestamp=False) as font:
        for tag in _UNUSED_TABLES:
            if tag in font:
                del font[tag]
        cmap = font["cmap"]
        unicode = [t for t in cmap.tables if (t.platformID, t.platEncID) in ((3, 10), (3, 1))]
        unicode.sort(key=lambda t: t.platEncID != 10)  # the full-repertoire subtable if there is one
        if unicode:
            cmap.tables = unicode[:1]
        out = io.BytesIO()
        font.save(out)  # lazy: the tables left untouched are copied as they are
        return out.getvalue()


def _parsed(path: Path) -> _Parsed:
    with _PARSING:
        found = _PARSED.get(path)
        if found is None:
            holder = FPDF()
            holder.add_font("template", fname=str(path))
            template = holder.fonts["template"]
            assert isinstance(template, TTFFont)
            template.ttfont.close()  # the template's own copy is never subset or written
            found = _PARSED[path] = _Parsed(template, _slim(path))
        return found


def _add_font(pdf: FPDF, family: str, path: Path) -> None:
    """``pdf.add_font(family, fname=path)`` from the font parsed once: a copy of the template (metrics and maps
    shared) with this document's own font object to subset and its own subset map."""
    parsed = _parsed(path)
    font = copy.copy(parsed.template)
    font.i = len(pdf.fonts) + 1
    font.fontkey = family
    font.ttfont = TTFont(io.BytesIO(parsed.data), lazy=True, recalcTimestamp=False)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.subset = SubsetMap(font)
    pdf.fonts[family] = font


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


class _Form(FPDF):
    def __init__(self, certificate: Certificate) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.certificate = certificate
        self.set_auto_page_break(auto=True, margin=20)
        mincho = _font(MINCHO, env=FONT_ENV)
        _add_font(self, "mincho", mincho)
        _add_font(self, "gothic", _font(GOTHIC))
        # names are stored exactly as given (髙, 﨑, 𠮷): what IPA Mincho lacks comes from IPAmj Mincho, whose
        # 46 MB are parsed only when a certificate needs them
        needed = {ord(c) for text in _texts(certificate.document()) for c in text}
        if needed - _covered(mincho) - {10, 13}:
            mj = next((Path(p) for p in MJ if Path(p).is_file()), None)
            if mj is not None:
                _add_font(self, "mj", mj)
                self.set_fallback_fonts(["mj"], exact_match=False)
        self.set_title("住民票の写し")
        self.set_author(certificate.issuer_name)
        self.set_subject(f"交付番号 {certificate.serial}")
        self.set_creator("Sekisho")
        # a fixed creation date: the same certificate renders to the same bytes (the signature adds its own time)
        self.set_creation_date(certificate.issued_at)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("gothic", size=7)
        self.set_text_color(90, 90, 90)
        self.cell(
            0,
            4,
            f"交付番号 {self.certificate.serial}　　電子署名（PAdES）付き：署名と時刻印は印刷すると失われます。"
            f"　{self.page_no()}/{{nb}}",
            align="C",
        )


def _row(pdf: _Form, label: str, value: str, *, height: float = _LINE_H, small: str | None = None) -> None:
    x, y = pdf.get_x(), pdf.get_y()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font("gothic", size=9)
    pdf.set_fill_color(240, 240, 240)
    pdf.rect(x, y, _LABEL_W, height, style="DF")
    pdf.set_xy(x + 1.5, y)
    pdf.cell(_LABEL_W - 3, height, label)
    pdf.rect(x + _LABEL_W, y, width - _LABEL_W, height)
    if small:
        pdf.set_xy(x + _LABEL_W + 2, y + 0.6)
        pdf.set_font("mincho", size=7)
        pdf.cell(width - _LABEL_W - 4, 3.2, small)
        pdf.set_xy(x + _LABEL_W + 2, y + 3.4)
        pdf.set_font("mincho", size=12)
        pdf.cell(width - _LABEL_W - 4, height - 3.8, value)
    else:
        pdf.set_xy(x + _LABEL_W + 2, y)
        pdf.set_font("mincho", size=11)
        pdf.cell(width - _LABEL_W - 4, height, value)
    pdf.set_xy(x, y + height)


def _pairs(pdf: _Form, pairs: Sequence[tuple[str, str]]) -> None:
    """Several label/value pairs on one line (生年月日 | 性別)."""
    x, y = pdf.get_x(), pdf.get_y()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    each = width / len(pairs)
    for i, (label, value) in enumerate(pairs):
        left = x + i * each
        pdf.set_fill_color(240, 240, 240)
        pdf.rect(left, y, _LABEL_W if i == 0 else 22, _LINE_H, style="DF")
        pdf.set_font("gothic", size=9)
        pdf.set_xy(left + 1.5, y)
        label_w = _LABEL_W if i == 0 else 22
        pdf.cell(label_w - 3, _LINE_H, label)
        pdf.rect(left + label_w, y, each - label_w, _LINE_H)
        pdf.set_font("mincho", size=11)
        pdf.set_xy(left + label_w + 2, y)
        pdf.cell(each - label_w - 4, _LINE_H, value)
    pdf.set_xy(x, y + _LINE_H)


def _person(pdf: _Form, certificate: Certificate, person: dict[str, Any]) -> None:
    """One person's lines (the resident's, or each member's of a household)."""
    if pdf.will_page_break(5 * _LINE_H):
        pdf.add_page()
    _row(pdf, "氏名", person["name"], height=13, small=person.get("kana"))
    _pairs(pdf, [("生年月日", person["birth_date"] or "年月日不詳"), ("性別", person["sex"])])
    if "household" in certificate.items:
        _row(pdf, "続柄", person.get("relationship") or "")
    if "resident_since" in certificate.items:
        _row(pdf, "住民となった年月日", person.get("resident_since") or "")
        _pairs(
            pdf,
            [("住所を定めた年月日", person.get("address_since") or ""), ("届出日", person.get("filed_on") or "")],
        )
    if "honseki" in certificate.items:
        _row(pdf, "本籍", person.get("honseki") or "")
        _row(pdf, "筆頭者", person.get("hittousha") or "")
    if "moved" in certificate.items:
        _row(pdf, "前住所", person.get("previous_address") or "")
    closed = person.get("closed")
    if closed:  # 除票: 消除事由・消除日 (and the 転出先 of a move-out)
        _pairs(pdf, [("消除事由", closed["reason"]), ("消除日", closed.get("on") or "")])
        if closed.get("destination"):
            _row(pdf, "転出先", closed["destination"])


def render(certificate: Certificate) -> bytes:
    """The certificate as an unsigned PDF (A4, fonts embedded; a large household runs onto further pages)."""
    doc: dict[str, Any] = certificate.document()
    person = doc.get("person") or {}
    pdf = _Form(certificate)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_margins(18, 18, 18)
    pdf.set_xy(18, 16)

    pdf.set_font("gothic", size=8)
    pdf.cell(0, 4, f"交付番号　{certificate.serial}", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if doc["counter"]["wide_area"]:
        pdf.cell(0, 4, f"広域交付（交付地：{doc['counter']['name']}）", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font("mincho", size=22)
    title = "除　票　の　写　し" if certificate.closed else "住　民　票　の　写　し"
    pdf.cell(0, 12, title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)

    pdf.set_draw_color(60, 60, 60)
    pdf.set_line_width(0.3)
    people = [dict(m) for m in doc["members"]] if certificate.scope == "household" else [person]
    # a household's members share the address and the head: shown once, above them
    _row(pdf, "住所", people[0]["address"], height=11)
    if "household" in certificate.items:
        _row(pdf, "世帯主", people[0].get("household_head") or "")
    for i, one in enumerate(people):
        if i:
            pdf.ln(2.5)
        _person(pdf, certificate, one)
    notes = []
    if "household" in certificate.omitted:
        notes.append("世帯主・続柄の記載を省略")
    if "honseki" in certificate.omitted:
        notes.append("本籍・筆頭者の記載を省略")
    if certificate.scope == "household":
        notes.append(f"世帯員{len(people)}人を記載")
    notes.append(f"請求者：{KIND_LABEL[certificate.kind]}")
    _row(pdf, "備考", "　".join(notes))

    pdf.ln(14)
    pdf.set_font("mincho", size=12)
    pdf.cell(0, 8, doc["certification"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    pdf.cell(0, 8, doc["issued_on"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    title = certificate.issuer_name + "長"
    pdf.set_font("mincho", size=15)
    pdf.cell(pdf.w - pdf.l_margin - pdf.r_margin - 24, 10, title, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    # the municipality's seal, drawn beside the title (the electronic signature is what proves the copy)
    seal_x, seal_y = pdf.w - pdf.r_margin - 20, pdf.get_y() - 14
    pdf.set_draw_color(200, 30, 30)
    pdf.set_text_color(200, 30, 30)
    pdf.set_line_width(0.8)
    pdf.rect(seal_x, seal_y, 18, 18)
    pdf.set_font("mincho", size=9)
    pdf.set_xy(seal_x, seal_y + 2)
    pdf.multi_cell(18, 4.6, _seal_text(certificate.issuer), align="C")
    pdf.set_text_color(0, 0, 0)
    return bytes(pdf.output())


def _seal_text(code: str) -> str:
    # the seal reads e.g. 岐阜市長之印 (a ward's certificate: its city's mayor's seal), in short lines
    m = get_municipality(code)
    town = get_municipality(m.parent) if m.kind == "ward" and m.parent else m
    text = f"{town.name}長之印"
    return "\n".join(text[i : i + 3] for i in range(0, len(text), 3))
