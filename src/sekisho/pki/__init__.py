"""Citizen PKI: 47 prefectural CAs cross-certified with a bridge CA, an organisation CA, CRLs, OCSP, the card.

Procedures, one transaction each: :mod:`sekisho.pki.hierarchy` (the party, its keys and CAs, the bridge and
cross-certificates), :mod:`sekisho.pki.issuance` (cards from the counter's applications, party, terminal and
credential-issuer certificates), :mod:`sekisho.pki.status` (revocation, CRLs, OCSP, relying parties),
:mod:`sekisho.pki.sessions` (the card login); the PKI as an agency of the network is wired by
:mod:`sekisho.node.pki_agency`.  Beside them: :mod:`sekisho.pki.verify` (relying-party path validation with revocation),
:mod:`sekisho.pki.card` (the resident's card), :mod:`sekisho.pki.login` (the login's messages) and
:mod:`sekisho.pki.api` (FastAPI router).
"""
