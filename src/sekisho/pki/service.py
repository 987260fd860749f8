"""The PKI's procedures, each one transaction: set up the hierarchy, issue a card's certificates, revoke on the
register's change notices, answer OCSP, publish CRLs, run the card login.

The PKI is an agency of the network with a pseudonym domain of its own (``pki``): a municipality enrols a resident
with it (policy decision, access record, R → pki through T1 and T2), and the PKI receives its own pseudonym of the
person and the four basic items.  Certificates belong to that pseudonym; the change notices it receives as an
agency revoke them (:func:`apply_event`, run inside the transaction that stores the notice).  A pseudonym is
stable across moves, so nothing is rebound when the resident moves, and no handle ever reaches the PKI.

Keys live in encrypted files under ``<home>/pki/keys`` (:mod:`sekisho.pki.keys`), the domain key in
``<home>/pki/domain-pki.key``; the database holds the CAs' certificates, every certificate issued with its owner
and its status, and the agency tables (``agy_*``) keyed by the same pseudonym.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlalchemy.engine import Engine

from sekisho.agency.interfaces import Notice
from sekisho.agency.service import AgencyService
from sekisho.config import Home, check_party, check_terminal
from sekisho.errors import Conflict, InvalidInput, NotFound, Refused, Unavailable
from sekisho.pki import keys as keyfiles
from sekisho.pki import login as proto
from sekisho.pki import profiles, revocation, store
from sekisho.pki.oids import Purpose
from sekisho.pki.prefectures import prefecture, prefecture_of_municipality, prefectures
from sekisho.pki.profiles import BRIDGE, ORGANISATION, BasicItems, CaKey, Endpoints, Sex, prefecture_ca_id
from sekisho.pki.verify import OcspChecker, RelyingParty
from sekisho.pseudonyms import decode_pseudonym
from sekisho.pseudonyms.group import Scalar
from sekisho.pseudonyms.keyfile import DEFAULT_N
from sekisho.pseudonyms.keys import domain_key_path
from sekisho.storage import open_party_db

log = logging.getLogger("sekisho.pki")

PARTY = "pki"
#: the PKI's pseudonym domain (its agency name in the legal-basis table) and its one purpose
DOMAIN = "pki"
PURPOSE = "pki.certificate"
#: how long after it reached the PKI an enrolment may be used to apply for a card (once)
APPLICATION_TTL = timedelta(minutes=15)
#: a change the register recorded less than this before a certificate's data arrived may not be in it (clocks of
#: two parties, and the time from the register's read to the PKI's receipt): such a certificate is revoked
CHANGE_MARGIN = timedelta(seconds=5)
DEFAULT_BASE_URL = "http://127.0.0.1:8470"
BASE_URL_ENV = "SEKISHO_PKI_URL"
_CA_ID = re.compile(rf"pref-(0[1-9]|[1-3][0-9]|4[0-7])|{BRIDGE}|{ORGANISATION}")


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


def _cert_row(
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
    # the ids are a closed set: anything else (a NUL, which PostgreSQL text refuses with an error) is not looked up
    row = store.ca_row(conn, ca_id) if _CA_ID.fullmatch(ca_id) else None
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
# the PKI as an agency of the network


def join_network(
    pki: Pki, home: Home, *, shares: Sequence[Scalar], passphrase: bytes, scrypt_n: int = DEFAULT_N
) -> bool:
    """Give the PKI its pseudonym domain: its key from T1's and T2's shares, its agency tables in its own
    database.  Idempotent; returns whether it was set up now."""
    if domain_key_path(home.party_dir(PARTY), DOMAIN).exists():
        return False
    AgencyService.create(
        home, DOMAIN, purposes=[PURPOSE], shares=shares, passphrase=passphrase, scrypt_n=scrypt_n, engine=pki.engine
    )
    return True


def agency_of(pki: Pki, home: Home, *, passphrase: bytes) -> AgencyService:
    """The PKI as municipalities reach it: enrolments and change notices under its own pseudonym, on its own
    database, where a notice revokes certificates in the transaction that stores it."""
    if not domain_key_path(home.party_dir(PARTY, create=False), DOMAIN).exists():
        raise NotFound("the PKI has not joined the network (run `sekisho pki init` after `network init`)", field="pki")
    return AgencyService.open(home, DOMAIN, passphrase=passphrase, engine=pki.engine, on_notice=_on_notice)


# ---------------------------------------------------------------------------------------------------------------
# issuance


@dataclass(frozen=True, slots=True)
class Issued:
    subject_id: str
    authentication: x509.Certificate | None
    signature: x509.Certificate | None


@dataclass(frozen=True, slots=True, repr=False)
class Application:
    """A card application: one person the municipality just enrolled with the PKI (one delivery), as the PKI
    received them — its own pseudonym and exactly the items the register released."""

    delivery_id: str
    municipality: str
    owner: str
    received_at: datetime
    _attributes: Mapping[str, str]

    def basic_items(self) -> BasicItems:
        """The four basic items for a signature certificate, as the register released them."""
        a = self._attributes
        missing = [i for i in ("name", "birth_date", "sex", "address") if not a.get(i)]
        if missing:
            raise Refused(f"the register released no {missing[0]} for this resident", field="items")
        try:
            born = date.fromisoformat(a["birth_date"])
        except ValueError:
            raise Conflict("the register's birth date is not complete", field="birth_date") from None
        sex = {"M": "male", "F": "female"}.get(a["sex"])
        if sex is None:
            raise Conflict("the register's sex is neither M nor F", field="sex")
        return BasicItems(name=a["name"], birth_date=born, sex=cast(Sex, sex), address=a["address"])

    def __repr__(self) -> str:
        return f"Application(delivery_id={self.delivery_id!r})"


def application(
    pki: Pki, agency: AgencyService, *, delivery_id: str, municipality: str, now: datetime | None = None
) -> Application:
    """The enrolment ``delivery_id`` as a card application at ``municipality``'s counter: it must have reached the
    PKI for ``pki.certificate`` within :data:`APPLICATION_TTL`, name one person and not have served already."""
    prefecture_of_municipality(municipality)
    # delivery ids are "<municipality>-<request id>" (sekisho.registry.release): only the municipality that
    # enrolled applies with it (in production its counter terminal authenticates with its own certificate)
    if not delivery_id.startswith(f"{municipality}-"):
        raise Refused("the enrolment was made by another municipality", field="delivery")
    received = agency.delivered(delivery_id)
    if not received:
        raise NotFound("no enrolment with that id reached the PKI", field="delivery")
    if len(received) != 1:
        raise InvalidInput("a card application names exactly one person", field="delivery")
    [person] = received
    if person.purpose != PURPOSE:
        raise Refused(f"the enrolment was not for {PURPOSE}", field="delivery")
    if (now or _now()) - person.received_at > APPLICATION_TTL:
        raise Refused("the enrolment is too old to apply for a card: enrol the resident again", field="delivery")
    with pki.engine.connect() as conn:
        if _used(conn, delivery_id):
            raise Conflict("a card was issued from this enrolment already", field="delivery")
    return Application(delivery_id, municipality, person.pseudonym, person.received_at, dict(person.attributes))


def _used(conn: sa.Connection, delivery_id: str) -> bool:
    c = store.issuance.c
    return conn.execute(sa.select(c.delivery_id).where(c.delivery_id == delivery_id)).first() is not None


def card_of(pki: Pki, *, owner: str, certificate: x509.Certificate) -> str:
    """The card (its subject id) whose authentication certificate is ``certificate``, if it is ``owner``'s and
    still valid; refused otherwise — a card is re-issued a signature certificate only for its own holder."""
    with pki.engine.connect() as conn:
        rows = store.certs_by_serial(conn, store.serial_hex(certificate.serial_number))
    row = next((r for r in rows if r.kind == "authentication" and bytes(r.der) == _der(certificate)), None)
    if row is None or row.owner != owner or row.revoked_at is not None or row.subject_id is None:
        raise Refused("the card's authentication certificate is not this resident's, or not valid", field="card")
    return str(row.subject_id)


def issue_card(
    pki: Pki,
    app: Application,
    *,
    authentication_csr: x509.CertificateSigningRequest | None,
    signature_csr: x509.CertificateSigningRequest | None,
    card: str | None = None,
    now: datetime | None = None,
) -> Issued:
    """Issue from a card application: a new card (both requests), or a new signature certificate on the card
    ``card`` (its subject id, from :func:`card_of`) that keeps its authentication certificate."""
    if card is not None and authentication_csr is not None:
        raise InvalidInput("a card keeps its authentication certificate: request only a signature", field="csr")
    if card is None and authentication_csr is None:
        raise InvalidInput("a new card needs its authentication certificate", field="authentication_csr")
    return issue(
        pki,
        owner=app.owner,
        municipality=app.municipality,
        authentication_csr=authentication_csr,
        signature_csr=signature_csr,
        items=app.basic_items() if signature_csr is not None else None,
        subject_id=card,
        data_as_of=app.received_at,
        application=app.delivery_id,
        now=now,
    )


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
    owner: str,
    municipality: str,
    authentication_csr: x509.CertificateSigningRequest | None,
    signature_csr: x509.CertificateSigningRequest | None,
    items: BasicItems | None,
    subject_id: str | None = None,
    data_as_of: datetime | None = None,
    application: str | None = None,
    now: datetime | None = None,
    validity: timedelta | None = None,
) -> Issued:
    """Issue certificates from the prefectural CA of ``municipality`` (where the card is issued) to ``owner``, the
    PKI's pseudonym of the person, in one transaction: the application is claimed, the owner's earlier live
    certificates of the same kinds are superseded (one card per person), an open offer is taken.

    The authentication certificate gets the card's random subject identifier and nothing else; the signature
    certificate carries ``items``, which must be what the register released (:meth:`Application.basic_items`).
    ``subject_id``: an existing card of the owner's that gets a new signature certificate.
    """
    if authentication_csr is None and signature_csr is None:
        raise InvalidInput("nothing to issue: give a certificate request", field="csr")
    if signature_csr is not None and items is None:
        raise InvalidInput("a signature certificate needs the four basic items from the register", field="items")
    decode_pseudonym(owner, domain=DOMAIN)
    pref = prefecture_of_municipality(municipality)
    ca_id = prefecture_ca_id(pref.code)
    when = now or _now()
    not_after = when + validity if validity is not None else None
    issuer_key = pki.keyring.ca_key(ca_id)
    endpoints = pki.endpoints()
    with pki.engine.begin() as conn:
        if application is not None:
            if _used(conn, application):
                raise Conflict("a card was issued from this enrolment already", field="delivery")
            conn.execute(store.issuance.insert().values(delivery_id=application[:64], issued_at=when))
        if subject_id is not None and not any(
            r.kind == "authentication" and r.owner == owner for r in store.live_certs_of_card(conn, subject_id)
        ):
            raise Refused("the card's authentication certificate is not this resident's, or not valid", field="card")
        issuer = x509.load_der_x509_certificate(_ca(conn, ca_id).cert_der)
        card = subject_id or profiles.new_subject_id()
        auth_cert = sign_cert = None
        rows = []
        if authentication_csr is not None:
            auth_cert = profiles.authentication_certificate(
                prefecture=pref.code,
                subject_id=card,
                key=_accept_csr(authentication_csr, "authentication_csr"),
                issuer=issuer,
                issuer_key=issuer_key,
                endpoints=endpoints,
                now=when,
                not_after=not_after,
            )
            rows.append(
                _cert_row(ca_id, auth_cert, "authentication", when, owner=owner, subject_id=card, data_as_of=data_as_of)
            )
        if signature_csr is not None and items is not None:
            sign_cert = profiles.signature_certificate(
                prefecture=pref.code,
                subject_id=card,
                items=items,
                key=_accept_csr(signature_csr, "signature_csr"),
                issuer=issuer,
                issuer_key=issuer_key,
                endpoints=endpoints,
                now=when,
                not_after=not_after,
            )
            rows.append(
                _cert_row(ca_id, sign_cert, "signature", when, owner=owner, subject_id=card, data_as_of=data_as_of)
            )
            conn.execute(
                store.offer.update()
                .where(store.offer.c.owner == owner, store.offer.c.taken_at.is_(None))
                .values(taken_at=when)
            )
        # one live certificate of each kind per person: a new card (or signature) supersedes the earlier one
        kinds = [r["kind"] for r in rows]
        for old in store.live_certs_of(conn, owner, kinds):
            store.mark_revoked(conn, old.ca_id, old.serial, at=when, reason=x509.ReasonFlags.superseded.value)
        conn.execute(store.cert.insert(), rows)
    return Issued(subject_id=card, authentication=auth_cert, signature=sign_cert)


def issue_party_certificate(
    pki: Pki,
    *,
    party: str,
    csr: x509.CertificateSigningRequest,
    hosts: Sequence[str] = (),
    now: datetime | None = None,
) -> x509.Certificate:
    """A network party's TLS server and client certificate from the organisation CA (``OU=<role>, CN=<party>``;
    loopback and ``hosts`` in subjectAltName).  Revocable like any other (:func:`revoke`, by serial)."""
    check_party(party)
    for host in hosts:
        if not _HOST.fullmatch(host):
            raise InvalidInput("a host is a DNS name or an IP address", field="hosts")
    return _issue_organisation(
        pki,
        csr=csr,
        kind="party",
        now=now,
        build=lambda key, issuer, endpoints, when: profiles.party_certificate(
            party=party,
            key=key,
            issuer=issuer,
            issuer_key=pki.keyring.ca_key(ORGANISATION),
            endpoints=endpoints,
            now=when,
            hosts=hosts,
        ),
    )


def issue_terminal_certificate(
    pki: Pki,
    *,
    terminal: str,
    csr: x509.CertificateSigningRequest,
    days: int = profiles.TERMINAL_DAYS,
    now: datetime | None = None,
) -> x509.Certificate:
    """A terminal's certificate (``OU=terminal, CN=<party>/<local id>``) from the organisation CA: its key signs
    the requests that cause an access; revoking it (by serial) shuts out that terminal alone."""
    check_terminal(terminal)
    if not 1 <= days <= profiles.TERMINAL_DAYS:
        raise InvalidInput(f"must be between 1 and {profiles.TERMINAL_DAYS}", field="days")
    return _issue_organisation(
        pki,
        csr=csr,
        kind="terminal",
        now=now,
        build=lambda key, issuer, endpoints, when: profiles.terminal_certificate(
            terminal=terminal,
            key=key,
            issuer=issuer,
            issuer_key=pki.keyring.ca_key(ORGANISATION),
            endpoints=endpoints,
            now=when,
            days=days,
        ),
    )


_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|[0-9a-fA-F:.]{2,45}")
_Build = Callable[[ec.EllipticCurvePublicKey, x509.Certificate, Endpoints, datetime], x509.Certificate]


def _issue_organisation(
    pki: Pki, *, csr: x509.CertificateSigningRequest, kind: str, now: datetime | None, build: _Build
) -> x509.Certificate:
    when = now or _now()
    key = _accept_csr(csr, "csr")
    endpoints = pki.endpoints()
    with pki.engine.begin() as conn:
        issuer = x509.load_der_x509_certificate(_ca(conn, ORGANISATION).cert_der)
        cert = build(key, issuer, endpoints, when)
        conn.execute(store.cert.insert(), [_cert_row(ORGANISATION, cert, kind, when)])
    return cert


# ---------------------------------------------------------------------------------------------------------------
# revocation


# What each register change does to the owner's certificates (the notices of the PKI's legal-basis row):
#   died         both, cessationOfOperation: the holder no longer exists as a resident
#   moved_*      signature only, affiliationChanged: its address is no longer true; a new one is offered
#                (moved_in too: the destination's notice may arrive before the origin's moved_out)
#   name_changed signature only, superseded: its name is no longer true; a new one is offered
# A lost card is not a register event: revoke_card, keyCompromise.
_RULES: dict[str, tuple[tuple[str, ...], x509.ReasonFlags, bool]] = {
    "died": (("authentication", "signature"), x509.ReasonFlags.cessation_of_operation, False),
    "moved_out": (("signature",), x509.ReasonFlags.affiliation_changed, True),
    "moved_in": (("signature",), x509.ReasonFlags.affiliation_changed, True),
    "moved_within": (("signature",), x509.ReasonFlags.affiliation_changed, True),
    "name_changed": (("signature",), x509.ReasonFlags.superseded, True),
}


@dataclass(frozen=True, slots=True)
class EventOutcome:
    revoked: tuple[str, ...]  # "ca_id:serial"
    reason: x509.ReasonFlags
    #: the signature certificate's contents changed: the resident is offered a new one
    offer_new_signature: bool


def apply_event(
    conn: sa.Connection, *, owner: str, kind: str, recorded_at: datetime | None, now: datetime
) -> EventOutcome | None:
    """Apply one register change to ``owner``'s live certificates, in the caller's transaction; ``None`` for a
    change that concerns no certificate.  A certificate whose data arrived after the register recorded the change
    (plus :data:`CHANGE_MARGIN` for the clocks) already holds it and is kept: a notice delivered after the resident
    re-issued at the counter does not revoke the new certificate.  Idempotent: a repeat finds nothing to revoke."""
    rule = _RULES.get(kind)
    if rule is None:
        return None
    kinds, reason, offer = rule
    revoked: list[str] = []
    signature = False
    for row in store.live_certs_of(conn, owner, kinds):
        as_of = store.aware(row.data_as_of) if row.data_as_of is not None else None
        if as_of is not None and recorded_at is not None and as_of >= recorded_at + CHANGE_MARGIN:
            continue  # its data arrived after the change was recorded: it already holds it
        if store.mark_revoked(conn, row.ca_id, row.serial, at=now, reason=reason.value):
            revoked.append(f"{row.ca_id}:{row.serial}")
            signature = signature or row.kind == "signature"
    offered = offer and signature
    if offered:
        o = store.offer.c
        if conn.execute(sa.select(o.owner).where(o.owner == owner)).first() is None:
            conn.execute(store.offer.insert().values(owner=owner, kind=kind, offered_at=now, taken_at=None))
        else:
            conn.execute(store.offer.update().where(o.owner == owner).values(kind=kind, offered_at=now, taken_at=None))
    return EventOutcome(revoked=tuple(revoked), reason=reason, offer_new_signature=offered)


def on_register_event(
    engine: Engine, *, owner: str, kind: str, recorded_at: datetime | None = None, at: datetime | None = None
) -> EventOutcome:
    """:func:`apply_event` in a transaction of its own (the notice hook runs it inside the notice's)."""
    if kind not in _RULES:
        raise InvalidInput("not a register event the PKI handles", field="kind")
    decode_pseudonym(owner, domain=DOMAIN)
    when = at or _now()
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    with engine.begin() as conn:
        outcome = apply_event(conn, owner=owner, kind=kind, recorded_at=recorded_at, now=when)
    assert outcome is not None
    return outcome


def _on_notice(conn: sa.Connection, pseudonym: str, notice: Notice) -> None:
    """The PKI's notice hook: a change notice revokes what it makes untrue, in the notice's own transaction."""
    outcome = apply_event(conn, owner=pseudonym, kind=notice.kind, recorded_at=notice.recorded_at, now=_now())
    if outcome is not None and outcome.revoked:
        log.info("pki: notice kind=%s revoked n=%d", notice.kind, len(outcome.revoked))


def offers(engine: Engine) -> list[dict[str, Any]]:
    """Open offers of a new signature certificate: owner (the PKI's pseudonym), the change, when."""
    o = store.offer.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(store.offer).where(o.taken_at.is_(None)).order_by(o.offered_at, o.owner)).all()
    return [{"owner": r.owner, "kind": r.kind, "offered_at": store.aware(r.offered_at)} for r in rows]


