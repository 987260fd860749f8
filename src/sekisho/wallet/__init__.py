"""The resident's wallet: one-time SD-JWT VCs and their holder keys under a home directory (docs/credentials.md)."""
