"""A relying party: validates a citizen's certificate from its own trust anchor, through the bridge.

cryptography's ``PolicyBuilder`` builds and checks the path (signatures, validity, basicConstraints, pathLen,
keyUsage of the CAs).  It does neither revocation nor certificate-policy processing, so this module adds both:

* RFC 5280 §6.1.3-6.1.5 policy processing for Sekisho's profile (explicit policy required, no anyPolicy,
  one-to-one mappings), starting from the relying party's *own* domain policy;
* revocation of every certificate in the built chain but the trust anchor, by CRL or OCSP.

Every failure raises its own exception, and no message names the certificate's subject: a signature
certificate's subject is a person.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp, verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from sekisho.errors import IntegrityError
from sekisho.pki.oids import DOCUMENT_SIGNING, Purpose, prefecture_policy
from sekisho.pki.profiles import SIGNATURE_HASH, read_policy_mappings

# a response or CRL produced "after" the validation time by less than this is current: the responder's clock and
# ours differ, and a validation at time t asks for a status fetched just after t
CLOCK_SKEW = timedelta(minutes=5)


class PathValidationError(IntegrityError):
    kind = "certificate-invalid"
    # a certificate someone presented failed validation: the request is refused, the server has not failed (a 500
    # would tell the client to retry and the operators that the service is broken)
    status = 403


class CertificateExpired(PathValidationError):
    kind = "certificate-expired"


class CertificateNotYetValid(PathValidationError):
    kind = "certificate-not-yet-valid"


class CertificateRevoked(PathValidationError):
    kind = "certificate-revoked"

    def __init__(self, *, reason: x509.ReasonFlags, revoked_at: datetime, depth: int) -> None:
        self.reason = reason
        self.revoked_at = revoked_at
        self.depth = depth
        what = "the certificate" if depth == 0 else f"the CA certificate at depth {depth}"
        super().__init__(f"{what} was revoked ({reason.value}) at {revoked_at.isoformat()}", field="certificate")


class RevocationUnknown(PathValidationError):
    kind = "revocation-unknown"


class WrongPolicy(PathValidationError):
    kind = "wrong-policy"


class WrongKeyUsage(PathValidationError):
    kind = "wrong-key-usage"


class UntrustedCertificate(PathValidationError):
    kind = "untrusted"


class RevocationChecker(ABC):
    """Decides whether one certificate of a chain is revoked; raises, never returns a verdict."""

    @abstractmethod
    def check(self, cert: x509.Certificate, issuer: x509.Certificate, *, at: datetime, depth: int) -> None: ...


class CrlChecker(RevocationChecker):
    """RFC 5280 §6.3, for complete CRLs without distribution-point partitioning (what Sekisho's CAs issue)."""

    def __init__(self, crls: Iterable[x509.CertificateRevocationList]) -> None:
        self._crls = list(crls)

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, *, at: datetime, depth: int) -> None:
        key = issuer.public_key()
        for crl in self._crls:
            if crl.issuer != cert.issuer:
                continue
            if not isinstance(key, ec.EllipticCurvePublicKey) or not crl.is_signature_valid(key):
                continue  # another CA's CRL under the same name, or a forgery: not evidence either way
            next_update = crl.next_update_utc
            if crl.last_update_utc > at + CLOCK_SKEW or (next_update is not None and next_update < at):
                continue
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is None:
                return
            raise CertificateRevoked(reason=_entry_reason(entry), revoked_at=entry.revocation_date_utc, depth=depth)
        raise RevocationUnknown("no current CRL signed by the issuer", field="crl")


def _entry_reason(entry: x509.RevokedCertificate) -> x509.ReasonFlags:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return x509.ReasonFlags.unspecified


OcspTransport = Callable[[bytes], bytes]


