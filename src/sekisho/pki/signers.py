"""Keys the organisation CA certifies for documents: a municipality's signer of certificates of residence (PAdES
and JWS, ``sekisho.certificates``).  A certificate here is revocable like any other (``status.revoke`` by serial,
listed in ``/pki/crl/org.crl``), and a certificate of residence carries that CRL so it verifies offline later."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sekisho.errors import InvalidInput
from sekisho.jp.catalogue import get_municipality
from sekisho.pki import profiles, store
from sekisho.pki.hierarchy import Pki, ca_certificate, cert_row
from sekisho.pki.profiles import ORGANISATION


def insert_organisation_cert(conn: sa.Connection, cert: x509.Certificate, *, kind: str, now: datetime) -> None:
    """The organisation CA's record of a certificate it issued (what its CRL and OCSP answer from)."""
    conn.execute(store.cert.insert(), [cert_row(ORGANISATION, cert, kind, now)])


def certify_document_signer(
    pki: Pki, *, municipality: str, public_key: ec.EllipticCurvePublicKey, now: datetime | None = None
) -> list[x509.Certificate]:
    """Certify municipality ``municipality``'s certificate-of-residence key; returns [its certificate, the
    organisation CA's certificate] (the chain a PDF signature and a JWS ``x5c`` carry)."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
        raise InvalidInput("the signer key must be ECDSA P-256", field="public_key")
    code = get_municipality(municipality, field="municipality").code
    when = now or datetime.now(UTC)
    issuer = ca_certificate(pki.engine, ORGANISATION)
    cert = profiles.document_signer_certificate(
        municipality=code,
        key=public_key,
        issuer=issuer,
        issuer_key=pki.keyring.ca_key(ORGANISATION),
        endpoints=pki.endpoints(),
        now=when,
    )
    with pki.engine.begin() as conn:
        insert_organisation_cert(conn, cert, kind="doc-signer", now=when)
    return [cert, issuer]
