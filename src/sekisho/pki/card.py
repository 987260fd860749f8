"""The resident's card: two key pairs (authentication, signature) that never leave it.

:class:`Card` is the interface every card implements; :class:`SoftwareCard` is a file-backed one.  A PKCS#11
token (a real card, SoftHSM2) implements the same methods with ``C_GenerateKeyPair`` / ``C_Sign`` and
``C_CreateObject`` for the certificates; nothing outside this module knows which kind of card it holds.

The software card is one JSON file: each slot's private key as its own PKCS#12 (PBES2, AES-256-CBC,
PBKDF2-SHA256, HMAC-SHA256) encrypted under that slot's PIN, as a real card has two PINs; the certificates
beside them in the clear, because certificates are public.  There is deliberately no method that returns a
private key or its bytes: a card signs, it does not export.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from sekisho.errors import Conflict, InvalidInput, NotFound, Refused
from sekisho.pki.oids import Purpose
from sekisho.pki.profiles import CURVE, SIGNATURE_HASH

FORMAT = "sekisho-card-v1"
MIN_PIN = 4
# PKCS#12 key derivation rounds: a stolen card file costs an attacker this much per PIN guess
KDF_ROUNDS = 100_000


class Card(Protocol):
    def public_key(self, slot: Purpose) -> ec.EllipticCurvePublicKey: ...

    def csr(self, slot: Purpose, *, pin: str) -> x509.CertificateSigningRequest: ...

    def install(self, slot: Purpose, certificate: x509.Certificate) -> None: ...

    def certificate(self, slot: Purpose) -> x509.Certificate: ...

    def sign(self, slot: Purpose, data: bytes, *, pin: str) -> bytes: ...


def _check_pin(pin: str) -> bytes:
    if len(pin) < MIN_PIN:
        raise InvalidInput(f"a PIN has at least {MIN_PIN} characters", field="pin")
    return pin.encode()


def _seal(key: ec.EllipticCurvePrivateKey, pin: str) -> str:
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(_check_pin(pin))
    )
    blob = pkcs12.serialize_key_and_certificates(b"sekisho-card", key, None, None, encryption)
    return base64.b64encode(blob).decode()


class SoftwareCard:
    """A card in a file.  Every private-key operation decrypts the slot with its PIN, uses it, and drops it."""

    def __init__(self, path: Path, slots: dict[str, dict[str, str]]) -> None:
        self._path = path
        self._slots = slots

    @classmethod
    def create(cls, path: Path, *, auth_pin: str, sign_pin: str) -> SoftwareCard:
        """Generate both key pairs on the card (the only place they ever exist)."""
        card = cls(path, {})
        card._new_slot(Purpose.AUTHENTICATION, auth_pin)
        card._new_slot(Purpose.SIGNATURE, sign_pin)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise Conflict("the card file already exists", field="card") from None
        with os.fdopen(fd, "w") as f:
            f.write(card._dumps())
        return card

    @classmethod
    def open(cls, path: Path) -> SoftwareCard:
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise NotFound("no card file there", field="card") from None
        except ValueError:
            raise InvalidInput("not a card file", field="card") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("slots"), dict):
            raise InvalidInput("not a card file", field="card")
        return cls(path, doc["slots"])

    def _dumps(self) -> str:
        return json.dumps({"format": FORMAT, "slots": self._slots}, indent=1)

    def _save(self) -> None:
        tmp = self._path.with_name(self._path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self._dumps())
        os.replace(tmp, self._path)

    def _new_slot(self, slot: Purpose, pin: str) -> None:
        key = ec.generate_private_key(CURVE)
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._slots[slot.value] = {"pkcs12": _seal(key, pin), "public_key": base64.b64encode(spki).decode()}

    def _slot(self, slot: Purpose) -> dict[str, str]:
        try:
            return self._slots[slot.value]
        except KeyError:
            raise NotFound("the card has no such slot", field="slot") from None

    def _private(self, slot: Purpose, pin: str) -> ec.EllipticCurvePrivateKey:
        blob = base64.b64decode(self._slot(slot)["pkcs12"])
        try:
            key, _, _ = pkcs12.load_key_and_certificates(blob, _check_pin(pin))
        except ValueError:
            raise Refused("wrong PIN", field="pin") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InvalidInput("the card slot holds no ECDSA key", field="card")
        return key

    def public_key(self, slot: Purpose) -> ec.EllipticCurvePublicKey:
        key = serialization.load_der_public_key(base64.b64decode(self._slot(slot)["public_key"]))
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise InvalidInput("the card slot holds no ECDSA key", field="card")
        return key

    def csr(self, slot: Purpose, *, pin: str) -> x509.CertificateSigningRequest:
        """Proof of possession for the CA; the subject is the CA's to decide, so the request names nobody."""
        builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
        return builder.sign(self._private(slot, pin), SIGNATURE_HASH)

    def install(self, slot: Purpose, certificate: x509.Certificate) -> None:
        if certificate.public_key() != self.public_key(slot):
            raise Conflict("the certificate is not for this card's key", field="certificate")
        self._slot(slot)["certificate"] = certificate.public_bytes(serialization.Encoding.PEM).decode()
        self._save()

    def certificate(self, slot: Purpose) -> x509.Certificate:
        pem = self._slot(slot).get("certificate")
        if not pem:
            raise NotFound("the card holds no certificate in this slot", field="slot")
        return x509.load_pem_x509_certificate(pem.encode())

    def rekey(self, slot: Purpose, *, pin: str) -> None:
        """A new key pair in the slot (after its certificate was revoked, e.g. on a move); the old key is gone."""
        self._private(slot, pin)  # the holder proves they may replace it
        self._new_slot(slot, pin)
        self._save()

    def sign(self, slot: Purpose, data: bytes, *, pin: str) -> bytes:
        """ECDSA P-256 with SHA-256, DER-encoded signature."""
        return self._private(slot, pin).sign(data, ec.ECDSA(SIGNATURE_HASH))
