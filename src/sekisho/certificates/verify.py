"""Verifying a certificate of residence offline, against the published organisation root only.

The PDF: pyHanko's PAdES B-LT validation — the one signature covers the document (later revisions may only add
validation data), the signer's chain ends at a given root, the signature timestamp is valid, and the revocation
information embedded in the document says the signer's certificate was good when the timestamp was made.  The JSON
form: the detached JWS verifies (joserfc) with the key of its ``x5c`` certificate, whose chain ends at a given root,
over the canonical bytes of the ``certificate`` member.  Verification returns what was verified, or raises
:class:`IntegrityError` (exit 4) — never a bare bool a caller could forget to look at.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from sekisho.certificates.model import Certificate, canonical
from sekisho.certificates.signing import ALGORITHM, JWS_TYPE, registry
from sekisho.errors import IntegrityError, InvalidInput

SIGNER_UNIT = "certificate-signer"


@dataclass(frozen=True, slots=True)
class Verified:
    """A verified certificate: which municipality signed it, and when (the timestamp's time, for a PDF)."""

    municipality: str
    signed_at: datetime | None
    serial: str | None
    form: str  # "pdf" | "json"
    certificate: Certificate | None = None  # the JSON form's content


def _municipality_of(subject: x509.Name) -> str:
    unit = subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
    cn = subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if not unit or unit[0].value != SIGNER_UNIT or not cn:
        raise IntegrityError("the signer is not a municipality's certificate signer", field="signer")
    return str(cn[0].value)


def _timestamp_time(signature: Any) -> datetime:
    """The signature timestamp's genTime (RFC 3161 TSTInfo in the signer's unsigned attributes)."""
    from pyhanko.sign.general import find_unique_cms_attribute

    token = find_unique_cms_attribute(signature.signer_info["unsigned_attrs"], "signature_time_stamp_token")
    when: datetime = token["content"]["encap_content_info"]["content"].parsed["gen_time"].native
    return when


def verify_pdf(data: bytes, *, roots: Sequence[x509.Certificate]) -> Verified:
    """PAdES B-LT, offline: the revocation data comes from the document's own security store (DSS) and the chain
    is judged at the time of the signature's timestamp, so the file verifies years later without the network."""
    import asyncio

    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.general import NonexistentAttributeError
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko.sign.validation.errors import SignatureValidationError, ValidationInfoReadingError
    from pyhanko.sign.validation.pdf_embedded import async_validate_pdf_signature

    if not roots:
        raise InvalidInput("verification needs at least one trust root", field="roots")
    anchors = [asn1_x509.Certificate.load(r.public_bytes(serialization.Encoding.DER)) for r in roots]
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise IntegrityError(f"the file is not a readable PDF ({type(exc).__name__})", field="file") from None
    if len(signatures) != 1:
        raise IntegrityError(f"expected one signature, found {len(signatures)}", field="file")
    signature = signatures[0]
    try:
        at = _timestamp_time(signature)
        dss = DocumentSecurityStore.read_dss(reader)
        settings = {"trust_roots": anchors, "allow_fetching": False, "revocation_mode": "hard-fail", "moment": at}
        status = asyncio.run(
            async_validate_pdf_signature(
                signature,
                signer_validation_context=dss.as_validation_context(settings),
                ts_validation_context=dss.as_validation_context(settings),
            )
        )
    except (NonexistentAttributeError, KeyError):
        raise IntegrityError("the signature has no timestamp", field="timestamp") from None
    except (SignatureValidationError, ValidationInfoReadingError, PdfReadError, ValueError, TypeError) as exc:
        raise IntegrityError(f"the signature does not validate ({type(exc).__name__})", field="signature") from None
    if not (status.intact and status.valid):
        raise IntegrityError("the document was altered after it was signed", field="file")
    if not status.trusted:
        raise IntegrityError("the signer is not trusted (no valid chain and revocation data)", field="signer")
    if status.modification_level is None or status.modification_level > ModificationLevel.LTA_UPDATES:
        raise IntegrityError("the document was changed after it was signed", field="file")
    if status.coverage is None or status.coverage.name not in ("ENTIRE_FILE", "ENTIRE_REVISION"):
        raise IntegrityError("the signature does not cover its revision", field="file")
    ts = status.timestamp_validity
    if ts is None or not ts.valid or not ts.intact or ts.trusted is not True:
        raise IntegrityError("the signature timestamp is not valid or not trusted", field="timestamp")
    signer = x509.load_der_x509_certificate(status.signing_cert.dump())
    # the form's serial, from the document information dictionary (inside the signed bytes)
    subject: str | None = None
    if "/Info" in reader.trailer and "/Subject" in reader.trailer["/Info"]:
        subject = str(reader.trailer["/Info"]["/Subject"])
    return Verified(
        municipality=_municipality_of(signer.subject),
        signed_at=ts.timestamp,
        serial=subject.removeprefix("交付番号 ") if isinstance(subject, str) else None,
        form="pdf",
    )


def _chain_ok(
    chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], at: datetime, crls: Sequence[bytes] = ()
) -> None:
    """The signer's certificate chains to a root and was valid at ``at`` (pyHanko's path validation); with
    ``crls``, also not revoked then (hard-fail: a CRL that does not answer for the certificate fails it)."""
    import asyncio

    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

    def asn1(c: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    context = ValidationContext(
        trust_roots=[asn1(r) for r in roots],
        moment=at,
        allow_fetching=False,
        crls=list(crls),
        revocation_mode="hard-fail" if crls else "soft-fail",
    )
    validator = CertificateValidator(asn1(chain[0]), [asn1(c) for c in chain[1:]], validation_context=context)
    try:
        asyncio.run(validator.async_validate_usage({"digital_signature"}))  # type: ignore[no-untyped-call]
    except (PathBuildingError, PathValidationError, ValueError):
        raise IntegrityError(
            "the signer's certificate does not chain to a trusted root, or was revoked", field="x5c"
        ) from None


def verify_document(
    data: Mapping[str, Any], *, roots: Sequence[x509.Certificate], key: Mapping[str, Any] | None = None
) -> Verified:
    """The JSON form ``{"certificate": {...}, "jws": "<header>..<signature>", "crl": "<base64 DER>"}``.  With
    ``key`` (a published JWK), the signature must be by that key; otherwise by the key of the ``x5c`` certificate,
    chained to ``roots`` and, with the embedded CRL (the organisation CA's, at issue time), not revoked then."""
    if not isinstance(data, Mapping) or not isinstance(data.get("jws"), str) or "certificate" not in data:
        raise InvalidInput("is not a signed certificate of residence (certificate, jws)", field="file")
    doc = data["certificate"]
    certificate = Certificate.from_document(doc)
    token: str = data["jws"]
    try:
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]]
    except (ValueError, KeyError, TypeError, IndexError):
        raise IntegrityError("the signature's header is not readable", field="jws") from None
    if header.get("typ") != JWS_TYPE or header.get("alg") != ALGORITHM or not chain:
        raise IntegrityError("the signature is not a certificate-of-residence JWS", field="jws")
    municipality = _municipality_of(chain[0].subject)
    signer_key = chain[0].public_key()
    if not isinstance(signer_key, ec.EllipticCurvePublicKey):
        raise IntegrityError("the signer's key is not ECDSA", field="x5c")
    if municipality != certificate.issuer:
        raise IntegrityError("the signer is not the municipality the certificate names", field="jws")
    crls: list[bytes] = []
    if data.get("crl") is not None:
        try:
            crls.append(base64.b64decode(str(data["crl"]), validate=True))
        except ValueError:
            raise IntegrityError("the embedded CRL is not readable", field="crl") from None
    _chain_ok(chain, roots, certificate.issued_at, crls)
    certified = ECKey.import_key(signer_key)
    verify_key = ECKey.import_key(dict(key)) if key is not None else certified
    if verify_key.thumbprint() != certified.thumbprint():
        raise IntegrityError("the published key is not the key of the signer's certificate", field="jws")
    try:
        jws.deserialize_compact(token, verify_key, registry=registry(), payload=canonical(doc))
    except (JoseError, ValueError):
        raise IntegrityError("the signature does not match the certificate", field="jws") from None
    return Verified(
        municipality=municipality,
        signed_at=certificate.issued_at,
        serial=certificate.serial,
        form="json",
        certificate=certificate,
    )


def verify_file(data: bytes, *, roots: Sequence[x509.Certificate]) -> Verified:
    """A PDF (by its header) or the JSON form."""
    if data.startswith(b"%PDF-"):
        return verify_pdf(data, roots=roots)
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("is neither a PDF nor a certificate's JSON form", field="file") from None
    return verify_document(parsed, roots=roots)
