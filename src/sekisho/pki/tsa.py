"""The PKI's time-stamp authority (RFC 3161): the timestamps that let a signed certificate of residence be
verified long after its signer's certificate expired (PAdES B-T and B-LT).

The TSA's key is the PKI's (sealed with the PKI's passphrase beside the CA keys), certified by the organisation
CA with the critical extended key usage timeStamping.  It is made on first use, so a PKI initialised before the
TSA existed gets one without a new ceremony.  A response is built from the request's message imprint only: the
TSA never sees what was hashed.  The token is CMS SignedData made by pyHanko's signer (ECDSA P-256, SHA-256,
ESS signing-certificate-v2 as RFC 5816 asks); the TSTInfo is an asn1crypto structure.  Nothing here is a
hand-written primitive or encoding.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from asn1crypto import algos, cms, core, keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.sign.signers.pdf_cms import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from sekisho.errors import InvalidInput, Unavailable
from sekisho.pki import keys as keyfiles
from sekisho.pki import profiles, store
from sekisho.pki.oids import TSA_POLICY
from sekisho.pki.profiles import ORGANISATION
from sekisho.pki.signers import insert_organisation_cert

if TYPE_CHECKING:
    from sekisho.pki.hierarchy import Pki

#: message-imprint algorithms accepted, with their digest sizes (RFC 3161 §2.4.1: the TSA checks the length)
HASHES = {"sha256": 32, "sha384": 48, "sha512": 64}
#: the largest request read (a TimeStampReq with a SHA-512 imprint, a nonce and extensions is ~150 bytes)
MAX_REQUEST = 4096
_META = "tsa_cert"


def _now() -> datetime:
    return datetime.now(UTC)


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class _Refusal(core.Sequence):  # type: ignore[misc]
    """A TimeStampResp without its optional token (asn1crypto's ``TimeStampResp`` makes the token mandatory)."""

    _fields = [("status", tsp.PKIStatusInfo)]  # noqa: RUF012 - asn1crypto's declaration style


def _rejection(fail: str, text: str) -> bytes:
    status = tsp.PKIStatusInfo(
        {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({fail})}
    )
    return bytes(_Refusal({"status": status}).dump())


@dataclass
class TimeStampAuthority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    #: the organisation CA's certificate (sent with the token when the request asks for certificates)
    issuer: x509.Certificate
    clock: Callable[[], datetime] = _now

    def _signer(self, *, with_certificates: bool) -> SimpleSigner:
        pkcs8 = self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        certs = [_asn1_cert(self.issuer)] if with_certificates else []
        registry = SimpleCertificateStore.from_certs(certs)  # type: ignore[no-untyped-call]
        return SimpleSigner(
            signing_cert=_asn1_cert(self.certificate),
            signing_key=keys.PrivateKeyInfo.load(pkcs8),
            cert_registry=registry,
            embed_roots=with_certificates,
        )

    async def async_respond(self, request_der: bytes) -> bytes:
        """The DER TimeStampResp for a DER TimeStampReq: ``granted`` with a token, or ``rejection`` with the
        failure (bad algorithm, bad imprint, unknown policy, extensions).  Bytes that are no TimeStampReq at all
        are :class:`InvalidInput` (the HTTP face answers a problem document)."""
        if not request_der or len(request_der) > MAX_REQUEST:
            raise InvalidInput("is not an RFC 3161 TimeStampReq", field="body")
        try:
            req = tsp.TimeStampReq.load(request_der, strict=True)
            native = req.native  # parses every field now: a malformed field raises here, not while signing
        except (ValueError, TypeError, KeyError):
            raise InvalidInput("is not an RFC 3161 TimeStampReq", field="body") from None
        if native["version"] != "v1":
            return _rejection("bad_data_format", "version must be v1")
        imprint = req["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if algorithm not in HASHES:
            return _rejection("bad_alg", "the imprint's hash must be SHA-256, SHA-384 or SHA-512")
        if len(imprint["hashed_message"].native) != HASHES[algorithm]:
            return _rejection("bad_data_format", "the imprint's length does not match its hash")
        policy = native["req_policy"]
        if policy is not None and policy != TSA_POLICY.dotted_string:
            return _rejection("unaccepted_policy", "this TSA issues under its own policy only")
        if native["extensions"]:
            return _rejection("unaccepted_extension", "no request extensions are accepted")
        now = self.clock().astimezone(UTC).replace(microsecond=0)
        info: dict[str, Any] = {
            "version": "v1",
            "policy": TSA_POLICY.dotted_string,
            "message_imprint": tsp.MessageImprint(
                {
                    "hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
                    "hashed_message": imprint["hashed_message"].native,
                }
            ),
            # unique per token (RFC 3161 §2.4.2): 127 random bits, as CAs draw certificate serials
            "serial_number": secrets.randbits(127) | 1 << 126,
            "gen_time": core.GeneralizedTime(now),
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": asn1_x509.GeneralName(name="directory_name", value=_asn1_cert(self.certificate).subject),
        }
        if native["nonce"] is not None:
            info["nonce"] = native["nonce"]
        content = cms.EncapsulatedContentInfo(
            {"content_type": "tst_info", "content": cms.ParsableOctetString(tsp.TSTInfo(info).dump())}
        )
        signer = self._signer(with_certificates=bool(native["cert_req"]))
        token = await signer.async_sign_general_data(content, "sha256", detached=False, use_cades=True)
        if not native["cert_req"]:
            # RFC 3161 §2.4.1: without certReq the certificates field is absent (it is not signed: dropping it
            # leaves the token intact)
            del token["content"]["certificates"]
        granted = tsp.PKIStatusInfo({"status": "granted"})
        return bytes(tsp.TimeStampResp({"status": granted, "time_stamp_token": token}).dump())

    def respond(self, request_der: bytes) -> bytes:
        """:meth:`async_respond` for a caller without an event loop (a worker thread, the CLI)."""
        return asyncio.run(self.async_respond(request_der))


def _key_path(directory: Path, serial: int) -> Path:
    return directory / f"tsa-{serial:x}.pem"


def open_tsa(pki: Pki, *, now: datetime | None = None) -> TimeStampAuthority:
    """The PKI's TSA, made on first use (key and certificate; one per PKI, even when two processes race)."""
    from sekisho.pki.hierarchy import ca_certificate

    issuer = ca_certificate(pki.engine, ORGANISATION)
    with pki.engine.connect() as conn:
        der_hex = store.get_meta(conn, _META)
    if der_hex is None:
        der_hex = _create(pki, issuer, now or _now())
    cert = x509.load_der_x509_certificate(bytes.fromhex(der_hex))
    key = keyfiles.load_key(_key_path(pki.keyring.directory, cert.serial_number), pki.keyring.passphrase())
    return TimeStampAuthority(key=key, certificate=cert, issuer=issuer)


def _create(pki: Pki, issuer: x509.Certificate, now: datetime) -> str:
    key = ec.generate_private_key(profiles.CURVE)
    cert = profiles.tsa_certificate(
        key=key.public_key(),
        issuer=issuer,
        issuer_key=pki.keyring.ca_key(ORGANISATION),
        endpoints=pki.endpoints(),
        now=now,
    )
    path = _key_path(pki.keyring.directory, cert.serial_number)
    keyfiles.save_key(path, key, pki.keyring.passphrase())
    der = cert.public_bytes(serialization.Encoding.DER)
    try:
        with pki.engine.begin() as conn:
            if store.get_meta(conn, _META) is None:
                insert_organisation_cert(conn, cert, kind="tsa", now=now)
                store.set_meta(conn, _META, der.hex())
                return der.hex()
    except sa.exc.IntegrityError:
        pass  # another process made the TSA between our look and our insert: theirs stands
    path.unlink(missing_ok=True)
    with pki.engine.connect() as conn:
        winner = store.get_meta(conn, _META)
    if winner is None:
        raise Unavailable("the time-stamp authority could not be set up", field="tsa")
    return winner
