"""Signing a certificate of residence: PAdES (pyHanko) for the PDF, a detached JWS (joserfc) for the JSON form,
both by the home municipality's key, certified by the network's organisation CA (``sekisho.pki.signers``).

The PDF signature is PAdES B-LT: a CAdES signature (ETSI.CAdES.detached) with a signature timestamp from the PKI's
time-stamp authority (RFC 3161), and the revocation information — the organisation CA's CRL, which covers both the
signer's and the TSA's certificates — embedded in the document security store, so the certificate verifies
offline, later, against the published organisation root alone.  Nothing here talks HTTP: the timestamp and the CRL
come from callables the composition root gives (in-process, or the PKI's ``/pki/tsa`` and ``/pki/crl``).
"""

from __future__ import annotations

import io
import os
import stat
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jws
from joserfc.jwk import ECKey
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator.registry import SimpleCertificateStore

from sekisho.certificates.model import Certificate, canonical
from sekisho.errors import Conflict, NotFound, Unavailable

#: the JWS ``typ`` of the JSON form
JWS_TYPE = "sekisho-residence+jws"
ALGORITHM = "ES256"
#: DER TimeStampReq -> DER TimeStampResp (the PKI's TSA, in-process or over HTTP)
AskTimestamp = Callable[[bytes], Awaitable[bytes]]
#: the organisation CA's current CRL, DER
FetchCrl = Callable[[], bytes]
#: how long after the CA issued it the desk keeps using one CRL, for its own status check and as the revocation
#: data embedded in what it signs (a verifier accepts one at most ``verify.MAX_CRL_AGE`` older than the issue):
#: the PKI signs a new CRL on every fetch, and a revocation reaches the desk within this time
CRL_REUSE = timedelta(seconds=60)


class SignerRevoked(Unavailable):
    """The desk's own key is revoked: it signs nothing (a verifier would refuse it) until a new key is certified."""


def registry() -> jws.JWSRegistry:
    """ES256 only, and room for the ``x5c`` chain in the header (joserfc's default caps a header at 512 bytes)."""
    reg = jws.JWSRegistry(algorithms=[ALGORITHM])
    reg.max_header_length = 8192
    return reg


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class _Timestamper(TimeStamper):
    """pyHanko's timestamp client over any transport: the request and response are pyHanko's own structures."""

    def __init__(self, ask: AskTimestamp) -> None:
        super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
        self._ask = ask

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(await self._ask(req.dump()))


