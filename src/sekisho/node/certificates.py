"""Every party's TLS certificate and its terminals' keys, from the organisation CA of the network's PKI.

`sekisho up` (and `sekisho serve --init`) calls :func:`provision` before any party starts:

    <home>/<party>/tls/party.crt, party.key     the party's certificate (OU=<role>, CN=<party>, loopback SANs)
    <home>/<party>/tls/ca.crt                   the organisation CA: the only anchor the party trusts
    <home>/<party>/tls/terminals/<id>.crt/.key  its terminals: ``clerk-1`` of a municipality, ``desk-1`` of an
                                                agency, ``service-1`` of the other parties (their own requests)
    <home>/run/ca.crt                           the organisation CA, for the supervisor's and status's probes

Private keys are written 0600 (the party directory is 0700).  A certificate already there is kept if the CA that
issued it is still the PKI's organisation CA and it is valid for another day; otherwise it is issued again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sekisho.config import Home
from sekisho.errors import Unavailable
from sekisho.node.roles import Role
from sekisho.wire.signatures import TerminalKey

#: the terminal every party of `sekisho up` gets, by role
TERMINALS = {"municipality": "clerk-1", "agency": "desk-1"}
DEFAULT_TERMINAL = "service-1"


def tls_dir(root: Path, party: str) -> Path:
    return root / party / "tls"


def ca_file(root: Path) -> Path:
    return root / "run" / "ca.crt"


def terminal_of(role: Role) -> str:
    return f"{role.party}/{TERMINALS.get(role.role, DEFAULT_TERMINAL)}"


@dataclass(frozen=True, slots=True)
class PartyCredentials:
    party: str
    certfile: Path
    keyfile: Path
    cafile: Path

    def trust(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.cafile.read_bytes())

    def terminal(self, terminal: str | None = None) -> TerminalKey:
        """A terminal's key of this party (its default terminal when ``terminal`` is None)."""
        local = (terminal or terminal_of(Role.of_party(self.party))).rpartition("/")[2]
        stem = self.certfile.parent / "terminals" / local
        return load_terminal(stem.with_suffix(".crt"), stem.with_suffix(".key"))


def credentials(root: Path, party: str) -> PartyCredentials:
    d = tls_dir(root, party)
    creds = PartyCredentials(party, d / "party.crt", d / "party.key", d / "ca.crt")
    if not (creds.certfile.is_file() and creds.keyfile.is_file() and creds.cafile.is_file()):
        raise Unavailable(
            "the party has no TLS certificate yet (`sekisho up` or `sekisho serve --init` issues it)", field="tls"
        )
    return creds


def load_terminal(certfile: Path, keyfile: Path) -> TerminalKey:
    cert = x509.load_pem_x509_certificate(certfile.read_bytes())
    key = serialization.load_pem_private_key(keyfile.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return TerminalKey(key=key, certificate=cert)


def write_key_and_cert(stem: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[Path, Path]:
    """``stem``.key (0600, created so: never readable by others, not even for an instant) and ``stem``.crt."""
    stem.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    keyfile, certfile = stem.with_suffix(".key"), stem.with_suffix(".crt")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = keyfile.with_suffix(".key.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    os.replace(tmp, keyfile)
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return certfile, keyfile


def csr_for(key: ec.EllipticCurvePrivateKey) -> x509.CertificateSigningRequest:
    # the subject is the PKI's to set (from the party or terminal name); the CSR proves the key only
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sekisho")]))
        .sign(key, hashes.SHA256())
    )


def _current(certfile: Path, org: x509.Certificate, now: datetime) -> bool:
    if not certfile.is_file():
        return False
    try:
        cert = x509.load_pem_x509_certificate(certfile.read_bytes())
        cert.verify_directly_issued_by(org)
    except Exception:  # unreadable, or from a CA this PKI no longer has: issue again
        return False
    return cert.not_valid_after_utc > now + timedelta(days=1)


def provision(root: Path, roles: Sequence[Role], pki_home: Home) -> None:
    """Set up the PKI (its organisation CA) if it is not, then issue what each party lacks (see the module)."""
    from sekisho.pki import hierarchy, issuance
    from sekisho.pki.profiles import ORGANISATION

    pki = hierarchy.init(pki_home)  # idempotent: an initialised PKI is only opened
    try:
        org = hierarchy.ca_certificate(pki.engine, ORGANISATION)
        org_pem = org.public_bytes(serialization.Encoding.PEM)
        now = datetime.now(UTC)
        ca_file(root).parent.mkdir(parents=True, exist_ok=True)
        ca_file(root).write_bytes(org_pem)
        for role in roles:
            d = tls_dir(root, role.party)
            pki_home.party_dir(role.party)  # 0700
            d.mkdir(mode=0o700, exist_ok=True)
            (d / "ca.crt").write_bytes(org_pem)
            if not _current(d / "party.crt", org, now):
                key = ec.generate_private_key(ec.SECP256R1())
                cert = issuance.issue_party_certificate(pki, party=role.party, csr=csr_for(key))
                write_key_and_cert(d / "party", key, cert)
            terminal = terminal_of(role)
            stem = d / "terminals" / terminal.rpartition("/")[2]
            if not _current(stem.with_suffix(".crt"), org, now):
                key = ec.generate_private_key(ec.SECP256R1())
                cert = issuance.issue_terminal_certificate(pki, terminal=terminal, csr=csr_for(key))
                write_key_and_cert(stem, key, cert)
    finally:
        pki.engine.dispose()
