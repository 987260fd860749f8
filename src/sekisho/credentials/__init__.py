"""The home municipality as an issuer of SD-JWT VCs (RFC 9901, SD-JWT VC) to its residents' wallets, with an IETF
Token Status List per issuer (docs/credentials.md).  It reads a person's items only through the register's public
service (:class:`ResidentSource`), which writes the access record first."""
