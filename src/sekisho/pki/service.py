"""The PKI's procedures, each one transaction: set up the hierarchy, issue a card's certificates, revoke on the
register's events, answer OCSP, publish CRLs, run the card login.

Keys live in encrypted files under ``<home>/pki/keys`` (:mod:`sekisho.pki.keys`); the database holds the CAs'
certificates, every certificate issued with its owner (municipality code, register handle) and its status.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlalchemy.engine import Engine

from sekisho.config import Home
from sekisho.errors import Conflict, InvalidInput, NotFound, Refused, Unavailable
from sekisho.pki import keys as keyfiles
from sekisho.pki import login as proto
from sekisho.pki import profiles, revocation, store
from sekisho.pki.oids import Purpose
from sekisho.pki.prefectures import prefecture, prefecture_of_municipality, prefectures
from sekisho.pki.profiles import BRIDGE, ORGANISATION, BasicItems, CaKey, Endpoints, prefecture_ca_id
from sekisho.pki.verify import OcspChecker, RelyingParty
from sekisho.storage import open_party_db

PARTY = "pki"
DEFAULT_BASE_URL = "http://127.0.0.1:8470"
BASE_URL_ENV = "SEKISHO_PKI_URL"


def _now() -> datetime:
    return datetime.now(UTC)


def _der(cert: x509.Certificate) -> bytes:
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

    @classmethod
    def open(cls, home: Home, *, secret: Callable[[], bytes] = keyfiles.passphrase) -> Pki:
        engine = open_party_db(home, PARTY, ["pki"])
        return cls(engine=engine, keyring=KeyRing(home.party_dir(PARTY) / "keys", secret))

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
    pki = Pki.open(home, secret=secret)
    with pki.engine.connect() as conn:
        if store.get_meta(conn, "base_url") is not None:
            return pki
    now = _now()
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
        "cert_der": _der(cert) if cert is not None else None,
        "public_key_der": key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "subject_der": name_der,
        "name_sha1": hashes_["name_sha1"],
        "key_sha1": hashes_["key_sha1"],
        "name_sha256": hashes_["name_sha256"],
        "key_sha256": hashes_["key_sha256"],
        "ocsp_cert_der": _der(ocsp_cert),
        "crl_number": 0,
    }


def _cert_row(ca_id: str, cert: x509.Certificate, kind: str, now: datetime, **owner: str | None) -> dict[str, Any]:
    return {
        "ca_id": ca_id,
        "serial": store.serial_hex(cert.serial_number),
        "kind": kind,
        "municipality": owner.get("municipality"),
        "handle": owner.get("handle"),
        "subject_id": owner.get("subject_id"),
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
        "der": _der(cert),
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
        certs.append(_cert_row(ca_id, up, "cross", now))
        certs.append(_cert_row(BRIDGE, down, "cross", now))
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


def _ca(conn: sa.Connection, ca_id: str) -> sa.Row[Any]:
    row = store.ca_row(conn, ca_id)
    if row is None:
        raise NotFound("no such CA (pref-01..pref-47, bridge, org)", field="ca")
    return row


def root(engine: Engine, code: str) -> x509.Certificate:
    """A prefecture's self-signed root: the trust anchor of that prefecture's relying parties."""
    prefecture(code)
    with engine.connect() as conn:
        row = _ca(conn, prefecture_ca_id(code))
    return x509.load_der_x509_certificate(row.cert_der)


def ca_certificate(engine: Engine, ca_id: str) -> x509.Certificate:
    with engine.connect() as conn:
        row = _ca(conn, ca_id)
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


# ---------------------------------------------------------------------------------------------------------------
# issuance


@dataclass(frozen=True, slots=True)
class Issued:
    subject_id: str
    authentication: x509.Certificate | None
    signature: x509.Certificate | None


def _accept_csr(csr: x509.CertificateSigningRequest, field_name: str) -> ec.EllipticCurvePublicKey:
    if not csr.is_signature_valid:
        raise InvalidInput("the request's proof of possession does not verify", field=field_name)
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != profiles.CURVE.name:
        raise InvalidInput("a card key is ECDSA P-256", field=field_name)
    return key


def issue(
    pki: Pki,
    *,
    municipality: str,
    handle: str,
    authentication_csr: x509.CertificateSigningRequest | None,
    signature_csr: x509.CertificateSigningRequest | None,
    items: BasicItems | None,
    now: datetime | None = None,
    validity: timedelta | None = None,
) -> Issued:
    """Issue a card's certificates from the resident's prefecture's CA and record who they belong to.

    The authentication certificate gets a fresh random subject identifier and nothing else; the signature
    certificate carries ``items``, which must come from the register (see :mod:`sekisho.pki.register`).
    """
    if authentication_csr is None and signature_csr is None:
        raise InvalidInput("nothing to issue: give a certificate request", field="csr")
    if signature_csr is not None and items is None:
        raise InvalidInput("a signature certificate needs the four basic items from the register", field="items")
    if not handle or len(handle) > 128:
        raise InvalidInput("a register handle has 1..128 characters", field="handle")
    pref = prefecture_of_municipality(municipality)
    ca_id = prefecture_ca_id(pref.code)
    when = now or _now()
    not_after = when + validity if validity is not None else None
    issuer_key = pki.keyring.ca_key(ca_id)
    endpoints = pki.endpoints()
    with pki.engine.begin() as conn:
        issuer = x509.load_der_x509_certificate(_ca(conn, ca_id).cert_der)
        subject_id = profiles.new_subject_id()
        auth_cert = sign_cert = None
        rows = []
        if authentication_csr is not None:
            auth_cert = profiles.authentication_certificate(
                prefecture=pref.code,
                subject_id=subject_id,
                key=_accept_csr(authentication_csr, "authentication_csr"),
                issuer=issuer,
                issuer_key=issuer_key,
                endpoints=endpoints,
                now=when,
                not_after=not_after,
            )
            rows.append(
                _cert_row(
                    ca_id,
                    auth_cert,
                    "authentication",
                    when,
                    municipality=municipality,
                    handle=handle,
                    subject_id=subject_id,
                )
            )
        if signature_csr is not None and items is not None:
            sign_cert = profiles.signature_certificate(
                prefecture=pref.code,
                subject_id=subject_id,
                items=items,
                key=_accept_csr(signature_csr, "signature_csr"),
                issuer=issuer,
                issuer_key=issuer_key,
                endpoints=endpoints,
                now=when,
                not_after=not_after,
            )
            rows.append(
                _cert_row(
                    ca_id,
                    sign_cert,
                    "signature",
                    when,
                    municipality=municipality,
                    handle=handle,
                    subject_id=subject_id,
                )
            )
        conn.execute(store.cert.insert(), rows)
    return Issued(subject_id=subject_id, authentication=auth_cert, signature=sign_cert)


def issue_party_certificate(
    pki: Pki, *, party: str, csr: x509.CertificateSigningRequest, now: datetime | None = None
) -> x509.Certificate:
    """A TLS server/client certificate for a network party or terminal, from the organisation CA."""
    from sekisho.config import check_party

    if not (party.startswith("terminal/") and party[9:].replace("-", "").isalnum()):
        check_party(party)
    when = now or _now()
    key = _accept_csr(csr, "csr")
    with pki.engine.begin() as conn:
        issuer = x509.load_der_x509_certificate(_ca(conn, ORGANISATION).cert_der)
        cert = profiles.party_certificate(
            party=party,
            key=key,
            issuer=issuer,
            issuer_key=pki.keyring.ca_key(ORGANISATION),
            endpoints=pki.endpoints(),
            now=when,
        )
        conn.execute(store.cert.insert(), [_cert_row(ORGANISATION, cert, "party", when)])
    return cert


# ---------------------------------------------------------------------------------------------------------------
# revocation


EventKind = Literal["died", "moved_out", "moved_within", "name_changed", "card_lost"]

# What each register event does to the certificates of (municipality, handle):
#   died         both, cessationOfOperation: the holder no longer exists as a resident
#   moved_*      signature only, affiliationChanged: its address is no longer true; a new one is offered
#   name_changed signature only, superseded: its name is no longer true; a new one is offered
#   card_lost    both, keyCompromise: whoever holds the card may hold the keys
_RULES: dict[str, tuple[tuple[str, ...], x509.ReasonFlags, bool]] = {
    "died": (("authentication", "signature"), x509.ReasonFlags.cessation_of_operation, False),
    "moved_out": (("signature",), x509.ReasonFlags.affiliation_changed, True),
    "moved_within": (("signature",), x509.ReasonFlags.affiliation_changed, True),
    "name_changed": (("signature",), x509.ReasonFlags.superseded, True),
    "card_lost": (("authentication", "signature"), x509.ReasonFlags.key_compromise, False),
}


@dataclass(frozen=True, slots=True)
class EventOutcome:
    revoked: tuple[str, ...]  # "ca_id:serial"
    reason: x509.ReasonFlags
    #: the signature certificate's contents changed: the resident should be offered a new one
    offer_new_signature: bool


def on_register_event(engine: Engine, *, kind: str, municipality: str, handle: str, at: datetime) -> EventOutcome:
    """Apply one register event to the certificates issued for (municipality, handle).  Idempotent: a repeated
    event finds nothing left to revoke."""
    rule = _RULES.get(kind)
    if rule is None:
        raise InvalidInput("not a register event the PKI handles", field="kind")
    kinds, reason, offer = rule
    prefecture_of_municipality(municipality)
    when = at if at.tzinfo else at.replace(tzinfo=UTC)
    with engine.begin() as conn:
        revoked = []
        for row in store.live_certs_of(conn, municipality, handle, kinds):
            if store.mark_revoked(conn, row.ca_id, row.serial, at=when, reason=reason.value):
                revoked.append(f"{row.ca_id}:{row.serial}")
    return EventOutcome(revoked=tuple(revoked), reason=reason, offer_new_signature=offer and bool(revoked))


def rebind_owner(engine: Engine, *, municipality: str, handle: str, new_municipality: str, new_handle: str) -> int:
    """After a move-in (転入), the resident has a new (municipality, handle): the certificates still valid (the
    authentication certificate survives a move) must follow, or a later death or lost card would miss them.
    Returns how many certificates moved."""
    prefecture_of_municipality(municipality)
    prefecture_of_municipality(new_municipality)
    if not new_handle or len(new_handle) > 128:
        raise InvalidInput("a register handle has 1..128 characters", field="new_handle")
    with engine.begin() as conn:
        result = conn.execute(
            store.cert.update()
            .where(
                store.cert.c.municipality == municipality,
                store.cert.c.handle == handle,
                store.cert.c.revoked_at.is_(None),
            )
            .values(municipality=new_municipality, handle=new_handle)
        )
    return int(result.rowcount)


def revoke(
    engine: Engine,
    *,
    serial: str,
    reason: x509.ReasonFlags,
    ca_id: str | None = None,
    at: datetime | None = None,
) -> str:
    """Revoke one certificate by serial (hex); ``ca_id`` disambiguates if two CAs used the same serial."""
    try:
        serial_hex = store.serial_hex(int(serial.removeprefix("0x").replace(":", ""), 16))
    except ValueError:
        raise InvalidInput("a serial number is hexadecimal", field="serial") from None
    if reason is x509.ReasonFlags.remove_from_crl:
        raise InvalidInput("removeFromCRL is for delta CRLs only", field="reason")
    with engine.begin() as conn:
        rows = [r for r in store.certs_by_serial(conn, serial_hex) if ca_id is None or r.ca_id == ca_id]
        if not rows:
            raise NotFound("no certificate with that serial number", field="serial")
        if len(rows) > 1:
            raise Conflict("two CAs issued that serial number: name the CA", field="ca")
        row = rows[0]
        if row.revoked_at is not None:
            raise Conflict("the certificate is already revoked", field="serial")
        store.mark_revoked(conn, row.ca_id, row.serial, at=at or _now(), reason=reason.value)
    return f"{row.ca_id}:{row.serial}"


def status(conn: sa.Connection, ca_id: str, serial: int) -> revocation.Status:
    row = store.cert_row(conn, ca_id, store.serial_hex(serial))
    if row is None:
        return revocation.Status("unknown")
    if row.revoked_at is None:
        return revocation.Status("good")
    return revocation.Status("revoked", store.aware(row.revoked_at), x509.ReasonFlags(row.reason))


def crl(pki: Pki, *, ca_id: str, now: datetime | None = None) -> x509.CertificateRevocationList:
    """A fresh, complete CRL of one CA (RFC 5280 §5), with the next CRL number."""
    when = now or _now()
    with pki.engine.connect() as conn:
        _ca(conn, ca_id)  # NotFound before any key file is touched
    key = pki.keyring.ca_key(ca_id)
    with pki.engine.begin() as conn:
        row = _ca(conn, ca_id)
        number = store.next_crl_number(conn, ca_id)
        entries = [
            revocation.RevokedEntry(int(r.serial, 16), store.aware(r.revoked_at), x509.ReasonFlags(r.reason))
            for r in store.revoked_of(conn, ca_id)
        ]
    return revocation.build_crl(
        issuer=_name_of(row),
        issuer_key=key,
        entries=entries,
        number=number,
        now=when,
    )


def _name_of(row: sa.Row[Any]) -> x509.Name:
    # the CA's name exactly as it appears in its certificates' issuer field; the bridge has no certificate
    # of its own (nobody trusts it directly), so its name comes from the profile that names it
    if row.cert_der is not None:
        return x509.load_der_x509_certificate(row.cert_der).subject
    return profiles.ca_name(row.ca_id)


# ---------------------------------------------------------------------------------------------------------------
# OCSP


def ocsp_respond(pki: Pki, request_der: bytes, *, now: datetime | None = None) -> bytes:
    """RFC 6960 responder: the status read from the database at this moment, signed by the CA's delegated
    responder.  Malformed or foreign requests get the unsigned error statuses of §2.3."""
    from cryptography.hazmat.primitives import hashes

    try:
        request = revocation.parse_request(request_der)
    except InvalidInput:
        return revocation.error_response(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    if isinstance(request.hash_algorithm, hashes.SHA1):
        sha256 = False
    elif isinstance(request.hash_algorithm, hashes.SHA256):
        sha256 = True
    else:
        return revocation.error_response(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    when = now or _now()
    with pki.engine.connect() as conn:
        issuer = pki._issuers.get((sha256, request.issuer_key_hash))
        if issuer is None:
            ca_row = store.ca_by_key_hash(conn, sha256=sha256, key_hash=request.issuer_key_hash)
            if ca_row is not None:
                name_hash = ca_row.name_sha256 if sha256 else ca_row.name_sha1
                issuer = (ca_row.ca_id, name_hash, x509.load_der_x509_certificate(ca_row.ocsp_cert_der))
                pki._issuers[(sha256, request.issuer_key_hash)] = issuer
        if issuer is None or issuer[1] != request.issuer_name_hash:
            # §2.3 unauthorized: this responder does not serve that issuer
            return revocation.error_response(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        ca_id, _, responder_cert = issuer
        current = status(conn, ca_id, request.serial_number)
    response = revocation.build_response(
        request=request,
        status=current,
        responder_cert=responder_cert,
        responder_key=pki.keyring.ocsp_key(ca_id),
        now=when,
    )
    return response.public_bytes(serialization.Encoding.DER)


# ---------------------------------------------------------------------------------------------------------------
# login


def relying_party(pki: Pki, *, trust: str) -> RelyingParty:
    """A relying party of prefecture ``trust`` that checks revocation through this PKI's own OCSP responder."""
    return RelyingParty.for_prefecture(
        code=trust,
        root=root(pki.engine, trust),
        intermediates=cross_certificates(pki.engine),
        revocation=OcspChecker(lambda req: ocsp_respond(pki, req)),
    )