def _serial(serial: str) -> str:
    try:
        return store.serial_hex(int(serial.removeprefix("0x").replace(":", ""), 16))
    except ValueError:
        raise InvalidInput("a serial number is hexadecimal", field="serial") from None


def _one_by_serial(conn: sa.Connection, serial: str, ca_id: str | None) -> sa.Row[Any]:
    rows = [r for r in store.certs_by_serial(conn, _serial(serial)) if ca_id is None or r.ca_id == ca_id]
    if not rows:
        raise NotFound("no certificate with that serial number", field="serial")
    if len(rows) > 1:
        raise Conflict("two CAs issued that serial number: name the CA", field="ca")
    row: sa.Row[Any] = rows[0]
    return row


def revoke(
    engine: Engine,
    *,
    serial: str,
    reason: x509.ReasonFlags,
    ca_id: str | None = None,
    at: datetime | None = None,
) -> str:
    """Revoke one certificate by serial (hex); ``ca_id`` disambiguates if two CAs used the same serial."""
    if reason is x509.ReasonFlags.remove_from_crl:
        raise InvalidInput("removeFromCRL is for delta CRLs only", field="reason")
    with engine.begin() as conn:
        row = _one_by_serial(conn, serial, ca_id)
        if row.revoked_at is not None:
            raise Conflict("the certificate is already revoked", field="serial")
        store.mark_revoked(conn, row.ca_id, row.serial, at=at or _now(), reason=reason.value)
    return f"{row.ca_id}:{row.serial}"


