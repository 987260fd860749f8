"""The PKI party and its hierarchy: keys, database, the 47 prefectural roots, the bridge with cross-certificates
both ways, the organisation CA and one delegated OCSP responder per CA.

The PKI is an agency of the network with a pseudonym domain of its own (``pki``): a municipality enrols a resident
with it (policy decision, access record, R → pki through T1 and T2), and the PKI receives its own pseudonym of the
person and the four basic items.  Certificates belong to that pseudonym (:mod:`sekisho.pki.issuance`); the change
notices it receives as an agency revoke them (:mod:`sekisho.pki.status`).  A pseudonym is stable across moves, so
nothing is rebound when the resident moves, and no handle ever reaches the PKI.

Keys live in encrypted files under ``<home>/pki/keys`` (:mod:`sekisho.pki.keys`), the domain key in
``<home>/pki/domain-pki.key``; the database holds the CAs' certificates, every certificate issued with its owner
and its status, and the agency tables (``agy_*``) keyed by the same pseudonym.  Every procedure of the PKI's
modules is one transaction.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import OctKey
from sqlalchemy.engine import Engine

from sekisho.config import Home
from sekisho.errors import Conflict, NotFound, Unavailable
from sekisho.pki import keys as keyfiles
from sekisho.pki import profiles, revocation, store
from sekisho.pki.prefectures import prefecture, prefectures
from sekisho.pki.profiles import BRIDGE, ORGANISATION, CaKey, Endpoints, prefecture_ca_id
from sekisho.storage import open_party_db

PARTY = "pki"
#: the PKI's pseudonym domain (its agency name in the legal-basis table) and its one purpose
DOMAIN = "pki"
PURPOSE = "pki.certificate"
DEFAULT_BASE_URL = "http://127.0.0.1:8470"
BASE_URL_ENV = "SEKISHO_PKI_URL"
_CA_ID = re.compile(rf"pref-(0[1-9]|[1-3][0-9]|4[0-7])|{BRIDGE}|{ORGANISATION}")


def utcnow() -> datetime:
    return datetime.now(UTC)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


# ---------------------------------------------------------------------------------------------------------------
# keys


class KeyRing:
    """The CAs' and OCSP responders' private keys, decrypted on first use and kept for the process's life."""

    def __init__(self, directory: Path, secret: Callable[[], bytes]) -> None:
        self.directory = directory
        self._secret = secret
        self._cache: dict[str, CaKey] = {}
        self._lock = threading.Lock()
        self._passphrase: bytes | None = None

    def _load(self, name: str) -> CaKey:
        key = self._cache.get(name)
        if key is None:
            secret = self.passphrase()
            with self._lock:
                key = self._cache.get(name) or keyfiles.load_key(self.directory / f"{name}.pem", secret)
                self._cache[name] = key
        return key

    def passphrase(self) -> bytes:
        """Asked once per process (environment or prompt)."""
        with self._lock:
            if self._passphrase is None:
                self._passphrase = self._secret()
            return self._passphrase

    def ca_key(self, ca_id: str) -> CaKey:
        return self._load(ca_id)

    def ocsp_key(self, ca_id: str) -> CaKey:
        return self._load(f"{ca_id}-ocsp")

    def session_key(self) -> OctKey:
        try:
            return OctKey.import_key((self.directory / "session.key").read_bytes())
        except FileNotFoundError:
            raise Unavailable("the PKI is not initialised (run `sekisho pki init`)", field="pki") from None


@dataclass
class Pki:
    """One PKI party: its database and its keys."""

    engine: Engine
    keyring: KeyRing
    #: OCSP issuer lookup: (hash algorithm, issuer key hash) -> (CA, issuer name hash, responder certificate).
    #: CA rows never change after init, so this cache cannot go stale; certificate status is never cached.
    _issuers: dict[tuple[bool, bytes], tuple[str, bytes, x509.Certificate]] = field(default_factory=dict)
    #: pre-produced OCSP responses (``status.ocsp_respond``): (CA, SHA-256?, serial, status read) -> (produced, DER).
    #: The status is read from the database on every request and is part of the key: a revocation is never
    #: answered from here with the old status
    _presigned: dict[tuple[str, bool, int, Any], tuple[datetime, bytes]] = field(default_factory=dict)

    @classmethod
    def open(cls, home: Home, *, secret: Callable[[], bytes] = keyfiles.passphrase, create: bool = False) -> Pki:
        # the PKI's own tables and, as an agency of the network, the agency tables: one database, one transaction
        engine = open_party_db(home, PARTY, ["pki", "agency"], create=create)
        return cls(engine=engine, keyring=KeyRing(home.party_dir(PARTY, create=create) / "keys", secret))

    def endpoints(self) -> Endpoints:
        with self.engine.connect() as conn:
            base = store.get_meta(conn, "base_url")
        if base is None:
            raise Unavailable("the PKI is not initialised (run `sekisho pki init`)", field="pki")
        return Endpoints(base)