class OcspChecker(RevocationChecker):
    """RFC 6960 client: one request per certificate with a fresh nonce; the response must be signed by the
    issuer itself or by a responder certificate the issuer issued for OCSP signing (§4.2.2.2).

    ``nonce=False`` asks as RFC 5019's lightweight profile does (no nonce: the responder may answer with a
    pre-produced response); the response must then be current by its own dates (thisUpdate no later than now,
    nextUpdate not passed), which every response must be anyway."""

    def __init__(
        self, transport: OcspTransport, *, hash_algorithm: hashes.HashAlgorithm | None = None, nonce: bool = True
    ) -> None:
        self._transport = transport
        self._hash = hash_algorithm or hashes.SHA256()
        self._nonce = nonce

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, *, at: datetime, depth: int) -> None:
        self.good_until(cert, issuer, at=at, depth=depth)

    def good_until(self, cert: x509.Certificate, issuer: x509.Certificate, *, at: datetime, depth: int) -> datetime:
        """Raises as :meth:`check` does; for a good certificate, the response's nextUpdate (``at`` when it has
        none: RFC 6960 §2.4, newer information is always available)."""
        nonce = secrets.token_bytes(16) if self._nonce else None
        builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, self._hash)
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        request = builder.build()
        from cryptography.hazmat.primitives.serialization import Encoding

        try:
            response = ocsp.load_der_ocsp_response(self._transport(request.public_bytes(Encoding.DER)))
        except ValueError:
            raise RevocationUnknown("the OCSP response is not valid DER", field="ocsp") from None
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise RevocationUnknown("the OCSP responder did not answer successfully", field="ocsp")
        self._check_signer(response, issuer, at=at)
        try:
            echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None
        if nonce is not None and echoed != nonce:
            raise RevocationUnknown("the OCSP response does not echo the request nonce", field="ocsp")
        single = next(iter(response.responses), None)
        if (
            single is None
            or single.serial_number != cert.serial_number
            or single.issuer_key_hash != request.issuer_key_hash
            or single.issuer_name_hash != request.issuer_name_hash
        ):
            raise RevocationUnknown("the OCSP response is about another certificate", field="ocsp")
        next_update = single.next_update_utc
        if single.this_update_utc > at + CLOCK_SKEW or (next_update is not None and next_update < at):
            raise RevocationUnknown("the OCSP response is not current", field="ocsp")
        if single.certificate_status is ocsp.OCSPCertStatus.GOOD:
            return next_update if next_update is not None else at
        if single.certificate_status is ocsp.OCSPCertStatus.REVOKED:
            revoked_at = single.revocation_time_utc or at
            reason = single.revocation_reason or x509.ReasonFlags.unspecified
            raise CertificateRevoked(reason=reason, revoked_at=revoked_at, depth=depth)
        raise RevocationUnknown("the OCSP responder does not know the certificate", field="ocsp")

    @staticmethod
    def _check_signer(response: ocsp.OCSPResponse, issuer: x509.Certificate, *, at: datetime) -> None:
        issuer_key = issuer.public_key()
        if not isinstance(issuer_key, ec.EllipticCurvePublicKey):
            raise RevocationUnknown("issuer key is not ECDSA", field="ocsp")
        signer_key = issuer_key
        candidates = [
            c
            for c in response.certificates
            if response.responder_name in (None, c.subject) or _key_id_matches(response, c)
        ]
        for responder in candidates:
            if responder.issuer != issuer.subject:
                continue
            try:
                responder.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature):
                continue
            try:
                eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except x509.ExtensionNotFound:
                continue
            if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
                continue
            if not responder.not_valid_before_utc <= at <= responder.not_valid_after_utc:
                continue
            key = responder.public_key()
            if isinstance(key, ec.EllipticCurvePublicKey):
                signer_key = key
                break
        try:
            signer_key.verify(
                response.signature,
                response.tbs_response_bytes,
                ec.ECDSA(response.signature_hash_algorithm or SIGNATURE_HASH),
            )
        except InvalidSignature:
            raise RevocationUnknown(
                "the OCSP response is not signed by the issuer or its responder", field="ocsp"
            ) from None