@dataclass
class DocumentSigner:
    """A municipality's certificate-of-residence key with its chain [signer, organisation root]."""

    municipality: str
    key: ec.EllipticCurvePrivateKey
    chain: Sequence[x509.Certificate]
    ask_timestamp: AskTimestamp
    fetch_crl: FetchCrl
    _crl: tuple[bytes, x509.CertificateRevocationList] | None = field(default=None, init=False, repr=False)
    _crl_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # --- files: <municipality dir>/certificates/{signer.key (0600, sealed), chain.pem} -------------------------

    @staticmethod
    def directory_of(root: Path) -> Path:
        return root / "certificates"

    @staticmethod
    def create_files(
        root: Path,
        *,
        certify: Callable[[ec.EllipticCurvePublicKey], Sequence[x509.Certificate]],
        passphrase: bytes,
    ) -> list[x509.Certificate]:
        """A new key, certified by ``certify`` (``sekisho.pki.signers.certify_document_signer``), kept 0600."""
        directory = DocumentSigner.directory_of(root)
        if (directory / "chain.pem").exists():
            raise Conflict("this municipality already has a certificate signer", field="signer")
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        chain = list(certify(key.public_key()))
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
        path = directory / "signer.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        (directory / "chain.pem").write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
        return chain

    @classmethod
    def open(
        cls, root: Path, *, municipality: str, passphrase: bytes, ask_timestamp: AskTimestamp, fetch_crl: FetchCrl
    ) -> DocumentSigner:
        directory = cls.directory_of(root)
        try:
            chain = x509.load_pem_x509_certificates((directory / "chain.pem").read_bytes())
            key = serialization.load_pem_private_key((directory / "signer.key").read_bytes(), passphrase)
        except FileNotFoundError:
            raise NotFound("no certificate signer here: run `sekisho certificate init`", field="signer") from None
        except (ValueError, TypeError):
            raise Unavailable("the signer key does not open (passphrase or file)", field="signer") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise Unavailable("the signer key is not ECDSA", field="signer")
        return cls(municipality, key, chain, ask_timestamp, fetch_crl)

    # --- the key's own status --------------------------------------------------------------------------------

    def current_crl(self, *, now: datetime | None = None) -> bytes:
        """The organisation CA's CRL (DER), checked before anything is signed with it: issued and signed by the CA
        that certified this key, current, and not listing this key — else :class:`SignerRevoked`.  Fetched again
        once :data:`CRL_REUSE` has passed since the CA issued the one held."""
        when = now or datetime.now(UTC)
        with self._crl_lock:
            held = self._crl
            if held is None or when - held[1].last_update_utc >= CRL_REUSE:
                der = self.fetch_crl()
                held = self._crl = (der, self._checked_crl(der, when))
        der, crl = held
        entry = crl.get_revoked_certificate_by_serial_number(self.chain[0].serial_number)
        if entry is not None:
            reason = next(
                (e.value.reason.value for e in entry.extensions if isinstance(e.value, x509.CRLReason)), "unspecified"
            )
            raise SignerRevoked(
                f"this municipality's certificate signer was revoked ({reason}, {entry.revocation_date_utc:%Y-%m-%d}):"
                " nothing is signed with it; a new key must be certified",
                field="signer",
            )
        return der

    def _checked_crl(self, der: bytes, now: datetime) -> x509.CertificateRevocationList:
        issuer = self.chain[1] if len(self.chain) > 1 else None
        try:
            crl = x509.load_der_x509_crl(der)
        except ValueError:
            raise Unavailable("the PKI's CRL is not readable", field="revocation") from None
        key = issuer.public_key() if issuer is not None else None
        if (
            issuer is None
            or crl.issuer != issuer.subject
            or not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
            or not crl.is_signature_valid(key)
        ):
            raise Unavailable("the CRL is not the organisation CA's", field="revocation")
        if crl.next_update_utc is None or crl.next_update_utc < now:
            raise Unavailable("the organisation CA's CRL is out of date", field="revocation")
        return crl

    # --- signing -------------------------------------------------------------------------------------------

    def public_jwk(self) -> dict[str, Any]:
        """The published key of the JSON form (with its certificate chain as ``x5c``)."""
        jwk = ECKey.import_key(self.key.public_key()).as_dict(private=False)
        jwk.update(
            kid=self.municipality,
            use="sig",
            alg=ALGORITHM,
            x5c=[_b64(c) for c in self.chain],
        )
        return dict(jwk)

    async def async_sign_pdf(self, pdf: bytes, *, certificate: Certificate, crl: bytes | None = None) -> bytes:
        """PAdES B-LT: signature, RFC 3161 signature timestamp, the CRL embedded (DSS): ``crl``, the one the desk
        checked its key against (default: :meth:`current_crl`)."""
        signer_cert, *others = [_asn1(c) for c in self.chain]
        pkcs8 = self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        signer = signers.SimpleSigner(
            signing_cert=signer_cert,
            signing_key=keys.PrivateKeyInfo.load(pkcs8),
            cert_registry=SimpleCertificateStore.from_certs(others),  # type: ignore[no-untyped-call]
        )
        revocation = asn1_crl.CertificateList.load(crl if crl is not None else self.current_crl())
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        # the validation data goes into the revision the signature covers (not an update after it): the whole
        # file is signed (pdfsig: "Total document signed"), and one organisation CRL serves the signer's and the
        # TSA's certificates alike (both are the organisation CA's)
        DocumentSecurityStore.supply_dss_in_writer(writer, None, certs=[signer_cert, *others], crls=[revocation])
        meta = signers.PdfSignatureMetadata(
            field_name="Signature",
            subfilter=fields.SigSeedSubFilter.PADES,
            embed_validation_info=False,
            use_pades_lta=False,
            md_algorithm="sha256",
            reason="住民票の写しの証明",
            location=certificate.issuer_name,
            name=f"{certificate.issuer_name}長",
        )
        pdf_signer = signers.PdfSigner(meta, signer=signer, timestamper=_Timestamper(self.ask_timestamp))
        out = io.BytesIO()
        await pdf_signer.async_sign_pdf(writer, output=out)
        return out.getvalue()

    def sign_document(self, doc: Mapping[str, Any]) -> str:
        """The detached JWS (RFC 7515 Appendix F) over the canonical bytes of the JSON form."""
        header = {"alg": ALGORITHM, "typ": JWS_TYPE, "kid": self.municipality, "x5c": [_b64(c) for c in self.chain]}
        key = ECKey.import_key(self.key)
        return jws.detach_content(jws.serialize_compact(header, canonical(doc), key, registry=registry()))


def _b64(cert: x509.Certificate) -> str:
    import base64

    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
