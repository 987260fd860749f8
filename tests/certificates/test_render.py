"""The PDF form with its fonts parsed once per process: each document still embeds a subset of its own, which
poppler's ``pdftotext`` reads back as the document's own text (and not another document's)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sekisho.certificates.model import Certificate, Request, parse_items
from sekisho.certificates.render import render

from .conftest import CHIYODA, GIFU, needs_poppler


def _certificate(name: str) -> Certificate:
    request = Request(handle="7KQ2-X9MB-T3Y", home=GIFU, counter=CHIYODA, kind="self", items=parse_items(["kana"]))
    released = {"name": name, "birth_date": "1975-04-01", "sex": "F", "address": "岐阜県岐阜市青柳町3丁目5番12号",
                "kana": "すずき　はなこ"}  # fmt: skip
    return Certificate.build(request=request, released=released, items=request.items, at=datetime.now(UTC), serial="S")


@needs_poppler
def test_each_document_embeds_its_own_subset_of_the_fonts_parsed_once(tmp_path: Path) -> None:
    texts = []
    for i, name in enumerate(("鈴木\u3000花子", "渡邊\u3000薫", "鈴木\u3000花子")):
        path = tmp_path / f"{i}.pdf"
        path.write_bytes(render(_certificate(name)))
        done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, timeout=60, check=True)
        texts.append(done.stdout)
    assert "鈴木" in texts[0] and "花子" in texts[0] and "渡邊" not in texts[0]
    assert "渡邊" in texts[1] and "薫" in texts[1] and "鈴木" not in texts[1]
    assert texts[2] == texts[0]  # the third document, from the same parsed fonts, reads as the first


def test_the_same_certificate_renders_to_the_same_bytes() -> None:
    certificate = _certificate("鈴木\u3000花子")
    assert render(certificate) == render(certificate)
