"""Verifiable-credential formats shared by the issuer, the wallet and the verifier: SD-JWT (RFC 9901) with key
binding, and the IETF Token Status List.  Pure: no party, no database, no web framework (docs/credentials.md)."""