# ---------------------------------------------------------------------------------------------------------------
# set-up


def init(home: Home, *, base_url: str | None = None, secret: Callable[[], bytes] = keyfiles.passphrase) -> Pki:
    """Create the 47 prefectural roots, the bridge with cross-certificates both ways, the organisation CA and
    one delegated OCSP responder per CA.  Idempotent: a second call changes nothing."""
    pki = Pki.open(home, secret=secret, create=True)
    with pki.engine.connect() as conn:
        if store.get_meta(conn, "base_url") is not None:
            return pki
    now = utcnow()
    endpoints = Endpoints((base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/"))
    passphrase = pki.keyring.passphrase()
    keys_dir = pki.keyring.directory
    staging = keys_dir.with_name(f"keys.new-{secrets.token_hex(4)}")
    staging.mkdir(mode=0o700)
    try:
        rows, certs = _build_hierarchy(staging, passphrase, endpoints, now)
        (staging / "session.key").write_bytes(secrets.token_bytes(32))
        os.chmod(staging / "session.key", 0o600)
        if keys_dir.exists():  # left by an init that crashed before its transaction committed
            keys_dir.rename(keys_dir.with_name(f"keys.stale-{now:%Y%m%dT%H%M%S}"))
        staging.rename(keys_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        with pki.engine.begin() as conn:
            if store.get_meta(conn, "base_url") is not None:
                raise Conflict("the PKI was initialised concurrently", field="pki")
            conn.execute(store.ca.insert(), rows)
            conn.execute(store.cert.insert(), certs)
            store.set_meta(conn, "base_url", endpoints.base_url)
            store.set_meta(conn, "created_at", now.isoformat())
    except BaseException:
        shutil.rmtree(keys_dir, ignore_errors=True)
        raise
    return pki


def _ca_row(
    *,
    ca_id: str,
    kind: str,
    name: x509.Name,
    key: CaKey,
    cert: x509.Certificate | None,
    ocsp_cert: x509.Certificate,
) -> dict[str, Any]:
    name_der = name.public_bytes()
    hashes_ = revocation.cert_id_hashes(name_der, _point(key.public_key()))
    return {
        "ca_id": ca_id,
        "kind": kind,
        "cert_der": der(cert) if cert is not None else None,
        "public_key_der": key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "subject_der": name_der,
        "name_sha1": hashes_["name_sha1"],
        "key_sha1": hashes_["key_sha1"],
        "name_sha256": hashes_["name_sha256"],
        "key_sha256": hashes_["key_sha256"],
        "ocsp_cert_der": der(ocsp_cert),
        "crl_number": 0,
    }


def cert_row(
    ca_id: str,
    cert: x509.Certificate,
    kind: str,
    now: datetime,
    *,
    owner: str | None = None,
    subject_id: str | None = None,
    data_as_of: datetime | None = None,
) -> dict[str, Any]:
    return {
        "ca_id": ca_id,
        "serial": store.serial_hex(cert.serial_number),
        "kind": kind,
        "owner": owner,
        "subject_id": subject_id,
        "data_as_of": data_as_of,
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
        "der": der(cert),
        "issued_at": now,
        "revoked_at": None,
        "reason": None,
    }


def _build_hierarchy(
    directory: Path, passphrase: bytes, endpoints: Endpoints, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    certs: list[dict[str, Any]] = []

    def responder(ca_id: str, ca_key: CaKey, ca_name: x509.Name) -> x509.Certificate:
        key = profiles.new_key()
        keyfiles.save_key(directory / f"{ca_id}-ocsp.pem", key, passphrase)
        return profiles.ocsp_signer_certificate(
            ca_id=ca_id, ca_key=ca_key, issuer_name=ca_name, key=key.public_key(), now=now
        )

    bridge_key = profiles.new_key()
    keyfiles.save_key(directory / f"{BRIDGE}.pem", bridge_key, passphrase)
    bridge_name = profiles.ca_name(BRIDGE)
    rows.append(
        _ca_row(
            ca_id=BRIDGE,
            kind="bridge",
            name=bridge_name,
            key=bridge_key,
            cert=None,
            ocsp_cert=responder(BRIDGE, bridge_key, bridge_name),
        )
    )
    for pref in prefectures():
        ca_id = prefecture_ca_id(pref.code)
        key = profiles.new_key()
        keyfiles.save_key(directory / f"{ca_id}.pem", key, passphrase)
        root = profiles.root_certificate(ca_id=ca_id, key=key, now=now)
        rows.append(
            _ca_row(
                ca_id=ca_id,
                kind="prefecture",
                name=root.subject,
                key=key,
                cert=root,
                ocsp_cert=responder(ca_id, key, root.subject),
            )
        )
        up = profiles.cross_certificate(
            issuer_ca_id=ca_id,
            issuer_key=key,
            subject_ca_id=BRIDGE,
            subject_key=bridge_key.public_key(),
            endpoints=endpoints,
            now=now,
        )
        down = profiles.cross_certificate(
            issuer_ca_id=BRIDGE,
            issuer_key=bridge_key,
            subject_ca_id=ca_id,
            subject_key=key.public_key(),
            endpoints=endpoints,
            now=now,
        )
        certs.append(cert_row(ca_id, up, "cross", now))
        certs.append(cert_row(BRIDGE, down, "cross", now))
    org_key = profiles.new_key()
    keyfiles.save_key(directory / f"{ORGANISATION}.pem", org_key, passphrase)
    org_root = profiles.root_certificate(ca_id=ORGANISATION, key=org_key, now=now)
    rows.append(
        _ca_row(
            ca_id=ORGANISATION,
            kind="organisation",
            name=org_root.subject,
            key=org_key,
            cert=org_root,
            ocsp_cert=responder(ORGANISATION, org_key, org_root.subject),
        )
    )
    return rows, certs


# ---------------------------------------------------------------------------------------------------------------
# reading the hierarchy


def ca_of(conn: sa.Connection, ca_id: str) -> sa.Row[Any]:
    # the ids are a closed set: anything else (a NUL, which PostgreSQL text refuses with an error) is not looked up
    row = store.ca_row(conn, ca_id) if _CA_ID.fullmatch(ca_id) else None
    if row is None:
        raise NotFound("no such CA (pref-01..pref-47, bridge, org)", field="ca")
    return row


def root(engine: Engine, code: str) -> x509.Certificate:
    """A prefecture's self-signed root: the trust anchor of that prefecture's relying parties."""
    prefecture(code)
    with engine.connect() as conn:
        row = ca_of(conn, prefecture_ca_id(code))
    return x509.load_der_x509_certificate(row.cert_der)


def ca_certificate(engine: Engine, ca_id: str) -> x509.Certificate:
    with engine.connect() as conn:
        row = ca_of(conn, ca_id)
    if row.cert_der is None:
        raise NotFound("the bridge has no self-signed certificate; fetch the cross-certificates", field="ca")
    return x509.load_der_x509_certificate(row.cert_der)


def roots(engine: Engine) -> list[x509.Certificate]:
    with engine.connect() as conn:
        return [x509.load_der_x509_certificate(r.cert_der) for r in store.cas(conn) if r.cert_der is not None]


def cross_certificates(engine: Engine, *, for_prefecture: str | None = None) -> list[x509.Certificate]:
    """The bridge's certificates to every prefecture, and the prefectures' certificates to the bridge.

    With ``for_prefecture``, only what that prefecture's relying parties need: their own root's certificate
    to the bridge, then the bridge's certificates.  OpenSSL takes the first certificate that could be the
    issuer and never backtracks, and all 47 prefecture-to-bridge certificates share one subject and key.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(store.cert.c.ca_id, store.cert.c.der)
            .where(store.cert.c.kind == "cross", store.cert.c.revoked_at.is_(None))
            .order_by(store.cert.c.ca_id)
        ).all()
    if for_prefecture is None:
        return [x509.load_der_x509_certificate(r.der) for r in rows]
    own = prefecture_ca_id(prefecture(for_prefecture).code)
    return [x509.load_der_x509_certificate(r.der) for r in rows if r.ca_id == own] + [
        x509.load_der_x509_certificate(r.der) for r in rows if r.ca_id == BRIDGE
    ]
