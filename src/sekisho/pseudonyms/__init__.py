"""The transcryptors T1 and T2 and the grant issuer: the service that converts polymorphic pseudonyms between
domains (docs/pseudonyms.md).  The primitives the other parties use (the group, ElGamal, the PEP operations, the
text encoding, the keys and the client-side flows) are shared, in :mod:`sekisho.pep`; what a transcryptor is asked
and answers is in :mod:`sekisho.protocols.conversion`.

- transcryptor: :func:`open_transcryptor` (its hooks: ``PolicyHook``, ``AccessHook``);
- set-up: :func:`init_network` (the key ceremony), :func:`open_grant_issuer`.
"""

from sekisho.pseudonyms.grants import GrantIssuer, SignedGrantPolicy, verify_grant
from sekisho.pseudonyms.service import init_network, open_grant_issuer, open_transcryptor
from sekisho.pseudonyms.transcryptor import Transcryptor, transcrypt

__all__ = [
    "GrantIssuer",
    "SignedGrantPolicy",
    "Transcryptor",
    "init_network",
    "open_grant_issuer",
    "open_transcryptor",
    "transcrypt",
    "verify_grant",
]
