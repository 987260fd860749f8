"""Certificate profiles: pure functions that build and sign every certificate type of the hierarchy.

The profiles are documented field by field in docs/pki.md; a change here changes that table.  Nothing here
touches storage or files: keys come in as objects, certificates go out as objects.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID, NameOID

from sekisho.errors import InvalidInput
from sekisho.pki import _der
from sekisho.pki.oids import (
    DATE_OF_BIRTH,
    DOCUMENT_SIGNER_POLICY,
    DOCUMENT_SIGNING,
    GENDER,
    ORGANISATION_POLICY,
    POSTAL_ADDRESS,
    Purpose,
    bridge_policy,
    prefecture_policy,
)

CaKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey
CURVE = ec.SECP256R1()
SIGNATURE_HASH = hashes.SHA256()

BRIDGE = "bridge"
ORGANISATION = "org"

ROOT_YEARS = 20
CROSS_YEARS = 10
OCSP_SIGNER_DAYS = 2 * 365
CITIZEN_YEARS = 5
PARTY_DAYS = 365
# allow for clock skew between the CA and relying parties
BACKDATE = timedelta(minutes=5)

Sex = Literal["male", "female"]


def new_key() -> CaKey:
    return ec.generate_private_key(CURVE)


def prefecture_ca_id(code: str) -> str:
    return f"pref-{code}"


@dataclass(frozen=True, slots=True)
class BasicItems:
    """The four basic items (基本4情報) as the register holds them; only the signature certificate carries them."""

    name: str
    birth_date: date
    sex: Sex
    address: str

    def __repr__(self) -> str:  # never let a traceback or log line print the items
        return "BasicItems(<redacted>)"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where relying parties fetch CRLs, OCSP and issuer certificates (put into every issued certificate)."""

    base_url: str

    def crl(self, ca_id: str) -> str:
        return f"{self.base_url}/pki/crl/{ca_id}.crl"

    def ocsp(self) -> str:
        return f"{self.base_url}/pki/ocsp"

    def ca_cert(self, ca_id: str) -> str:
        return f"{self.base_url}/pki/ca/{ca_id}.crt"


def _years(start: datetime, years: int) -> datetime:
    return start + timedelta(days=365 * years + years // 4)


def ca_name(ca_id: str) -> x509.Name:
    if ca_id == BRIDGE:
        cn = "Sekisho Bridge CA"
    elif ca_id == ORGANISATION:
        cn = "Sekisho Organisation CA"
    else:
        cn = f"Sekisho Prefectural CA {ca_id.removeprefix('pref-')}"
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sekisho"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _policies(*oids: x509.ObjectIdentifier) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(o, None) for o in oids])


def policy_mappings(pairs: list[tuple[x509.ObjectIdentifier, x509.ObjectIdentifier]]) -> x509.UnrecognizedExtension:
    """RFC 5280 §4.2.1.5 PolicyMappings ::= SEQUENCE OF SEQUENCE {issuerDomainPolicy, subjectDomainPolicy}."""
    body = _der.seq(*(_der.seq(_der.oid(a), _der.oid(b)) for a, b in pairs))
    return x509.UnrecognizedExtension(ExtensionOID.POLICY_MAPPINGS, body)


def read_policy_mappings(cert: x509.Certificate) -> list[tuple[str, str]]:
    """The (issuerDomainPolicy, subjectDomainPolicy) pairs of a certificate, via cryptography's DER parser."""
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.POLICY_MAPPINGS)
    except x509.ExtensionNotFound:
        return []
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise InvalidInput("policyMappings is not in the expected form", field="certificate")
    return _parse_oid_pairs(value.value)