class CachedOcspChecker(RevocationChecker):
    """An :class:`OcspChecker` that keeps what it learnt for a while, so that a service checking the same peers'
    and terminals' certificates on every request asks the responder once per certificate and period.

    A good status is kept until the response's nextUpdate or ``max_age`` after it was had, whichever is sooner:
    a revocation is therefore seen within ``max_age`` of the responder knowing it (the stated bound; 0 keeps
    nothing and asks every time).  A revoked certificate stays refused (a revocation is final, RFC 5280 §3.3).
    An unknown status and a failure to ask are never kept: the next request asks again."""

    def __init__(self, inner: OcspChecker, *, max_age: timedelta, max_entries: int = 100_000) -> None:
        self._inner = inner
        self._max_age = max_age
        self._max_entries = max_entries
        self._good: dict[bytes, tuple[datetime, datetime]] = {}
        self._revoked: dict[bytes, tuple[x509.ReasonFlags, datetime]] = {}

    @property
    def max_age(self) -> timedelta:
        return self._max_age

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, *, at: datetime, depth: int) -> None:
        if self._max_age <= timedelta(0):
            self._inner.check(cert, issuer, at=at, depth=depth)
            return
        key = cert.fingerprint(hashes.SHA256())
        revoked = self._revoked.get(key)
        if revoked is not None:
            raise CertificateRevoked(reason=revoked[0], revoked_at=revoked[1], depth=depth)
        kept = self._good.get(key)
        if kept is not None and kept[0] <= at < kept[1]:
            return
        try:
            until = self._inner.good_until(cert, issuer, at=at, depth=depth)
        except CertificateRevoked as exc:
            self._keep(self._revoked, key, (exc.reason, exc.revoked_at))
            raise
        self._keep(self._good, key, (at, min(until, at + self._max_age)))

    def _keep(self, table: dict[bytes, Any], key: bytes, value: Any) -> None:
        if len(table) >= self._max_entries:
            table.clear()  # a bound on memory: the next requests ask again
        table[key] = value


def _key_id_matches(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    key_hash = response.responder_key_hash
    if key_hash is None:
        return False
    digest = hashes.Hash(hashes.SHA1())  # noqa: S303 - RFC 6960 ResponderID byKey is SHA-1 by definition
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        return False
    digest.update(public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))
    return digest.finalize() == key_hash


@dataclass(frozen=True, slots=True)
class VerifiedPath:
    #: leaf first, trust anchor last
    chain: Sequence[x509.Certificate]
    purpose: Purpose
    #: the policy the leaf satisfied, in the leaf's own domain
    leaf_policy: str


def _ca_extension_policy() -> verification.ExtensionPolicy:
    c = verification.Criticality
    # Sekisho's cross-certificates mark policyConstraints and inhibitAnyPolicy critical (RFC 5280 §4.2.1.11,
    # §4.2.1.14 say MUST); cryptography's web-PKI default would refuse them as unknown critical extensions.
    return (
        verification.ExtensionPolicy.webpki_defaults_ca()
        .may_be_present(x509.PolicyConstraints, c.CRITICAL, None)
        .may_be_present(x509.InhibitAnyPolicy, c.CRITICAL, None)
    )


