"""Interoperability with tools we did not write: OpenSSL validates our paths and CRLs, and queries our OCSP
responder over HTTP.  Each prefecture's root is the only trust anchor; the cross-certificates are untrusted."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sekisho.config import Home
from sekisho.pki import service
from sekisho.pki.oids import Purpose, prefecture_policy
from sekisho.pki.prefectures import prefectures

from .conftest import PASSPHRASE, Citizen, NewCitizen

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl is installed by scripts/install-system-deps")
if OPENSSL is None and os.environ.get("CI"):  # on CI a missing openssl is a broken machine, not a skip
    raise RuntimeError("openssl missing: run scripts/install-system-deps")

# citizens of a few prefectures, north to south; every root validates every one of them
CITIZEN_MUNICIPALITIES = ("011002", "131016", "271004", "472018")


def _pem(path: Path, certs: list[x509.Certificate]) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    return path


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def citizens(new_citizen: NewCitizen) -> list[Citizen]:
    return [new_citizen(m) for m in CITIZEN_MUNICIPALITIES]


@pytest.fixture
def crl_file(pki: service.Pki, tmp_path: Path) -> Path:
    ca_ids = [f"pref-{p.code}" for p in prefectures()] + ["bridge"]
    crls = [service.crl(pki, ca_id=c) for c in ca_ids]
    path = tmp_path / "crls.pem"
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in crls))
    return path


def test_openssl_verifies_every_prefectures_view_of_foreign_citizens(
    pki: service.Pki, citizens: list[Citizen], crl_file: Path, tmp_path: Path
) -> None:
    auth_files = [_pem(tmp_path / f"auth-{c.municipality}.pem", [c.auth]) for c in citizens]
    sign_files = [_pem(tmp_path / f"sign-{c.municipality}.pem", [c.sign]) for c in citizens]
    for pref in prefectures():
        root = _pem(tmp_path / f"root-{pref.code}.pem", [service.root(pki.engine, pref.code)])
        bundle = _pem(
            tmp_path / f"untrusted-{pref.code}.pem", service.cross_certificates(pki.engine, for_prefecture=pref.code)
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
    pki: service.Pki, new_citizen: NewCitizen, tmp_path: Path
) -> None:
    citizen = new_citizen("271004")
    service.on_register_event(
        pki.engine, kind="card_lost", municipality="271004", handle=citizen.handle, at=datetime.now(UTC)
    )
    crls = tmp_path / "crls.pem"
    crls.write_bytes(
        b"".join(service.crl(pki, ca_id=c).public_bytes(Encoding.PEM) for c in ("pref-27", "pref-13", "bridge"))
    )
    root = _pem(tmp_path / "root13.pem", [service.root(pki.engine, "13")])
    bundle = _pem(tmp_path / "untrusted13.pem", service.cross_certificates(pki.engine, for_prefecture="13"))
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def responder(pki: service.Pki, pki_home: Home, tmp_path: Path) -> Iterator[str]:
    """A real uvicorn process serving the PKI router on 127.0.0.1, started and stopped by the test."""
    port = _free_port()
    env = dict(os.environ)
    env.update(SEKISHO_HOME=str(pki_home.root), SEKISHO_PASSPHRASE=PASSPHRASE, SEKISHO_DB_NAMESPACE=pki_home.namespace)
    if pki_home.db_url:
        env["SEKISHO_DB"] = pki_home.db_url
    else:
        env.pop("SEKISHO_DB", None)
    log = (tmp_path / "uvicorn.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "sekisho.pki.api:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/pki/ca/pref-13.crt", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the responder did not start: " + (tmp_path / "uvicorn.log").read_text())
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_openssl_ocsp_client_sees_good_then_revoked_after_death(
    pki: service.Pki, new_citizen: NewCitizen, responder: str, tmp_path: Path
) -> None:
    citizen = new_citizen("011002")
    issuer = _pem(tmp_path / "issuer.pem", [service.root(pki.engine, "01")])
    anchor = _pem(tmp_path / "root13.pem", [service.root(pki.engine, "13")])
    # the responder's certificate is verified as a relying party of prefecture 13 would: via the bridge
    other = _pem(tmp_path / "untrusted13.pem", service.cross_certificates(pki.engine, for_prefecture="13"))
    files = {"auth": _pem(tmp_path / "auth.pem", [citizen.auth]), "sign": _pem(tmp_path / "sign.pem", [citizen.sign])}

    def ask(cert: Path) -> str:
        result = _openssl(
            "ocsp", "-issuer", issuer, "-cert", cert, "-url", f"{responder}/pki/ocsp",
            "-CAfile", anchor, "-verify_other", other, "-resp_text",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "Response verify OK" in result.stderr
        assert "OCSP Nonce" in result.stdout  # the nonce openssl sent came back
        return result.stdout

    for cert in files.values():
        assert f"{cert}: good" in ask(cert)
    at = datetime.now(UTC).replace(microsecond=0)
    outcome = service.on_register_event(pki.engine, kind="died", municipality="011002", handle=citizen.handle, at=at)
    assert len(outcome.revoked) == 2
    for cert in files.values():  # the very next request
        out = ask(cert)
        assert f"{cert}: revoked" in out
        assert "Reason: cessationOfOperation" in out
        assert at.strftime("%b %e %H:%M:%S %Y") in out
    for cert in files.values():  # and again: the state stays
        assert f"{cert}: revoked" in ask(cert)


def test_ocsp_over_http_get_and_post(pki: service.Pki, new_citizen: NewCitizen, responder: str) -> None:
    import base64
    from urllib.parse import quote

    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    citizen = new_citizen("131016")
    issuer = service.root(pki.engine, "13")
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
    # the GET URL is the CertID and nothing else: no name, no handle
    assert citizen.handle not in encoded
