"""A relying party's verifier of SD-JWT VC presentations (docs/credentials.md): fails closed, with the reason."""
