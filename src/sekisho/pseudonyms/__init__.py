"""Polymorphic pseudonymisation (PEP) on ristretto255: no universal number, one pseudonym per domain.

The calls other parties make (docs/pseudonyms.md explains the math and the flows):

- register: :func:`new_polymorphic_pseudonym` (``PP = Enc_Y(P)``, 64 bytes, stored with the record);
- sender: :func:`prepare_batch` (PPs) or :func:`encrypt_pseudonyms` (an agency's own), then
  :func:`conversion_request` and :func:`convert_batch` through T1 and T2;
- receiver: :func:`agency_decrypt` with the domain's :class:`DomainKey` (assembled by
  :func:`assemble_domain_key` from one key share per transcryptor), :func:`encode_pseudonym` for text;
- transcryptor: :func:`open_transcryptor` (its hooks: :class:`PolicyHook`, :class:`AccessHook`).
"""

from sekisho.pseudonyms.encoding import decode_pseudonym, encode_pseudonym
from sekisho.pseudonyms.flows import (
    agency_decrypt,
    conversion_request,
    convert_batch,
    convert_registry_to_agency,
    encrypt_pseudonyms,
    new_polymorphic_pseudonym,
    prepare_batch,
)
from sekisho.pseudonyms.grants import GrantIssuer, SignedGrantPolicy, verify_grant
from sekisho.pseudonyms.interfaces import (
    REGISTRY_DOMAIN,
    AccessHook,
    ConversionRequest,
    Grant,
    Hop,
    HopResult,
    PolicyHook,
)
from sekisho.pseudonyms.keys import DomainKey, NetworkParams, assemble_domain_key, load_network
from sekisho.pseudonyms.service import init_network, open_grant_issuer, open_registry_key, open_transcryptor
from sekisho.pseudonyms.transcryptor import Transcryptor, transcrypt

__all__ = [
    "REGISTRY_DOMAIN",
    "AccessHook",
    "ConversionRequest",
    "DomainKey",
    "Grant",
    "GrantIssuer",
    "Hop",
    "HopResult",
    "NetworkParams",
    "PolicyHook",
    "SignedGrantPolicy",
    "Transcryptor",
    "agency_decrypt",
    "assemble_domain_key",
    "conversion_request",
    "convert_batch",
    "convert_registry_to_agency",
    "decode_pseudonym",
    "encode_pseudonym",
    "encrypt_pseudonyms",
    "init_network",
    "load_network",
    "new_polymorphic_pseudonym",
    "open_grant_issuer",
    "open_registry_key",
    "open_transcryptor",
    "prepare_batch",
    "transcrypt",
    "verify_grant",
]
