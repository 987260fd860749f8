"""Verifying a certificate of residence offline, against the published organisation root only.

The PDF: pyHanko's PAdES B-LT validation — the one signature covers the document (later revisions may only add
validation data), the signer's chain ends at a given root, the signature timestamp is valid, and the revocation
information embedded in the document says the signer's certificate was good when the timestamp was made.  The JSON
form: the detached JWS verifies (joserfc) with the key of its ``x5c`` certificate, whose chain ends at a given root,
over the canonical bytes of the ``certificate`` member, and the revocation data says the signer's certificate was
not revoked at the issue time: the CRL the form carries (at most :data:`MAX_CRL_AGE` older than the issue), or one
the caller fetched online — never the chain alone.  Verification returns what was verified, or raises
:class:`IntegrityError` (exit 4) — never a bare bool a caller could forget to look at.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
#: how much older than the certificate the CRL judging it may be (the desk uses one CRL for a minute,
#: ``signing.CRL_REUSE``): an older one could miss a revocation made before the issue
MAX_CRL_AGE = timedelta(minutes=10)
#: how far ahead of this machine's clock a fetched CRL may be dated
CLOCK_SKEW = timedelta(minutes=1)


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
    chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], at: datetime, crl: bytes, *, later: bool
) -> None:
    """The signer's certificate chains to a root, was valid at ``at`` and was not revoked then according to
    ``crl`` (pyHanko's path validation, hard-fail: a CRL that does not answer for the certificate fails it).
    ``later``: the CRL was fetched after ``at`` (online), so it judges ``at`` retroactively."""
    import asyncio

    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, RevokedError

    def asn1(c: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    context = ValidationContext(
        trust_roots=[asn1(r) for r in roots],
        moment=at,
        allow_fetching=False,
        crls=[crl],
        revocation_mode="hard-fail",
        retroactive_revinfo=later,
    )
    validator = CertificateValidator(asn1(chain[0]), [asn1(c) for c in chain[1:]], validation_context=context)
    try:
        asyncio.run(validator.async_validate_usage({"digital_signature"}))  # type: ignore[no-untyped-call]
    except RevokedError:
        raise IntegrityError("the signer's certificate was revoked before the issue time", field="crl") from None
    except (PathBuildingError, PathValidationError, ValueError):
        raise IntegrityError(
            "the signer's certificate does not chain to a trusted root, or the CRL does not answer for it",
            field="x5c",
        ) from None


def _crl_dates(der: bytes, signer: x509.Certificate, at: datetime, *, fetched: bool) -> None:
    """The CRL can judge the certificate issued at ``at``: issued no more than MAX_CRL_AGE before it, and
    (embedded) not after it, or (fetched) current now.  A key compromise fetched online refuses whatever the
    date: the JSON form's issue time is the signer's own word, which whoever holds the key can write."""
    try:
        crl = x509.load_der_x509_crl(der)
    except ValueError:
        raise IntegrityError("the CRL is not readable", field="crl") from None
    issued = crl.last_update_utc
    if issued < at - MAX_CRL_AGE:
        raise IntegrityError(
            f"the CRL is too old: issued {_span(at - issued)} before the certificate (at most {_span(MAX_CRL_AGE)})",
            field="crl",
        )
    if fetched:
        now = datetime.now(UTC)
        if issued > now + CLOCK_SKEW or crl.next_update_utc is None or crl.next_update_utc < now:
            raise IntegrityError("the fetched CRL is not current", field="crl")
        entry = crl.get_revoked_certificate_by_serial_number(signer.serial_number)
        if entry is not None and any(
            isinstance(e.value, x509.CRLReason) and e.value.reason is x509.ReasonFlags.key_compromise
            for e in entry.extensions
        ):
            raise IntegrityError("the signer's key was compromised: nothing it signed is trusted", field="crl")
    elif issued > at + timedelta(seconds=1):
        raise IntegrityError("the embedded CRL is dated after the certificate", field="crl")


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400} d {seconds % 86400 // 3600} h"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min {seconds % 60} s"


def crl_url(data: Mapping[str, Any]) -> str | None:
    """The CRL distribution point the JSON form's signer certificate names (for fetching it online)."""
    try:
        token = str(data["jws"])
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        signer = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
        points = signer.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (ValueError, KeyError, TypeError, IndexError, x509.ExtensionNotFound):
        return None
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier):
                return str(name.value)
    return None


def verify_document(
    data: Mapping[str, Any],
    *,
    roots: Sequence[x509.Certificate],
    key: Mapping[str, Any] | None = None,
    fetched_crl: bytes | None = None,
) -> Verified:
    """The JSON form ``{"certificate": {...}, "jws": "<header>..<signature>", "crl": "<base64 DER>"}``.  With
    ``key`` (a published JWK), the signature must be by that key; otherwise by the key of the ``x5c`` certificate,
    chained to ``roots`` and not revoked at the issue time: by the embedded CRL (the organisation CA's, at issue
    time), or by ``fetched_crl``, the CA's current CRL fetched online.  Without either: refused (fail closed)."""
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
    if fetched_crl is not None:
        crl = fetched_crl
    elif data.get("crl"):
        try:
            crl = base64.b64decode(str(data["crl"]), validate=True)
        except ValueError:
            raise IntegrityError("the embedded CRL is not readable", field="crl") from None
    else:
        # the chain alone says nothing of a revocation: the form is not accepted without its revocation data
        raise IntegrityError(
            "the form carries no revocation data (crl): verify it online to judge it by the CA's current CRL",
            field="crl",
        )
    _crl_dates(crl, chain[0], certificate.issued_at, fetched=fetched_crl is not None)
    _chain_ok(chain, roots, certificate.issued_at, crl, later=fetched_crl is not None)
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


def parse_file(data: bytes) -> Mapping[str, Any] | None:
    """The JSON form's content, or None for a PDF (by its header)."""
    if data.startswith(b"%PDF-"):
        return None
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("is neither a PDF nor a certificate's JSON form", field="file") from None
    if not isinstance(parsed, Mapping):
        raise InvalidInput("is not a signed certificate of residence (certificate, jws)", field="file")
    return parsed


def verify_file(
    data: bytes, *, roots: Sequence[x509.Certificate], fetch_crl: Callable[[Mapping[str, Any]], bytes] | None = None
) -> Verified:
    """A PDF (by its header: its revocation data is in the document) or the JSON form; ``fetch_crl``: judge a
    JSON form by the CA's current CRL, fetched online, instead of the one it carries."""
    parsed = parse_file(data)
    if parsed is None:
        return verify_pdf(data, roots=roots)
    return verify_document(parsed, roots=roots, fetched_crl=fetch_crl(parsed) if fetch_crl else None)
