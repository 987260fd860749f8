"""Interoperability with tools we did not write: OpenSSL validates our paths and CRLs, and queries our OCSP
responder over HTTP.  Each prefecture's root is the only trust anchor; the cross-certificates are untrusted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from sekisho.config import Home
from sekisho.pki import hierarchy, status
from sekisho.pki.oids import Purpose, prefecture_policy
from sekisho.pki.prefectures import prefectures

from .conftest import Citizen, NewCitizen, needs_openssl, ocsp_ask, serve_pki
from .conftest import openssl as _openssl
from .conftest import pem as _pem

pytestmark = needs_openssl

# citizens of a few prefectures, north to south; every root validates every one of them
CITIZEN_MUNICIPALITIES = ("011002", "131016", "271004", "472018")


@pytest.fixture
def citizens(new_citizen: NewCitizen) -> list[Citizen]:
    return [new_citizen(m) for m in CITIZEN_MUNICIPALITIES]


@pytest.fixture
def crl_file(pki: hierarchy.Pki, tmp_path: Path) -> Path:
    ca_ids = [f"pref-{p.code}" for p in prefectures()] + ["bridge"]
    crls = [status.crl(pki, ca_id=c) for c in ca_ids]
    path = tmp_path / "crls.pem"
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in crls))
    return path


def test_openssl_verifies_every_prefectures_view_of_foreign_citizens(
    pki: hierarchy.Pki, citizens: list[Citizen], crl_file: Path, tmp_path: Path
) -> None:
    auth_files = [_pem(tmp_path / f"auth-{c.municipality}.pem", [c.auth]) for c in citizens]
    sign_files = [_pem(tmp_path / f"sign-{c.municipality}.pem", [c.sign]) for c in citizens]
    for pref in prefectures():
        root = _pem(tmp_path / f"root-{pref.code}.pem", [hierarchy.root(pki.engine, pref.code)])
        bundle = _pem(
            tmp_path / f"untrusted-{pref.code}.pem", hierarchy.cross_certificates(pki.engine, for_prefecture=pref.code)
        )
        for flag in ("-crl_check", "-crl_check_all"):
            for purpose, files in ((Purpose.AUTHENTICATION, auth_files), (Purpose.SIGNATURE, sign_files)):
                # RFC 5280 policy processing too: the relying party asks for its own prefecture's policy, and
                # the cross-certificates' mappings make every other prefecture's equivalent policy acceptable
                result = _openssl(
                    "verify", "-CAfile", root, "-untrusted", bundle, flag, "-CRLfile", crl_file,
                    "-policy_check", "-explicit_policy", "-policy", prefecture_policy(pref.code, purpose).dotted_string,
                    *files,
                )  # fmt: skip
                assert result.returncode == 0, (pref.code, flag, purpose, result.stdout, result.stderr)
                assert result.stdout.count(": OK") == len(files)


def test_openssl_refuses_revoked_wrong_policy_and_missing_anchor(
    pki: hierarchy.Pki, new_citizen: NewCitizen, tmp_path: Path
) -> None:
    citizen = new_citizen("271004")
    status.revoke_card(pki.engine, serial=format(citizen.auth.serial_number, "x"), at=datetime.now(UTC))
    crls = tmp_path / "crls.pem"
    crls.write_bytes(
        b"".join(status.crl(pki, ca_id=c).public_bytes(Encoding.PEM) for c in ("pref-27", "pref-13", "bridge"))
    )
    root = _pem(tmp_path / "root13.pem", [hierarchy.root(pki.engine, "13")])
    bundle = _pem(tmp_path / "untrusted13.pem", hierarchy.cross_certificates(pki.engine, for_prefecture="13"))
    leaf = _pem(tmp_path / "leaf.pem", [citizen.auth])
    result = _openssl("verify", "-CAfile", root, "-untrusted", bundle, "-crl_check", "-CRLfile", crls, leaf)
    assert result.returncode != 0
    assert "certificate revoked" in result.stdout + result.stderr
    # the authentication certificate does not satisfy the signature policy
    fresh = new_citizen("271004")
    leaf = _pem(tmp_path / "fresh.pem", [fresh.auth])
    policy = prefecture_policy("13", Purpose.SIGNATURE).dotted_string
    result = _openssl(
        "verify", "-CAfile", root, "-untrusted", bundle, "-policy_check", "-explicit_policy", "-policy", policy, leaf
    )
    assert result.returncode != 0
    assert "no explicit policy" in result.stdout + result.stderr
    # without the bridge certificates there is no path from 13 to a citizen of 27
    result = _openssl("verify", "-CAfile", root, leaf)
    assert result.returncode != 0


@pytest.fixture
def responder(pki: hierarchy.Pki, pki_home: Home, tmp_path: Path) -> Iterator[str]:
    with serve_pki(pki_home, tmp_path / "uvicorn.log") as url:
        yield url


def test_openssl_ocsp_client_sees_good_then_revoked_after_death(
    pki: hierarchy.Pki, new_citizen: NewCitizen, responder: str, tmp_path: Path
) -> None:
    citizen = new_citizen("011002")
    files = {"auth": _pem(tmp_path / "auth.pem", [citizen.auth]), "sign": _pem(tmp_path / "sign.pem", [citizen.sign])}
    for cert in files.values():
        assert f"{cert}: good" in ocsp_ask(pki, responder, cert, issuer="01", tmp_path=tmp_path)
    at = datetime.now(UTC).replace(microsecond=0)
    outcome = status.on_register_event(pki.engine, owner=citizen.owner, kind="died", at=at)
    assert len(outcome.revoked) == 2
    for cert in files.values():  # the very next request
        out = ocsp_ask(pki, responder, cert, issuer="01", tmp_path=tmp_path)
        assert f"{cert}: revoked" in out
        assert "Reason: cessationOfOperation" in out
        assert at.strftime("%b %e %H:%M:%S %Y") in out
    for cert in files.values():  # and again: the state stays
        assert f"{cert}: revoked" in ocsp_ask(pki, responder, cert, issuer="01", tmp_path=tmp_path)


def test_ocsp_over_http_get_and_post(pki: hierarchy.Pki, new_citizen: NewCitizen, responder: str) -> None:
    import base64
    from urllib.parse import quote

    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    citizen = new_citizen("131016")
    issuer = hierarchy.root(pki.engine, "13")
    req = ocsp.OCSPRequestBuilder().add_certificate(citizen.auth, issuer, hashes.SHA1()).build()
    der = req.public_bytes(Encoding.DER)
    encoded = quote(base64.b64encode(der).decode(), safe="")
    got = httpx.get(f"{responder}/pki/ocsp/{encoded}", timeout=10)
    assert got.headers["content-type"] == "application/ocsp-response"
    assert got.headers["cache-control"] == "no-store"
    assert ocsp.load_der_ocsp_response(got.content).certificate_status is ocsp.OCSPCertStatus.GOOD
    posted = httpx.post(
        f"{responder}/pki/ocsp", content=der, headers={"Content-Type": "application/ocsp-request"}, timeout=10
    )
    assert ocsp.load_der_ocsp_response(posted.content).certificate_status is ocsp.OCSPCertStatus.GOOD
    # the GET URL is the CertID and nothing else: no name, no pseudonym
    assert citizen.owner.split(":")[2] not in encoded.lower()


def test_openssl_reads_malformed_request_for_what_is_not_a_request(responder: str, tmp_path: Path) -> None:
    """Over real HTTP, an empty, a JSON and an oversized POST and a GET path that is not base64 each get a response that
    OpenSSL's client reads as RFC 6960 §2.3 malformedRequest (not a problem document it cannot parse)."""
    answers = {
        "empty": httpx.post(f"{responder}/pki/ocsp", content=b"", timeout=10),
        "json": httpx.post(f"{responder}/pki/ocsp", json={"request": "MEIwQDA"}, timeout=10),
        "get": httpx.get(f"{responder}/pki/ocsp/not%20base64!", timeout=10),
        # more than the responder reads: answered without buffering the rest
        "large": httpx.post(f"{responder}/pki/ocsp", content=b"\x30" * 1_000_000, timeout=10),
    }
    for name, answer in answers.items():
        assert answer.status_code == 200, name
        assert answer.headers["content-type"] == "application/ocsp-response", name
        path = tmp_path / f"{name}.der"
        path.write_bytes(answer.content)
        result = _openssl("ocsp", "-respin", path, "-resp_text", "-noverify")
        assert "Responder Error: malformedrequest (1)" in result.stdout, (name, result.stdout, result.stderr)
