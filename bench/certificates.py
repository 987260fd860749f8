"""Certificates of residence per second, end to end at the home's desk, beside the raw work a certificate is made of.

    python -m bench certificates           # or: python bench/certificates.py [--seconds S] [--rounds N]
    python -m bench certificates --tiny    # a smoke run (tests/bench)

Ours (``sekisho.certificates.service.Desk.issue``, in one process): the national decision point's decision and
its record, the municipality's protections, the register's read of one resident with its access record (one
transaction; SQLite, and PostgreSQL when ``SEKISHO_PG_URL`` is set; no public log in this home: the log's appends
are bench/auditlog.py's), the form, and
- PDF: the page rendered with fpdf2 (IPA Mincho and Gothic embedded as subsets), the CRL fetched from the PKI's
  database, an RFC 3161 timestamp from the in-process TSA, the PAdES signature with the DSS (pyHanko);
- JSON: the detached JWS (joserfc) over the canonical form.

Raw (the best baseline doing the same visible work straight through the libraries): one transaction on the same
register database that reads the resident's row and inserts one access row (SQLAlchemy Core, no decision point, no
protections, no log entry built); then for the PDF, fpdf2 writing the same strings with the same fonts and pyHanko
signing it PAdES with the same timestamp and the same CRL in the DSS; for the JSON, ``json.dumps`` and one ES256
signature through ``cryptography``.  Ours and raw alternate round by round; the figure is the median of the
per-round ratios.

Ours parses each font once per process (``sekisho.certificates.render``), so the raw PDF does too, the best raw
way: one parsed ``TTFFont`` per font copied into each document with a fresh subset of its own, cut from the font's
bytes with the tables no PDF reads removed once.  A third line, alternated with the two, is raw fpdf2 parsing the
fonts for every document (``add_font`` per document, as fpdf2 is used by default): what the reuse buys.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import io
import json
import os
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from asn1crypto import crl as asn1_crl
from asn1crypto import keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator.registry import SimpleCertificateStore

from bench._fair import load
from sekisho.certificates.model import Request, canonical, parse_items
from sekisho.certificates.render import GOTHIC, MINCHO, _font
from sekisho.certificates.signing import DocumentSigner, _Timestamper
from sekisho.config import Home
from sekisho.node.registers import create_register
from sekisho.node.residence import municipality_root, open_desk
from sekisho.pki import hierarchy
from sekisho.pki.signers import certify_document_signer
from sekisho.pki.tsa import open_tsa
from sekisho.policy.service import Watchdog
from sekisho.registry import store as st
from sekisho.registry.service import Actor

GIFU, CHIYODA = "212016", "131016"
PASSPHRASE = b"bench-only-passphrase"
RESIDENT = {
    "household": "h1", "relationship": "世帯主", "family_name": "髙橋", "given_name": "健一",
    "family_name_kana": "たかはし", "given_name_kana": "けんいち", "birth_date": "昭和50年4月1日", "sex": "男",
    "nationality": "日本", "town": "青柳町", "block": "3丁目5番12号", "katagaki": "",
    "became_resident_on": "平成10年4月1日", "address_set_on": "平成10年4月1日",
    "honseki": "岐阜県岐阜市青柳町3丁目5番地", "hittousha": "髙橋　健一",
}  # fmt: skip


def _rate(fn: Callable[[], object], seconds: float, minimum: int) -> float:
    n = 0
    start = time.perf_counter()
    while True:
        fn()
        n += 1
        now = time.perf_counter()
        if n >= minimum and now - start >= seconds:
            return n / (now - start)


def _raw_record(engine: sa.Engine, handle: str) -> Callable[[], object]:
    """Read one resident and write one access row in one transaction: the database work a release needs."""
    r, a = st.resident, st.access

    def run() -> object:
        with engine.begin() as conn:
            row = conn.execute(sa.select(r).where(r.c.handle == handle)).one()
            conn.execute(
                a.insert().values(
                    record_id=secrets.token_hex(16), resident_id=row.id, at=datetime.now(UTC),
                    actor_kind="municipality", actor=CHIYODA, terminal=None, action="certificate",
                    purpose="certificate.wide-area", legal_basis="certificate.wide-area", warrant=None,
                    items="address,birth_date,kana,name,sex", decision="allow", reason_codes="",
                    nonce=secrets.token_hex(16), sealed_until=None,
                )
            )  # fmt: skip
        return row

    return run


class _RawFonts:
    """fpdf2's fonts parsed once, the best raw way: a template ``TTFFont`` per font (parsed by ``add_font``), and
    the font's bytes without the tables fpdf2's subset drops or a horizontal text never reads; each document gets a
    shallow copy of the template with its own ``TTFont`` to subset and its own ``SubsetMap``."""

    def __init__(self, paths: dict[str, str]) -> None:
        self.fonts: dict[str, tuple[TTFFont, bytes]] = {}
        for family, path in paths.items():
            holder = FPDF()
            holder.add_font(family, fname=path)
            template = holder.fonts[family]
            assert isinstance(template, TTFFont)
            with TTFont(path, lazy=True, recalcTimestamp=False) as font:
                for tag in ("GSUB", "GPOS", "GDEF", "vhea", "vmtx"):
                    if tag in font:
                        del font[tag]
                font["cmap"].tables = [t for t in font["cmap"].tables if (t.platformID, t.platEncID) == (3, 10)]
                out = io.BytesIO()
                font.save(out)
            self.fonts[family] = (template, out.getvalue())

    def add(self, pdf: FPDF) -> None:
        for family, (template, data) in self.fonts.items():
            font = copy.copy(template)
            font.i, font.fontkey = len(pdf.fonts) + 1, family
            font.ttfont = TTFont(io.BytesIO(data), lazy=True, recalcTimestamp=False)
            font.missing_glyphs, font.biggest_size_pt = [], 0
            font.subset = SubsetMap(font)
            pdf.fonts[family] = font


def _raw_pdf(
    doc: dict[str, object], signer: DocumentSigner, record: Callable[[], object], *, reuse_fonts: bool
) -> Callable[[], bytes]:
    """fpdf2 and pyHanko directly: the same strings, fonts, timestamp and CRL, none of our code around them;
    ``reuse_fonts``: fonts parsed once (:class:`_RawFonts`), else by fpdf2's ``add_font`` for every document."""
    mincho, gothic = str(_font(MINCHO)), str(_font(GOTHIC))
    fonts = _RawFonts({"mincho": mincho, "gothic": gothic}) if reuse_fonts else None
    person = doc["person"]
    assert isinstance(person, dict)
    lines = [*(f"{k}: {v}" for k, v in person.items()), str(doc["certification"]), str(doc["issued_on"])]
    cert, *others = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in signer.chain]
    pkcs8 = signer.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    raw_signer = signers.SimpleSigner(
        signing_cert=cert,
        signing_key=keys.PrivateKeyInfo.load(pkcs8),
        cert_registry=SimpleCertificateStore.from_certs(others),
    )
    meta = signers.PdfSignatureMetadata(field_name="Signature", subfilter=fields.SigSeedSubFilter.PADES)

    def make() -> bytes:
        record()
        pdf = FPDF(format="A4")
        if fonts is not None:
            fonts.add(pdf)
        else:
            pdf.add_font("mincho", fname=mincho)
            pdf.add_font("gothic", fname=gothic)
        pdf.add_page()
        pdf.set_font("gothic", size=22)
        pdf.cell(0, 12, "住　民　票　の　写　し", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("mincho", size=11)
        for line in lines:
            pdf.cell(0, 9, line, border=1, new_x="LMARGIN", new_y="NEXT")
        writer = IncrementalPdfFileWriter(io.BytesIO(bytes(pdf.output())), strict=False)
        revocation = asn1_crl.CertificateList.load(signer.fetch_crl())
        DocumentSecurityStore.supply_dss_in_writer(writer, None, certs=[cert, *others], crls=[revocation])
        out = io.BytesIO()
        pdf_signer = signers.PdfSigner(meta, signer=raw_signer, timestamper=_Timestamper(signer.ask_timestamp))
        asyncio.run(pdf_signer.async_sign_pdf(writer, output=out))
        return out.getvalue()

    return make


def _raw_json(
    doc: dict[str, object], key: ec.EllipticCurvePrivateKey, record: Callable[[], object]
) -> Callable[[], bytes]:
    def make() -> bytes:
        record()
        body = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        return key.sign(body, ec.ECDSA(hashes.SHA256()))

    return make


def figures(label: str, url: str | None, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(root=Path(tmp) / "home", db_url=url, namespace=f"bcert{uuid.uuid4().hex[:6]}_" if url else "")
        home.root.mkdir()
        pki = hierarchy.init(home)
        open_tsa(pki)  # made once, as a running PKI has it
        Watchdog.open(home, create=True).engine.dispose()
        register = create_register(home, GIFU, actor=Actor(clerk="bench"))
        handle = register.add(RESIDENT).handle
        register.engine.dispose()
        DocumentSigner.create_files(
            municipality_root(home, GIFU, create=True),
            certify=lambda key: certify_document_signer(pki, municipality=GIFU, public_key=key),
            passphrase=PASSPHRASE,
        )
        desk = open_desk(home, GIFU, passphrase=PASSPHRASE)
        request = Request(handle=handle, home=GIFU, counter=CHIYODA, kind="self", items=parse_items(["kana"]))
        doc = json.loads(desk.issue(request, form="json").body)["certificate"]
        assert canonical(doc)
        record = _raw_record(desk.gate.register.engine, handle)  # type: ignore[attr-defined]
        rows = [
            (f"certificate of residence, PDF (PAdES B-LT), {label}", lambda: desk.issue(request, form="pdf"),
             _raw_pdf(doc, desk.signer, record, reuse_fonts=True),
             _raw_pdf(doc, desk.signer, record, reuse_fonts=False)),
            (f"certificate of residence, JSON (JWS), {label}", lambda: desk.issue(request, form="json"),
             _raw_json(doc, desk.signer.key, record), None),
        ]  # fmt: skip
        for name, ours, raw, unreused in rows:
            ours(), raw()  # warm up: fonts, caches, connections
            ratios, rates, raw_rates, unreused_rates = [], [], [], []
            for _ in range(args.rounds):
                a = _rate(ours, args.seconds, args.minimum)
                b = _rate(raw, args.seconds, args.minimum)
                ratios.append(a / b)
                rates.append(a)
                raw_rates.append(b)
                if unreused is not None:
                    unreused_rates.append(_rate(unreused, args.seconds, args.minimum))
            print(
                f"{name:<58} {statistics.median(rates):>8,.2f}/s   vs raw {statistics.median(ratios):.2f}"
                f"   (raw {statistics.median(raw_rates):,.2f}/s; median of {args.rounds} rounds)",
                flush=True,
            )
            if unreused_rates:
                print(
                    f"{'  raw fpdf2 parsing the fonts for every document':<58}"
                    f" {statistics.median(unreused_rates):>8,.2f}/s",
                    flush=True,
                )
        desk.gate.register.engine.dispose()  # type: ignore[attr-defined]
        pki.engine.dispose()
        if url:
            import sqlalchemy as sa

            from sekisho.storage import create_engine_for

            engine = create_engine_for(url)
            with engine.begin() as conn:
                for schema in conn.execute(
                    sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": home.namespace + "%"}
                ).scalars():
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            engine.dispose()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench/certificates.py")
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds (>= 3)")
    parser.add_argument("--tiny", action="store_true", help="a smoke run: a few certificates per figure")
    args = parser.parse_args(argv)
    args.rounds = max(3, args.rounds)
    args.minimum = 1 if args.tiny else 3
    if args.tiny:
        args.seconds = 0.0
    # the PKI's keys open with the passphrase from the environment, as `sekisho serve pki` opens them
    os.environ["SEKISHO_PASSPHRASE"] = PASSPHRASE.decode()
    print(load(), flush=True)
    figures("SQLite", None, args)
    if os.environ.get("SEKISHO_PG_URL"):
        figures("PostgreSQL", os.environ["SEKISHO_PG_URL"], args)
    print(load(), flush=True)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
