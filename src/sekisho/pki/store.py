"""The PKI's tables (SQLAlchemy Core): CAs, every certificate issued, login challenges, card applications and
offers of a new signature certificate.

A citizen's certificates belong to the PKI's own pseudonym of the person (``owner``: the ``sks1:pki:…`` text,
which means nothing to any other party), so that the change notices the PKI receives as an agency of the network
can revoke them.  No table holds a handle, a municipality's record or another domain's pseudonym, and the PKI's
agency tables (``agy_*``, in this same database) are keyed by the same pseudonym.  Revocation is a column update,
read by OCSP and CRL on every request: there is no cache to go stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

meta = sa.Table(
    "pki_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

ca = sa.Table(
    "pki_ca",
    metadata,
    sa.Column("ca_id", sa.String(16), primary_key=True),  # pref-01..pref-47, bridge, org
    sa.Column("kind", sa.String(16), nullable=False),  # prefecture | bridge | organisation
    sa.Column("cert_der", sa.LargeBinary, nullable=True),  # self-signed root (None for the bridge)
    sa.Column("public_key_der", sa.LargeBinary, nullable=False),  # SubjectPublicKeyInfo
    sa.Column("subject_der", sa.LargeBinary, nullable=False),
    # OCSP CertID lookup (RFC 6960 §4.1.1): hashes of the issuer's name and public key, SHA-1 and SHA-256
    sa.Column("name_sha1", sa.LargeBinary(20), nullable=False),
    sa.Column("key_sha1", sa.LargeBinary(20), nullable=False, unique=True),
    sa.Column("name_sha256", sa.LargeBinary(32), nullable=False),
    sa.Column("key_sha256", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("ocsp_cert_der", sa.LargeBinary, nullable=False),
    sa.Column("crl_number", sa.BigInteger, nullable=False, server_default="0"),
)

cert = sa.Table(
    "pki_cert",
    metadata,
    sa.Column("ca_id", sa.String(16), sa.ForeignKey("pki_ca.ca_id"), primary_key=True),
    sa.Column("serial", sa.String(42), primary_key=True),  # lower-case hex, no leading zeros
    # authentication | signature | cross | party
    sa.Column("kind", sa.String(16), nullable=False),
    # a citizen certificate's holder: the PKI's pseudonym of the person (text form); None for CA and party ones
    sa.Column("owner", sa.String(100), nullable=True),
    # the card: the random id the card's two certificates share (the authentication certificate's subject)
    sa.Column("subject_id", sa.String(64), nullable=True),
    # when the register's data in the certificate was received (the enrolment): a change the register recorded
    # after it makes the certificate stale, one recorded before it is already in it
    sa.Column("data_as_of", sa.DateTime(timezone=True), nullable=True),
    sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
    sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
    sa.Column("der", sa.LargeBinary, nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reason", sa.String(32), nullable=True),  # RFC 5280 §5.3.1 CRLReason name
    sa.Index("pki_cert_owner", "owner"),
    sa.Index("pki_cert_subject", "subject_id"),
)

# the enrolments a card was issued from: each one serves one issuance (it is the application, not a standing right)
issuance = sa.Table(
    "pki_issuance",
    metadata,
    sa.Column("delivery_id", sa.String(64), primary_key=True),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
)

# a new signature certificate is offered when a register change revoked the old one (the resident re-issues at the
# counter); taken when a signature certificate is issued to the same owner again
offer = sa.Table(
    "pki_offer",
    metadata,
    sa.Column("owner", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(24), nullable=False),  # the register event that revoked it
    sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
)

challenge = sa.Table(
    "pki_login_challenge",
    metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("audience", sa.String(255), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
)


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every time in this context is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def get_meta(conn: sa.Connection, key: str) -> str | None:
    return conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()


def set_meta(conn: sa.Connection, key: str, value: str) -> None:
    if get_meta(conn, key) is None:
        conn.execute(meta.insert().values(key=key, value=value))
    else:
        conn.execute(meta.update().where(meta.c.key == key).values(value=value))


def cas(conn: sa.Connection) -> Sequence[Any]:
    return conn.execute(sa.select(ca).order_by(ca.c.ca_id)).all()


def ca_row(conn: sa.Connection, ca_id: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(ca).where(ca.c.ca_id == ca_id)).one_or_none()


def ca_by_key_hash(conn: sa.Connection, *, sha256: bool, key_hash: bytes) -> sa.Row[Any] | None:
    col = ca.c.key_sha256 if sha256 else ca.c.key_sha1
    return conn.execute(sa.select(ca).where(col == key_hash)).one_or_none()


def cert_row(conn: sa.Connection, ca_id: str, serial: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(cert).where(cert.c.ca_id == ca_id, cert.c.serial == serial)).one_or_none()


def certs_by_serial(conn: sa.Connection, serial: str) -> Sequence[Any]:
    return conn.execute(sa.select(cert).where(cert.c.serial == serial)).all()


def live_certs_of(conn: sa.Connection, owner: str, kinds: Sequence[str]) -> Sequence[Any]:
    return conn.execute(
        sa.select(cert).where(cert.c.owner == owner, cert.c.kind.in_(kinds), cert.c.revoked_at.is_(None))
    ).all()


def live_certs_of_card(conn: sa.Connection, subject_id: str) -> Sequence[Any]:
    return conn.execute(
        sa.select(cert).where(
            cert.c.subject_id == subject_id,
            cert.c.kind.in_(("authentication", "signature")),
            cert.c.revoked_at.is_(None),
        )
    ).all()


def mark_revoked(conn: sa.Connection, ca_id: str, serial: str, *, at: datetime, reason: str) -> bool:
    result = conn.execute(
        cert.update()
        .where(cert.c.ca_id == ca_id, cert.c.serial == serial, cert.c.revoked_at.is_(None))
        .values(revoked_at=at, reason=reason)
    )
    return result.rowcount == 1


def revoked_of(conn: sa.Connection, ca_id: str) -> Sequence[Any]:
    return conn.execute(
        sa.select(cert.c.serial, cert.c.revoked_at, cert.c.reason, cert.c.not_after)
        .where(cert.c.ca_id == ca_id, cert.c.revoked_at.is_not(None))
        .order_by(cert.c.revoked_at)
    ).all()


def next_crl_number(conn: sa.Connection, ca_id: str) -> int:
    # a single UPDATE ... RETURNING-free increment that is safe under concurrent CRL requests
    conn.execute(ca.update().where(ca.c.ca_id == ca_id).values(crl_number=ca.c.crl_number + 1))
    return int(conn.execute(sa.select(ca.c.crl_number).where(ca.c.ca_id == ca_id)).scalar_one())
