"""Verifiable credentials issued from the register: SD-JWT VC (the home municipality as issuer, with an IETF
Token Status List; docs/credentials.md) and AnonCreds (the prefecture as issuer; docs/login.md).  A person's items
are read only through the register's public service, which writes the access record first."""
