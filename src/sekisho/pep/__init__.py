"""Polymorphic pseudonymisation (PEP) on ristretto255, the primitives every party shares (docs/pseudonyms.md):
no universal number, one pseudonym per domain.

- :mod:`~sekisho.pep.group` (ristretto255 through a maintained library), :mod:`~sekisho.pep.elgamal`,
  :mod:`~sekisho.pep.operations` (rerandomise, reshuffle, rekey, rsk, rrsk);
- :mod:`~sekisho.pep.encoding`: a pseudonym as text (``sks1…``, domain-bound checksum);
- :mod:`~sekisho.pep.keys`: the network's public parameters, domain keys assembled from the transcryptors' shares;
- :mod:`~sekisho.pep.flows`: the register creates polymorphic pseudonyms, a sender prepares a batch, the receiving
  domain decrypts.

The transcryptor *service* (T1, T2, their journals and grants) is :mod:`sekisho.pseudonyms`.
"""
