"""Certificates checked by tools we did not write: poppler's ``pdfsig`` and ``pdftoppm``, pyHanko's validator
against the published organisation root, joserfc with the published key — and one changed byte or character
makes each of them refuse."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey
from PIL import Image

from sekisho.certificates.model import Request, canonical, parse_items
from sekisho.certificates.service import Desk
from sekisho.certificates.signing import DocumentSigner, registry
from sekisho.certificates.verify import MAX_CRL_AGE, verify_document, verify_pdf
from sekisho.errors import IntegrityError

from .conftest import CHIYODA, GIFU, Residents, needs_poppler


@pytest.fixture(scope="module")
def pdf(desk: Desk, residents: Residents) -> bytes:
    request = Request(
        handle=residents.child, home=GIFU, counter=CHIYODA, kind="self",
        items=parse_items(["kana", "household", "resident_since", "moved"]),
    )  # fmt: skip
    return desk.issue(request, form="pdf").body


@pytest.fixture(scope="module")
def household_pdf(desk: Desk, residents: Residents) -> bytes:
    """世帯全員の写し: the head's household, wide-area, with 世帯主・続柄."""
    request = Request(handle=residents.head, home=GIFU, counter=CHIYODA, kind="self", scope="household",
                      items=parse_items(["kana", "household"]))  # fmt: skip
    return desk.issue(request, form="pdf").body


@pytest.fixture(scope="module")
def closed_pdf(desk: Desk, residents: Residents) -> bytes:
    """除票の写し of the resident who died."""
    request = Request(handle=residents.deceased, home=GIFU, counter=GIFU, kind="self", closed=True)
    return desk.issue(request, form="pdf").body


@pytest.fixture(scope="module")
def signed_json(desk: Desk, residents: Residents) -> dict[str, object]:
    request = Request(handle=residents.head, home=GIFU, counter=CHIYODA, kind="self", items=parse_items(["kana"]))
    data: dict[str, object] = json.loads(desk.issue(request, form="json").body)
    return data


def pdfsig(path: Path) -> str:
    done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60, check=False)
    return done.stdout + done.stderr