def login_challenge(engine: Engine, *, audience: str, now: datetime | None = None) -> proto.Challenge:
    challenge = proto.Challenge.new(audience=audience, now=now or _now())
    with engine.begin() as conn:
        # expired, unused challenges are garbage: drop them as new ones come in
        conn.execute(
            store.challenge.delete().where(store.challenge.c.expires_at < (now or _now()) - timedelta(hours=1))
        )
        conn.execute(
            store.challenge.insert().values(
                nonce=challenge.nonce, audience=challenge.audience, expires_at=challenge.expires_at
            )
        )
    return challenge


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    subject_id: str
    expires_at: datetime


def login_finish(
    pki: Pki,
    *,
    response: proto.LoginResponse,
    audience: str,
    verifier: RelyingParty,
    now: datetime | None = None,
) -> Session:
    """Check a card's answer and open a session naming only the authentication certificate's random subject."""
    when = now or _now()
    with pki.engine.begin() as conn:
        row = conn.execute(sa.select(store.challenge).where(store.challenge.c.nonce == response.nonce)).one_or_none()
        if row is None:
            raise Refused("unknown challenge", field="nonce")
        # claim the challenge before anything else, so that it answers at most one login attempt
        claimed = conn.execute(
            store.challenge.update()
            .where(store.challenge.c.nonce == response.nonce, store.challenge.c.used_at.is_(None))
            .values(used_at=when)
        ).rowcount
    if claimed != 1:
        raise Refused("the challenge was already used", field="nonce")
    stored = proto.Challenge(nonce=row.nonce, audience=row.audience, expires_at=store.aware(row.expires_at))
    proto.check_challenge(stored, response, audience=audience, now=when)
    cert = proto.response_certificate(response)
    proto.check_signature(stored, response, cert)
    verifier.verify(cert, purpose=Purpose.AUTHENTICATION, at=when)
    subject = proto.subject_id(cert)
    expires = when + proto.SESSION_TTL
    claims = {"sub": subject, "aud": audience, "iat": int(when.timestamp()), "exp": int(expires.timestamp())}
    token = jwt.encode({"alg": "HS256"}, claims, pki.keyring.session_key())
    return Session(token=token, subject_id=subject, expires_at=expires)


def check_session(pki: Pki, token: str, *, audience: str, now: datetime | None = None) -> str:
    """The subject identifier of a valid session token; raises Refused otherwise."""
    try:
        decoded = jwt.decode(token, pki.keyring.session_key(), algorithms=["HS256"])
        jwt.JWTClaimsRegistry(
            now=int((now or _now()).timestamp()),
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            sub={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError):
        raise Refused("the session token is not valid", field="token") from None
    return str(decoded.claims["sub"])


def certificates_of(engine: Engine, *, municipality: str, handle: str) -> Sequence[Any]:
    """Serials, kinds and status of the certificates issued for one resident (no certificate bodies)."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(
                store.cert.c.ca_id,
                store.cert.c.serial,
                store.cert.c.kind,
                store.cert.c.not_after,
                store.cert.c.revoked_at,
                store.cert.c.reason,
            ).where(store.cert.c.municipality == municipality, store.cert.c.handle == handle)
        ).all()
