"""CRLs (RFC 5280 §5) and OCSP responses (RFC 6960): pure builders over a status the caller looked up."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from sekisho.errors import InvalidInput
from sekisho.pki.profiles import SIGNATURE_HASH, CaKey

CRL_LIFETIME = timedelta(days=1)
# OCSP answers reflect the database at the moment of the request; nextUpdate tells caches how long they may keep it
OCSP_LIFETIME = timedelta(minutes=10)

# RFC 5280 §5.3.1 reason names as the CLI and the database spell them (x509.ReasonFlags values)
REASONS = {flag.value: flag for flag in x509.ReasonFlags if flag is not x509.ReasonFlags.remove_from_crl}


def parse_reason(text: str) -> x509.ReasonFlags:
    """Accept ``keyCompromise``, ``key-compromise`` or ``key_compromise``."""
    key = text.strip()
    snake = "".join("_" + c.lower() if c.isupper() else c for c in key).replace("-", "_").lstrip("_")
    for candidate in (key, snake):
        for flag in REASONS.values():
            if candidate == flag.value or candidate == flag.name:
                return flag
    raise InvalidInput("not an RFC 5280 revocation reason", field="reason")


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags


def build_crl(
    *,
    issuer: x509.Name,
    issuer_key: CaKey,
    entries: Iterable[RevokedEntry],
    number: int,
    now: datetime,
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer)
        .last_update(now)
        .next_update(now + CRL_LIFETIME)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    for entry in entries:
        revoked = x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(entry.revoked_at)
        if entry.reason is not x509.ReasonFlags.unspecified:
            # §5.3.1: the reasonCode entry extension is absent rather than "unspecified"
            revoked = revoked.add_extension(x509.CRLReason(entry.reason), critical=False)
        builder = builder.add_revoked_certificate(revoked.build())
    return builder.sign(issuer_key, SIGNATURE_HASH)


@dataclass(frozen=True, slots=True)
class Status:
    state: Literal["good", "revoked", "unknown"]
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None


def parse_request(der: bytes) -> ocsp.OCSPRequest:
    """The request, with every field the responder reads already decoded: cryptography decodes the CertID's hash
    algorithm and the extensions only when they are read, so a bad one would otherwise fail as an unexpected
    error (HTTP 500) in the middle of answering instead of as RFC 6960 §2.3 malformedRequest."""
    try:
        request = ocsp.load_der_ocsp_request(der)
        request.hash_algorithm  # noqa: B018 - UnsupportedAlgorithm for a hash OID cryptography does not know
        request.extensions  # noqa: B018 - ValueError or DuplicateExtension for malformed extensions
    except (ValueError, UnsupportedAlgorithm, x509.DuplicateExtension):
        raise InvalidInput("not a single-certificate OCSP request", field="ocsp") from None
    except NotImplementedError:
        # what cryptography raises for a request with more than one CertID, which this responder does not serve
        raise InvalidInput("not a single-certificate OCSP request", field="ocsp") from None
    if request.serial_number < 0:
        # RFC 5280 §4.1.2.2: serial numbers are positive; no response can be signed for a negative one
        raise InvalidInput("the OCSP request's serial number is not positive", field="ocsp")
    return request


def request_nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def build_response(
    *,
    request: ocsp.OCSPRequest,
    status: Status,
    responder_cert: x509.Certificate,
    responder_key: CaKey,
    now: datetime,
) -> ocsp.OCSPResponse:
    """A signed "successful" response for the request's one CertID (RFC 6960 §4.2), echoing its nonce (§4.4.1)."""
    cert_status = {
        "good": ocsp.OCSPCertStatus.GOOD,
        "revoked": ocsp.OCSPCertStatus.REVOKED,
        "unknown": ocsp.OCSPCertStatus.UNKNOWN,
    }[status.state]
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=request.issuer_name_hash,
        issuer_key_hash=request.issuer_key_hash,
        serial_number=request.serial_number,
        algorithm=request.hash_algorithm,
        cert_status=cert_status,
        this_update=now,
        next_update=now + OCSP_LIFETIME,
        revocation_time=status.revoked_at if status.state == "revoked" else None,
        # RFC 6960 §2.2 revokedInfo.revocationReason: omitted when unspecified, like the CRL entry
        revocation_reason=status.reason
        if status.state == "revoked" and status.reason not in (None, x509.ReasonFlags.unspecified)
        else None,
    )
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder_cert).certificates([responder_cert])
    nonce = request_nonce(request)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.sign(responder_key, SIGNATURE_HASH)


def error_response(status: ocsp.OCSPResponseStatus) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(Encoding.DER)


def cert_id_hashes(name_der: bytes, spki_key_bits: bytes) -> dict[str, bytes]:
    """RFC 6960 §4.1.1: issuerNameHash over the DER name, issuerKeyHash over the key's BIT STRING value."""
    out = {}
    for label, algo in (("sha1", hashes.SHA1()), ("sha256", hashes.SHA256())):  # noqa: S303 - CertID, not security
        for part, data in (("name", name_der), ("key", spki_key_bits)):
            h = hashes.Hash(algo)
            h.update(data)
            out[f"{part}_{label}"] = h.finalize()
    return out