def flipped(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


@needs_poppler
@pytest.mark.parametrize("which", ["pdf", "household_pdf", "closed_pdf"])
def test_pdfsig_reports_the_signature_valid_over_the_whole_document(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(request.getfixturevalue(which))
    report = pdfsig(path)
    assert "Signature is Valid." in report
    assert "Total document signed" in report
    assert "ETSI.CAdES.detached" in report  # PAdES
    assert f"CN={GIFU},OU=certificate-signer" in report


@needs_poppler
@pytest.mark.parametrize("which", ["pdf", "household_pdf", "closed_pdf"])
def test_the_first_page_renders_and_is_not_blank(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(request.getfixturevalue(which))
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", "-singlefile", str(path), str(tmp_path / "page")], check=True, timeout=60
    )
    with Image.open(tmp_path / "page.png") as image:
        gray = image.convert("L")
        width, height = gray.size
        assert abs(width / height - 210 / 297) < 0.01  # A4
        dark = sum(gray.histogram()[:128])
    assert dark > 0.005 * width * height  # text, rules and the seal, not an empty page


@pytest.mark.parametrize("which", ["pdf", "household_pdf", "closed_pdf"])
def test_pyhankos_validator_accepts_it_offline_against_the_published_root(
    which: str, request: pytest.FixtureRequest, org_root: x509.Certificate
) -> None:
    verified = verify_pdf(request.getfixturevalue(which), roots=[org_root])
    assert verified.municipality == GIFU
    assert verified.serial is not None and verified.serial.startswith(f"{GIFU}-")


def test_another_root_is_not_trusted(pdf: bytes) -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Sekisho Organisation CA")])
    now = datetime.now(UTC)
    fake = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    with pytest.raises(IntegrityError):
        verify_pdf(pdf, roots=[fake])


@pytest.mark.parametrize("where", [0.02, 0.3, 0.5, 0.7, 0.98])
def test_one_changed_byte_anywhere_is_refused_by_both(
    pdf: bytes, org_root: x509.Certificate, tmp_path: Path, where: float
) -> None:
    tampered = flipped(pdf, int(len(pdf) * where))
    with pytest.raises(IntegrityError):
        verify_pdf(tampered, roots=[org_root])
    if not needs_poppler.args[0]:
        path = tmp_path / "tampered.pdf"
        path.write_bytes(tampered)
        assert "Signature is Valid." not in pdfsig(path)


def test_joserfc_verifies_the_json_with_the_published_key(desk: Desk, signed_json: dict[str, object]) -> None:
    published = desk.signer.public_jwk()
    key = ECKey.import_key({k: v for k, v in published.items() if k in ("kty", "crv", "x", "y")})
    doc = signed_json["certificate"]
    assert isinstance(doc, dict)
    token = signed_json["jws"]
    assert isinstance(token, str)
    jws.deserialize_compact(token, key, payload=canonical(doc), registry=registry())
    changed = json.loads(json.dumps(doc))
    changed["person"]["address"] = changed["person"]["address"].replace("3", "4", 1)
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(token, key, payload=canonical(changed), registry=registry())


def test_one_changed_character_is_refused(signed_json: dict[str, object], org_root: x509.Certificate) -> None:
    assert verify_document(signed_json, roots=[org_root]).municipality == GIFU
    text = json.dumps(signed_json, ensure_ascii=False)
    for old, new in (("髙橋", "高橋"), ("昭和", "平成"), ('"copies": 1', '"copies": 2')):
        assert old in text
        with pytest.raises(IntegrityError):
            verify_document(json.loads(text.replace(old, new, 1)), roots=[org_root])
    token = signed_json["jws"]
    assert isinstance(token, str)
    broken = {**signed_json, "jws": token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]}
    with pytest.raises(IntegrityError):
        verify_document(broken, roots=[org_root])


def test_a_json_form_signed_after_its_signer_was_revoked_is_refused(
    pki: object, residents: Residents, org_root: x509.Certificate, tmp_path: Path
) -> None:
    import base64
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives.serialization import Encoding

    from sekisho.certificates.model import Certificate
    from sekisho.pki.hierarchy import Pki
    from sekisho.pki.signers import certify_document_signer
    from sekisho.pki.status import crl, revoke

    from .conftest import PASSPHRASE

    assert isinstance(pki, Pki)
    chain = DocumentSigner.create_files(
        tmp_path,
        certify=lambda key: certify_document_signer(pki, municipality=GIFU, public_key=key),
        passphrase=PASSPHRASE,
    )

    def fetch() -> bytes:
        return crl(pki, ca_id="org").public_bytes(Encoding.DER)

    async def no_timestamp(_: bytes) -> bytes:
        raise AssertionError("a JSON form needs no timestamp")

    signer = DocumentSigner.open(
        tmp_path, municipality=GIFU, passphrase=PASSPHRASE, ask_timestamp=no_timestamp, fetch_crl=fetch
    )
    request = Request(handle=residents.head, home=GIFU, counter=CHIYODA, kind="self")
    released = {"name": "髙橋\u3000健一", "birth_date": "1975-04-01", "sex": "M", "address": "岐阜県岐阜市青柳町"}

    def form() -> dict[str, object]:
        now = datetime.now(UTC)
        doc = Certificate.build(request=request, released=released, items=request.items, at=now, serial="S").document()
        return {"certificate": doc, "jws": signer.sign_document(doc), "crl": base64.b64encode(fetch()).decode()}

    assert verify_document(form(), roots=[org_root]).municipality == GIFU
    # the key was compromised a minute ago: a form it signed since then is not the municipality's
    revoke(
        pki.engine,
        serial=f"{chain[0].serial_number:x}",
        reason=x509.ReasonFlags.key_compromise,
        ca_id="org",
        at=datetime.now(UTC) - timedelta(minutes=1),
    )
    revoked = form()
    with pytest.raises(IntegrityError, match="revoked"):
        verify_document(revoked, roots=[org_root])
    # without its CRL the chain alone does not validate it: the form is refused, and says why
    with pytest.raises(IntegrityError, match="no revocation data") as stripped:
        verify_document({k: v for k, v in revoked.items() if k != "crl"}, roots=[org_root])
    assert stripped.value.field == "crl"
    # nor with an older CRL that does not know of the revocation yet (fine by its own nextUpdate)
    old = crl(pki, ca_id="org", now=datetime.now(UTC) - timedelta(hours=2)).public_bytes(Encoding.DER)
    with pytest.raises(IntegrityError, match="too old"):
        verify_document({**revoked, "crl": base64.b64encode(old).decode()}, roots=[org_root])
    # fetched online, the CA's current CRL judges it: a compromised key is refused whatever date the form claims
    with pytest.raises(IntegrityError, match="compromised"):
        verify_document({k: v for k, v in revoked.items() if k != "crl"}, roots=[org_root], fetched_crl=fetch())


def test_a_json_form_needs_its_revocation_data_or_a_current_crl_fetched_online(
    pki: object, signed_json: dict[str, object], org_root: x509.Certificate
) -> None:
    import base64
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives.serialization import Encoding

    from sekisho.pki.hierarchy import Pki
    from sekisho.pki.status import crl

    assert isinstance(pki, Pki)
    stripped = {k: v for k, v in signed_json.items() if k != "crl"}
    with pytest.raises(IntegrityError, match="no revocation data"):
        verify_document(stripped, roots=[org_root])
    with pytest.raises(IntegrityError, match="no revocation data"):
        verify_document({**stripped, "crl": ""}, roots=[org_root])
    # a CRL from before the issue, current by its own dates but older than MAX_CRL_AGE, is too old to judge it
    doc = signed_json["certificate"]
    assert isinstance(doc, dict)
    issued_at = datetime.fromisoformat(doc["issued_at"])
    stale = crl(pki, ca_id="org", now=issued_at - MAX_CRL_AGE - timedelta(minutes=1)).public_bytes(Encoding.DER)
    with pytest.raises(IntegrityError, match="too old"):
        verify_document({**signed_json, "crl": base64.b64encode(stale).decode()}, roots=[org_root])
    # online: the CA's current CRL stands in for the missing one (the signer is not on it)
    current = crl(pki, ca_id="org").public_bytes(Encoding.DER)
    assert verify_document(stripped, roots=[org_root], fetched_crl=current).municipality == GIFU
    # but a fetched CRL must itself be current
    expired = crl(pki, ca_id="org", now=datetime.now(UTC) - timedelta(days=2)).public_bytes(Encoding.DER)
    with pytest.raises(IntegrityError):
        verify_document(stripped, roots=[org_root], fetched_crl=expired)


@needs_poppler
def test_the_household_and_the_closed_records_pdfs_say_what_they_are(
    household_pdf: bytes, closed_pdf: bytes, tmp_path: Path
) -> None:
    def text(data: bytes) -> str:
        path = tmp_path / "c.pdf"
        path.write_bytes(data)
        return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout

    household = text(household_pdf)
    assert "𠮷子" in household and "健一" in household and "世帯員2人を記載" in household
    closed = text(closed_pdf)
    assert "除票の原本と相違ない" in closed and "死亡" in closed and "令和8年11月1日" in closed


@pytest.mark.parametrize(
    ("scope", "closed"), [("household", False), ("person", True)], ids=["whole-household", "jyohyo"]
)
def test_joserfc_verifies_the_household_and_closed_json_forms(
    desk: Desk, residents: Residents, org_root: x509.Certificate, scope: str, closed: bool
) -> None:
    handle = residents.deceased if closed else residents.child
    request = Request(handle=handle, home=GIFU, counter=CHIYODA, kind="self", scope=scope, closed=closed)  # type: ignore[arg-type]
    data = json.loads(desk.issue(request, form="json").body)
    published = desk.signer.public_jwk()
    key = ECKey.import_key({k: v for k, v in published.items() if k in ("kty", "crv", "x", "y")})
    jws.deserialize_compact(data["jws"], key, payload=canonical(data["certificate"]), registry=registry())
    assert verify_document(data, roots=[org_root]).serial == data["certificate"]["serial"]
    changed = json.loads(json.dumps(data["certificate"]))
    (changed["members"][-1] if scope == "household" else changed["person"])["name"] = "別人"
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(data["jws"], key, payload=canonical(changed), registry=registry())
