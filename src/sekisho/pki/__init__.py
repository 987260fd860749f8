"""Citizen PKI: 47 prefectural CAs cross-certified with a bridge CA, an organisation CA, CRLs, OCSP, the card.

Public surface: :mod:`sekisho.pki.service` (procedures, one transaction each), :mod:`sekisho.pki.verify`
(relying-party path validation with revocation), :mod:`sekisho.pki.card` (the resident's card),
:mod:`sekisho.pki.login` (challenge-response login) and :mod:`sekisho.pki.api` (FastAPI router).
"""
