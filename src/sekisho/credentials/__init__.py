"""Verifiable credentials issued from the register: SD-JWT VC and AnonCreds."""