def _parse_oid_pairs(der: bytes) -> list[tuple[str, str]]:
    # A SEQUENCE OF SEQUENCE {OID, OID}: short enough to walk by hand; anything unexpected is refused.
    def read(buf: bytes, pos: int, tag: int) -> tuple[bytes, int]:
        if pos + 2 > len(buf) or buf[pos] != tag:
            raise InvalidInput("policyMappings is not valid DER", field="certificate")
        n = buf[pos + 1]
        pos += 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(buf[pos : pos + k], "big")
            pos += k
        if pos + n > len(buf):
            raise InvalidInput("policyMappings is not valid DER", field="certificate")
        return buf[pos : pos + n], pos + n

    def decode_oid(body: bytes) -> str:
        arcs: list[int] = []
        acc = 0
        for b in body:
            acc = (acc << 7) | (b & 0x7F)
            if not b & 0x80:
                arcs.append(acc)
                acc = 0
        first = min(arcs[0] // 40, 2)
        return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])

    outer, end = read(der, 0, 0x30)
    if end != len(der):
        raise InvalidInput("policyMappings is not valid DER", field="certificate")
    pairs = []
    pos = 0
    while pos < len(outer):
        pair, pos = read(outer, pos, 0x30)
        a, mid = read(pair, 0, 0x06)
        b, _ = read(pair, mid, 0x06)
        pairs.append((decode_oid(a), decode_oid(b)))
    return pairs


def _common(
    builder: x509.CertificateBuilder,
    *,
    subject_key: PublicKey,
    issuer_key: PublicKey,
    issuer_ca_id: str | None,
    endpoints: Endpoints | None,
) -> x509.CertificateBuilder:
    builder = builder.public_key(subject_key).add_extension(
        x509.SubjectKeyIdentifier.from_public_key(subject_key), critical=False
    )
    builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key), critical=False)
    if issuer_ca_id is not None and endpoints is not None:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(endpoints.crl(issuer_ca_id))], None, None, None
                    )
                ]
            ),
            critical=False,
        )
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(endpoints.ocsp())
                    ),
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(endpoints.ca_cert(issuer_ca_id)),
                    ),
                ]
            ),
            critical=False,
        )
    return builder


_CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _usage(*, digital_signature: bool = False, content_commitment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def root_certificate(*, ca_id: str, key: CaKey, now: datetime) -> x509.Certificate:
    """A self-signed root: one per prefecture (a relying party's trust anchor) and the organisation CA."""
    name = ca_name(ca_id)
    if ca_id == ORGANISATION:
        path_length, policies = 0, _policies(ORGANISATION_POLICY)
    else:
        # prefectural root -> (cross to bridge) -> (bridge's cross to another prefecture) -> citizen
        code = ca_id.removeprefix("pref-")
        path_length = 2
        policies = _policies(*(prefecture_policy(code, p) for p in Purpose))
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(_years(now, ROOT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(policies, critical=False)
    )
    builder = _common(
        builder, subject_key=key.public_key(), issuer_key=key.public_key(), issuer_ca_id=None, endpoints=None
    )
    return builder.sign(key, SIGNATURE_HASH)


def cross_certificate(
    *,
    issuer_ca_id: str,
    issuer_key: CaKey,
    subject_ca_id: str,
    subject_key: PublicKey,
    endpoints: Endpoints,
    now: datetime,
    serial: int | None = None,
) -> x509.Certificate:
    """A cross-certificate between a prefectural root and the bridge, in either direction.

    prefecture -> bridge: the prefecture's policies map to the bridge's; pathLen 1 and inhibitPolicyMapping 1
    let exactly one more mapping happen (the bridge's, into the citizen's prefecture).
    bridge -> prefecture: the bridge's policies map to that prefecture's; pathLen 0, no further mapping.
    Both require an explicit policy from here on (requireExplicitPolicy 0) and forbid anyPolicy.
    """
    if issuer_ca_id == BRIDGE:
        code = subject_ca_id.removeprefix("pref-")
        pairs = [(bridge_policy(p), prefecture_policy(code, p)) for p in Purpose]
        path_length, inhibit_mapping = 0, 0
    else:
        if subject_ca_id != BRIDGE:
            raise InvalidInput("prefectures cross-certify only with the bridge", field="subject")
        code = issuer_ca_id.removeprefix("pref-")
        pairs = [(prefecture_policy(code, p), bridge_policy(p)) for p in Purpose]
        path_length, inhibit_mapping = 1, 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(ca_name(subject_ca_id))
        .issuer_name(ca_name(issuer_ca_id))
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(_years(now, CROSS_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(_policies(*(a for a, _ in pairs)), critical=False)
        # non-critical: cryptography's verifier rejects critical extensions it has no type for (see docs/pki.md)
        .add_extension(policy_mappings(pairs), critical=False)
        .add_extension(
            x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=inhibit_mapping), critical=True
        )
        .add_extension(x509.InhibitAnyPolicy(0), critical=True)
    )
    builder = _common(
        builder,
        subject_key=subject_key,
        issuer_key=issuer_key.public_key(),
        issuer_ca_id=issuer_ca_id,
        endpoints=endpoints,
    )
    return builder.sign(issuer_key, SIGNATURE_HASH)


def ocsp_signer_certificate(
    *, ca_id: str, ca_key: CaKey, issuer_name: x509.Name, key: PublicKey, now: datetime
) -> x509.Certificate:
    """RFC 6960 §4.2.2.2 delegated responder: issued directly by the CA, id-kp-OCSPSigning, id-pkix-ocsp-nocheck."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sekisho"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Sekisho OCSP Responder {ca_id}"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=OCSP_SIGNER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
    )
    builder = _common(builder, subject_key=key, issuer_key=ca_key.public_key(), issuer_ca_id=None, endpoints=None)
    return builder.sign(ca_key, SIGNATURE_HASH)


def new_subject_id() -> str:
    """A random, meaningless identifier (100 bits, 22 letters): the only thing an authentication certificate names.

    Letters only, so that it is never mistaken for a date, a code or a number.
    """
    n = secrets.randbits(100)
    out = []
    for _ in range(22):  # 24**22 > 2**100
        n, d = divmod(n, 24)
        out.append(_ID_ALPHABET[d])
    return "".join(out)


_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def _citizen_builder(
    *,
    prefecture: str,
    purpose: Purpose,
    issuer: x509.Certificate,
    subject: x509.Name,
    key: PublicKey,
    endpoints: Endpoints,
    now: datetime,
    not_after: datetime,
    serial: int,
) -> x509.CertificateBuilder:
    if purpose is Purpose.AUTHENTICATION:
        usage = _usage(digital_signature=True)
        eku = [ExtendedKeyUsageOID.CLIENT_AUTH]
    else:
        # contentCommitment (nonRepudiation): a legally binding signature; digitalSignature for CMS/PAdES tools
        usage = _usage(digital_signature=True, content_commitment=True)
        eku = [DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .serial_number(serial)
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .add_extension(_policies(prefecture_policy(prefecture, purpose)), critical=False)
    )
    issuer_key = issuer.public_key()
    if not isinstance(issuer_key, ec.EllipticCurvePublicKey):
        raise InvalidInput("issuer key must be ECDSA P-256", field="issuer")
    return _common(
        builder,
        subject_key=key,
        issuer_key=issuer_key,
        issuer_ca_id=prefecture_ca_id(prefecture),
        endpoints=endpoints,
    )


def authentication_certificate(
    *,
    prefecture: str,
    subject_id: str,
    key: PublicKey,
    issuer: x509.Certificate,
    issuer_key: CaKey,
    endpoints: Endpoints,
    now: datetime,
    serial: int | None = None,
    not_after: datetime | None = None,
) -> x509.Certificate:
    """Proves "a valid resident card of this prefecture" and nothing else: the subject is a random identifier."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sekisho"),
            x509.NameAttribute(NameOID.COMMON_NAME, subject_id),
        ]
    )
    return _citizen_builder(
        prefecture=prefecture,
        purpose=Purpose.AUTHENTICATION,
        issuer=issuer,
        subject=subject,
        key=key,
        endpoints=endpoints,
        now=now,
        not_after=not_after or _years(now, CITIZEN_YEARS),
        serial=serial or x509.random_serial_number(),
    ).sign(issuer_key, SIGNATURE_HASH)


def subject_directory_attributes(items: BasicItems) -> x509.UnrecognizedExtension:
    """RFC 5280 §4.2.1.8 / RFC 3739 §3.2.2: dateOfBirth, gender ("M"/"F") and the address (X.520 postalAddress)."""
    gender = "M" if items.sex == "male" else "F"
    attrs = [
        _der.seq(_der.oid(DATE_OF_BIRTH), _der.set_of(_der.generalized_date(items.birth_date))),
        _der.seq(_der.oid(GENDER), _der.set_of(_der.printable(gender))),
        _der.seq(_der.oid(POSTAL_ADDRESS), _der.set_of(_der.seq(_der.utf8(items.address)))),
    ]
    return x509.UnrecognizedExtension(ExtensionOID.SUBJECT_DIRECTORY_ATTRIBUTES, _der.seq(*attrs))