class RelyingParty:
    """Trusts its own anchors only; everything else must chain to them, with policy and revocation checked."""

    def __init__(
        self,
        *,
        anchors: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate],
        revocation: RevocationChecker,
        anchor_policies: dict[Purpose, Sequence[str]],
    ) -> None:
        if not anchors:
            raise UntrustedCertificate("a relying party needs at least one trust anchor", field="trust")
        self._store = verification.Store(list(anchors))
        # self-signed certificates never go in the pool: the builder would loop through them
        self._intermediates = [c for c in intermediates if c.subject != c.issuer]
        self._revocation = revocation
        self._anchor_policies = anchor_policies

    @classmethod
    def for_prefecture(
        cls,
        *,
        code: str,
        root: x509.Certificate,
        intermediates: Sequence[x509.Certificate],
        revocation: RevocationChecker,
    ) -> RelyingParty:
        """A relying party of one prefecture: trusts that root and asks for that prefecture's policies."""
        return cls(
            anchors=[root],
            intermediates=intermediates,
            revocation=revocation,
            anchor_policies={p: [prefecture_policy(code, p).dotted_string] for p in Purpose},
        )

    def verify(self, cert: x509.Certificate, *, purpose: Purpose, at: datetime | None = None) -> VerifiedPath:
        when = at or datetime.now(UTC)
        # the leaf's own dates first, so that an expired card says so rather than "untrusted"
        if cert.not_valid_after_utc < when:
            raise CertificateExpired("the certificate has expired", field="certificate")
        if cert.not_valid_before_utc > when:
            raise CertificateNotYetValid("the certificate is not valid yet", field="certificate")
        verifier = (
            verification.PolicyBuilder()
            .store(self._store)
            .time(when)
            .extension_policies(ca_policy=_ca_extension_policy(), ee_policy=verification.ExtensionPolicy.permit_all())
            .build_client_verifier()
        )
        try:
            chain = list(verifier.verify(cert, self._intermediates).chain)
        except verification.VerificationError:
            # cryptography's message may quote names (a signature certificate's subject is a person)
            raise UntrustedCertificate("no valid path to a trusted root", field="certificate") from None
        leaf_policy = self._check_policy(chain, purpose)
        _check_key_usage(cert, purpose)
        for depth in range(len(chain) - 1):  # every certificate but the trust anchor
            self._revocation.check(chain[depth], chain[depth + 1], at=when, depth=depth)
        return VerifiedPath(chain=chain, purpose=purpose, leaf_policy=leaf_policy)

    def _check_policy(self, chain: Sequence[x509.Certificate], purpose: Purpose) -> str:
        # RFC 5280 §6.1 reduced to Sekisho's profile: explicit policy is required at every certificate, anyPolicy
        # is never accepted, and a mapping replaces a policy by its subject-domain equivalents (§6.1.4 (b)(1)).
        # `valid` maps each policy acceptable at this point of the path to the anchor-domain policy it stands for.
        valid = {p: p for p in self._anchor_policies.get(purpose, [])}
        path = list(reversed(chain[:-1]))  # from the anchor's first subordinate down to the leaf
        for i, cert in enumerate(path):
            try:
                asserted = {
                    p.policy_identifier.dotted_string
                    for p in cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
                }
            except x509.ExtensionNotFound:
                asserted = set()
            valid = {p: origin for p, origin in valid.items() if p in asserted}
            if not valid:
                what = "the certificate" if i == len(path) - 1 else "a CA certificate in the path"
                raise WrongPolicy(f"{what} does not assert an acceptable {purpose.value} policy", field="policy")
            if i < len(path) - 1:
                mappings = read_policy_mappings(cert)
                if mappings:
                    mapped: dict[str, str] = {}
                    for p, origin in valid.items():
                        targets = [s for d, s in mappings if d == p] or [p]
                        for target in targets:
                            mapped[target] = origin
                    valid = mapped
        return next(iter(valid))


def _check_key_usage(cert: x509.Certificate, purpose: Purpose) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise WrongKeyUsage("the certificate has no keyUsage", field="keyUsage") from None
    try:
        eku: list[x509.ObjectIdentifier] | None = list(
            cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        )
    except x509.ExtensionNotFound:
        eku = None
    if purpose is Purpose.AUTHENTICATION:
        if not usage.digital_signature:
            raise WrongKeyUsage("authentication needs digitalSignature", field="keyUsage")
        if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            raise WrongKeyUsage("authentication needs the clientAuth extended key usage", field="extendedKeyUsage")
    else:
        if not usage.content_commitment:
            raise WrongKeyUsage("a legally binding signature needs contentCommitment", field="keyUsage")
        if eku is not None and not {DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION} & set(eku):
            raise WrongKeyUsage("a signature needs documentSigning or emailProtection", field="extendedKeyUsage")