def revoke_card(
    engine: Engine,
    *,
    serial: str,
    reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise,
    ca_id: str | None = None,
    at: datetime | None = None,
) -> tuple[str, ...]:
    """Revoke every live certificate of the card that holds certificate ``serial`` (a lost or stolen card: both
    keys are on it).  Not a register event: the resident reports it at the counter or the PKI's help line."""
    if reason is x509.ReasonFlags.remove_from_crl:
        raise InvalidInput("removeFromCRL is for delta CRLs only", field="reason")
    with engine.begin() as conn:
        row = _one_by_serial(conn, serial, ca_id)
        if row.kind not in ("authentication", "signature") or row.subject_id is None:
            raise InvalidInput("names no card's certificate (revoke it alone)", field="serial")
        live = store.live_certs_of_card(conn, row.subject_id)
        if not live:
            raise Conflict("the card's certificates are already revoked", field="serial")
        when = at or _now()
        for r in live:
            store.mark_revoked(conn, r.ca_id, r.serial, at=when, reason=reason.value)
    return tuple(f"{r.ca_id}:{r.serial}" for r in live)


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


def certificates_of(engine: Engine, *, owner: str) -> Sequence[Any]:
    """Serials, kinds and status of the certificates issued to one person (no certificate bodies)."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(
                store.cert.c.ca_id,
                store.cert.c.serial,
                store.cert.c.kind,
                store.cert.c.not_after,
                store.cert.c.revoked_at,
                store.cert.c.reason,
            ).where(store.cert.c.owner == owner)
        ).all()


# ---------------------------------------------------------------------------------------------------------------
# credential issuers (SD-JWT VC, docs/credentials.md)


def certify_credential_issuer(
    pki: Pki, *, municipality: str, public_key: ec.EllipticCurvePublicKey, now: datetime | None = None
) -> list[x509.Certificate]:
    """Certify a municipality's credential-issuer key from its prefectural CA, in one transaction.

    Returns the ``x5c`` chain a credential carries: the issuer certificate, then the bridge's certificate to the
    prefecture (the verifier adds its own prefecture's certificate to the bridge and its root)."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
        raise InvalidInput("the issuer key must be ECDSA P-256", field="public_key")
    when = now or _now()
    pref = prefecture_of_municipality(municipality).code
    ca_id = prefecture_ca_id(pref)
    with pki.engine.begin() as conn:
        issuer = x509.load_der_x509_certificate(_ca(conn, ca_id).cert_der)
        cert = profiles.credential_issuer_certificate(
            prefecture=pref,
            municipality=municipality,
            key=public_key,
            issuer=issuer,
            issuer_key=pki.keyring.ca_key(ca_id),
            endpoints=pki.endpoints(),
            now=when,
        )
        conn.execute(store.cert.insert(), [_cert_row(ca_id, cert, "vc-issuer", when)])
    bridge_to_pref = [
        c for c in cross_certificates(pki.engine) if c.subject == issuer.subject and c.issuer != c.subject
    ]
    return [cert, *bridge_to_pref[:1]]


@dataclass(frozen=True, slots=True)
class CredentialChainValidator:
    """A verifier of prefecture ``trust`` checking a credential's ``x5c`` through the bridge, with revocation
    (OCSP of this PKI).  It has the shape ``sekisho.verifier`` asks for (``validate(chain, at=…) -> issuer``)."""

    pki: Pki
    trust: str

    def validate(self, chain: Sequence[x509.Certificate], *, at: datetime) -> str:
        if not chain:
            raise InvalidInput("x5c is empty", field="x5c")
        path = relying_party(self.pki, trust=self.trust).verify(chain[0], purpose=Purpose.SIGNATURE, at=at)
        leaf = path.chain[0]
        unit = leaf.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
        cn = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if not unit or unit[0].value != "credential-issuer" or not cn:
            raise Refused("the certificate is not a credential issuer's", field="x5c")
        return str(cn[0].value)