def signature_certificate(
    *,
    prefecture: str,
    subject_id: str,
    items: BasicItems,
    key: PublicKey,
    issuer: x509.Certificate,
    issuer_key: CaKey,
    endpoints: Endpoints,
    now: datetime,
    serial: int | None = None,
    not_after: datetime | None = None,
) -> x509.Certificate:
    """For legally binding signatures: names the signer with the four basic items, as the register holds them."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            # cryptography encodes commonName as UTF8String: kanji (and 髙, 﨑, 𠮷) survive byte for byte
            x509.NameAttribute(NameOID.COMMON_NAME, items.name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, subject_id),
        ]
    )
    return (
        _citizen_builder(
            prefecture=prefecture,
            purpose=Purpose.SIGNATURE,
            issuer=issuer,
            subject=subject,
            key=key,
            endpoints=endpoints,
            now=now,
            not_after=not_after or _years(now, CITIZEN_YEARS),
            serial=serial or x509.random_serial_number(),
        )
        .add_extension(subject_directory_attributes(items), critical=False)
        .sign(issuer_key, SIGNATURE_HASH)
    )


#: a party's role is the first segment of its name (``municipality/212016`` -> ``municipality``); the subject's OU
#: says it again, so that a relying party reads the role from the CA-signed subject without parsing names
TERMINAL_OU = "terminal"
TERMINAL_DAYS = 365
_LOCAL_HOSTS = ("localhost", "127.0.0.1")


def party_role(party: str) -> str:
    return party.split("/", 1)[0]


def _san(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):  # in order, once each
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _organisation_builder(
    *,
    subject: x509.Name,
    key: PublicKey,
    issuer: x509.Certificate,
    issuer_key: CaKey,
    endpoints: Endpoints,
    not_before: datetime,
    not_after: datetime,
    eku: list[x509.ObjectIdentifier],
    san: list[x509.GeneralName] | None,
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .add_extension(_policies(ORGANISATION_POLICY), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return _common(
        builder, subject_key=key, issuer_key=issuer_key.public_key(), issuer_ca_id=ORGANISATION, endpoints=endpoints
    )


def party_certificate(
    *,
    party: str,
    key: PublicKey,
    issuer: x509.Certificate,
    issuer_key: CaKey,
    endpoints: Endpoints,
    now: datetime,
    hosts: Sequence[str] = (),
    days: int = PARTY_DAYS,
) -> x509.Certificate:
    """A network party's certificate (TLS server and client) from the organisation CA.

    Subject ``C=JP, O=Sekisho, OU=<role>, CN=<party>``; subjectAltName the party's internal DNS name, loopback
    (``localhost``, ``127.0.0.1``: ``sekisho up`` runs every party there) and any further ``hosts``."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sekisho"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, party_role(party)),
            x509.NameAttribute(NameOID.COMMON_NAME, party),
        ]
    )
    dns = party.replace("/", "-") + ".sekisho.internal"
    return _organisation_builder(
        subject=subject,
        key=key,
        issuer=issuer,
        issuer_key=issuer_key,
        endpoints=endpoints,
        not_before=now - BACKDATE,
        not_after=now + timedelta(days=days),
        eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        san=_san([dns, *_LOCAL_HOSTS, *hosts]),
    ).sign(issuer_key, SIGNATURE_HASH)


