"""Object identifiers of Sekisho's certificate policies and attributes.

The arc ``1.3.6.1.4.1.32473`` is IANA's private enterprise number reserved for documentation and examples
(RFC 5612); a deployment would replace :data:`ARC` with its own enterprise arc, in this one place.

    ARC.6.1.<p>.1   prefecture <p> (1..47): citizen authentication certificates
    ARC.6.1.<p>.2   prefecture <p>: citizen signature certificates
    ARC.6.2.1       bridge domain: authentication
    ARC.6.2.2       bridge domain: signature
    ARC.6.3.1       organisation CA: party and terminal certificates
    ARC.6.3.2       organisation CA: a municipality's document signer (certificates of residence)
    ARC.6.4.1       the PKI's time-stamp authority: its TSA policy (RFC 3161 TSTInfo.policy)

Each prefecture is its own policy domain; the cross-certificates map a prefecture's policies to the bridge's and
the bridge's to every other prefecture's (RFC 5280 §4.2.1.5), so a relying party asks for its *own* domain's
policy and accepts an equivalent one from anywhere in the network.
"""

from __future__ import annotations

from enum import StrEnum

from cryptography.x509 import ObjectIdentifier

ARC = "1.3.6.1.4.1.32473"
_SEKISHO = ARC + ".6"


class Purpose(StrEnum):
    AUTHENTICATION = "authentication"
    SIGNATURE = "signature"


def prefecture_policy(code: str, purpose: Purpose) -> ObjectIdentifier:
    return ObjectIdentifier(f"{_SEKISHO}.1.{int(code)}.{1 if purpose is Purpose.AUTHENTICATION else 2}")


def bridge_policy(purpose: Purpose) -> ObjectIdentifier:
    return ObjectIdentifier(f"{_SEKISHO}.2.{1 if purpose is Purpose.AUTHENTICATION else 2}")


ORGANISATION_POLICY = ObjectIdentifier(f"{_SEKISHO}.3.1")
DOCUMENT_SIGNER_POLICY = ObjectIdentifier(f"{_SEKISHO}.3.2")
TSA_POLICY = ObjectIdentifier(f"{_SEKISHO}.4.1")

# RFC 3739 §3.2.2 personal data attributes (subjectDirectoryAttributes)
DATE_OF_BIRTH = ObjectIdentifier("1.3.6.1.5.5.7.9.1")
GENDER = ObjectIdentifier("1.3.6.1.5.5.7.9.3")
# X.520 postalAddress
POSTAL_ADDRESS = ObjectIdentifier("2.5.4.16")
# RFC 9336 id-kp-documentSigning
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
