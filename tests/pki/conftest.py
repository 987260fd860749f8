"""PKI fixtures: one hierarchy per test session (47 roots, bridge, organisation CA), shared by the tests that
only add citizens to it; tests that need a pristine PKI use the ``home`` fixture themselves.

``new_citizen`` issues at the CA level, to a made-up owner (a random element of the PKI's pseudonym domain) and
given items: the tests of profiles, paths, OCSP and login need no register.  How a card is issued from the register
is tested end to end in ``test_register.py``."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from homes import drop_namespace, new_namespace
from sekisho.config import Home
from sekisho.pep.encoding import encode_pseudonym
from sekisho.pep.group import Point
from sekisho.pki import hierarchy, issuance
from sekisho.pki.card import SoftwareCard
from sekisho.pki.oids import Purpose
from sekisho.pki.profiles import BasicItems

PASSPHRASE = "correct horse battery staple"
AUTH_PIN = "1234"
SIGN_PIN = "sign-pin-5678"
PG_URL = os.environ.get("SEKISHO_TEST_DB") or None


@pytest.fixture(scope="session", autouse=True)
def _passphrase() -> Iterator[None]:
    old = os.environ.get("SEKISHO_PASSPHRASE")
    os.environ["SEKISHO_PASSPHRASE"] = PASSPHRASE
    yield
    if old is None:
        os.environ.pop("SEKISHO_PASSPHRASE", None)
    else:
        os.environ["SEKISHO_PASSPHRASE"] = old


@pytest.fixture(scope="session")
def pki_home(tmp_path_factory: pytest.TempPathFactory, _passphrase: None) -> Iterator[Home]:
    namespace = new_namespace()
    h = Home(root=tmp_path_factory.mktemp("pki") / "home", db_url=PG_URL, namespace=namespace)
    h.root.mkdir()
    yield h
    drop_namespace(namespace)


@pytest.fixture(scope="session")
def pki(pki_home: Home) -> hierarchy.Pki:
    return hierarchy.init(pki_home)


ITEMS = BasicItems(name="髙橋 𠮷子", birth_date=date(1987, 6, 5), sex="female", address="沖縄県那覇市泉崎一丁目2番2号")


def new_owner() -> str:
    """A random pseudonym of the PKI's domain (what an enrolment would give it)."""
    return encode_pseudonym(hierarchy.DOMAIN, Point.from_hash(secrets.token_bytes(64)).to_bytes())


@dataclass
class Citizen:
    municipality: str
    owner: str
    card: SoftwareCard
    auth: x509.Certificate
    sign: x509.Certificate
    items: BasicItems


NewCitizen = Callable[..., Citizen]


@pytest.fixture
def new_citizen(pki: hierarchy.Pki, tmp_path: Path) -> NewCitizen:
    counter = iter(range(1_000_000))

    def make(municipality: str = "472018", *, items: BasicItems = ITEMS, **kw: object) -> Citizen:
        n = next(counter)
        owner = new_owner()
        card = SoftwareCard.create(tmp_path / f"card-{n}.card", auth_pin=AUTH_PIN, sign_pin=SIGN_PIN)
        issued = issuance.issue(
            pki,
            owner=owner,
            municipality=municipality,
            authentication_csr=card.csr(Purpose.AUTHENTICATION, pin=AUTH_PIN),
            signature_csr=card.csr(Purpose.SIGNATURE, pin=SIGN_PIN),
            items=items,
            **kw,  # type: ignore[arg-type]
        )
        assert issued.authentication is not None
        assert issued.signature is not None
        card.install(Purpose.AUTHENTICATION, issued.authentication)
        card.install(Purpose.SIGNATURE, issued.signature)
        return Citizen(municipality, owner, card, issued.authentication, issued.signature, items)

    return make


# --- OpenSSL and a real OCSP responder ------------------------------------------------------------------------

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is installed by scripts/install-system-deps")
if OPENSSL is None and os.environ.get("CI"):  # on CI a missing openssl is a broken machine, not a skip
    raise RuntimeError("openssl missing: run scripts/install-system-deps")


def pem(path: Path, certs: list[x509.Certificate]) -> Path:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    return path


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_pki(home: Home, log_path: Path) -> Iterator[str]:
    """A real uvicorn process serving the PKI router of ``home`` on 127.0.0.1, stopped on exit."""
    port = _free_port()
    env = dict(os.environ)
    env.update(SEKISHO_HOME=str(home.root), SEKISHO_PASSPHRASE=PASSPHRASE, SEKISHO_DB_NAMESPACE=home.namespace)
    if home.db_url:
        env["SEKISHO_DB"] = home.db_url
    else:
        env.pop("SEKISHO_DB", None)
    log = log_path.open("w")
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
                raise RuntimeError("the responder did not start: " + log_path.read_text())
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def ocsp_ask(pki: hierarchy.Pki, url: str, cert: Path, *, issuer: str, tmp_path: Path) -> str:
    """``openssl ocsp`` for ``cert`` (issued by prefecture ``issuer``'s CA), as a relying party of prefecture 13
    would ask: the responder's certificate is verified through the bridge.  Returns openssl's report."""
    issuer_pem = pem(tmp_path / f"issuer-{issuer}.pem", [hierarchy.root(pki.engine, issuer)])
    anchor = pem(tmp_path / "root13.pem", [hierarchy.root(pki.engine, "13")])
    other = pem(tmp_path / "untrusted13.pem", hierarchy.cross_certificates(pki.engine, for_prefecture="13"))
    result = openssl(
        "ocsp", "-issuer", issuer_pem, "-cert", cert, "-url", f"{url}/pki/ocsp",
        "-CAfile", anchor, "-verify_other", other, "-resp_text",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr
    assert "OCSP Nonce" in result.stdout  # the nonce openssl sent came back
    return result.stdout