def terminal_certificate(
    *,
    terminal: str,
    key: PublicKey,
    issuer: x509.Certificate,
    issuer_key: CaKey,
    endpoints: Endpoints,
    now: datetime,
    days: int = TERMINAL_DAYS,
) -> x509.Certificate:
    """A terminal's certificate (a clerk's terminal at a municipality, an agency's terminal): its key signs the
    requests that cause an access (RFC 9421), and it is revocable on its own.

    Subject ``C=JP, O=Sekisho, OU=terminal, CN=<party>/<terminal>`` (e.g. ``municipality/212016/counter-3``): the
    terminal id names its party, so a relying party can check that the party which sent the request owns the
    terminal that signed it.  No subjectAltName: a terminal is not a server."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sekisho"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TERMINAL_OU),
            x509.NameAttribute(NameOID.COMMON_NAME, terminal),
        ]
    )
    return _organisation_builder(
        subject=subject,
        key=key,
        issuer=issuer,
        issuer_key=issuer_key,
        endpoints=endpoints,
        not_before=now - BACKDATE,
        not_after=now + timedelta(days=days),
        eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
        san=None,
    ).sign(issuer_key, SIGNATURE_HASH)


CREDENTIAL_ISSUER_DAYS = 2 * 365


def credential_issuer_certificate(
    *,
    prefecture: str,
    municipality: str,
    key: PublicKey,
    issuer: x509.Certificate,
    issuer_key: CaKey,
    endpoints: Endpoints,
    now: datetime,
) -> x509.Certificate:
    """A municipality's SD-JWT VC issuer key, certified by its prefectural CA (the ``x5c`` of its credentials).

    Profile of a citizen signature certificate (policy ``P.2``, documentSigning): a verifier of any prefecture
    accepts it through the bridge exactly as it accepts a signature.  The subject names the municipality (a public
    body), never a person: ``C=JP, O=Sekisho, OU=credential-issuer, CN=<municipality code>``.
    """
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sekisho"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "credential-issuer"),
            x509.NameAttribute(NameOID.COMMON_NAME, municipality),
        ]
    )
    return _citizen_builder(
        prefecture=prefecture,
        purpose=Purpose.SIGNATURE,
        issuer=issuer,
        subject=subject,
        key=key,
        endpoints=endpoints,
        now=now,
        not_after=now + timedelta(days=CREDENTIAL_ISSUER_DAYS),
        serial=x509.random_serial_number(),
    ).sign(issuer_key, SIGNATURE_HASH)


TSA_DAYS = 5 * 365
DOCUMENT_SIGNER_DAYS = 2 * 365


def _organisation_leaf(
    *,
    subject: x509.Name,
    key: PublicKey,
    issuer: x509.Certificate,
    issuer_key: CaKey,
    endpoints: Endpoints,
    now: datetime,
    days: int,
    usage: x509.KeyUsage,
    eku: x509.ExtendedKeyUsage,
    eku_critical: bool,
    policies: Sequence[x509.ObjectIdentifier],
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(_policies(*policies), critical=False)
        .add_extension(eku, critical=eku_critical)
    )
    return _common(
        builder, subject_key=key, issuer_key=issuer_key.public_key(), issuer_ca_id=ORGANISATION, endpoints=endpoints
    ).sign(issuer_key, SIGNATURE_HASH)


def _organisation_name(unit: str, name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sekisho"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )


def tsa_certificate(
    *, key: PublicKey, issuer: x509.Certificate, issuer_key: CaKey, endpoints: Endpoints, now: datetime
) -> x509.Certificate:
    """The PKI's time-stamp authority (RFC 3161), from the organisation CA: ``OU=tsa, CN=pki/tsa``,
    digitalSignature, the critical extended key usage timeStamping and nothing else."""
    return _organisation_leaf(
        subject=_organisation_name("tsa", "pki/tsa"),
        key=key,
        issuer=issuer,
        issuer_key=issuer_key,
        endpoints=endpoints,
        now=now,
        days=TSA_DAYS,
        usage=_usage(digital_signature=True),
        # RFC 3161 §2.3: exactly one extended key usage, id-kp-timeStamping, and critical
        eku=x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
        eku_critical=True,
        policies=(ORGANISATION_POLICY,),
    )


def document_signer_certificate(
    *,
    municipality: str,
    key: PublicKey,
    issuer: x509.Certificate,
    issuer_key: CaKey,
    endpoints: Endpoints,
    now: datetime,
) -> x509.Certificate:
    """A municipality's key for certificates of residence (PAdES and JWS), from the organisation CA:
    ``OU=certificate-signer, CN=<municipality code>`` (a public body, never a person), digitalSignature and
    nonRepudiation; extended key usage documentSigning (RFC 9336) and, as for a citizen's signature certificate,
    emailProtection, which NSS (poppler's ``pdfsig``) looks for in a PDF signer."""
    return _organisation_leaf(
        subject=_organisation_name("certificate-signer", municipality),
        key=key,
        issuer=issuer,
        issuer_key=issuer_key,
        endpoints=endpoints,
        now=now,
        days=DOCUMENT_SIGNER_DAYS,
        usage=_usage(digital_signature=True, content_commitment=True),
        eku=x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
        eku_critical=False,
        policies=(ORGANISATION_POLICY, DOCUMENT_SIGNER_POLICY),
    )
