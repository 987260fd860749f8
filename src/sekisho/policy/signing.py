"""The watchdog's signed statements: PIA decisions, warrants and revocation lists (their form and verification:
:mod:`sekisho.protocols.statements`).

A statement's text form is ``sks-<kind>1.<base64url(payload)>.<base64url(signature)>``: ``payload`` is canonical
JSON (keys sorted, no spaces, UTF-8, integers for times) and the Ed25519 signature (RFC 8032 §5.1, pyca
``cryptography``) covers ``"sekisho/policy/<kind>/v1\\n" ‖ payload`` — a per-kind context, so that a warrant can
never be read as a PIA approval or a grant.  A payload that is not in canonical form is refused: each statement has
exactly one encoding, and its SHA-256 is a stable id.

The watchdog's signing key is its own (``watchdog/policy-signer.key``, sealed with scrypt + ChaCha20-Poly1305 by
:mod:`sekisho.keyfile`), apart from the grant-issuer key of the pseudonym ceremony; its public half is
published in ``watchdog.json`` at the top of the home, beside ``network.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from sekisho.config import Home
from sekisho.errors import Conflict, InvalidInput, NotFound
from sekisho.keyfile import DEFAULT_N, read_key_file, write_key_file
from sekisho.pep.keys import key_id
from sekisho.protocols.statements import KINDS, MAX_TOKEN, Kind, b64u, canonical, context, prefix, unb64u

PUBLIC_FILE: Final = "watchdog.json"
PUBLIC_FORMAT: Final = "sekisho-watchdog/1"
KEY_KIND: Final = "policy-signer"
WATCHDOG: Final = "watchdog"


@dataclass(frozen=True, repr=False)
class Signer:
    """The watchdog's policy-signing key."""

    key: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        return key_id(self.key.public_key())

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.key.public_key()

    def sign(self, kind: Kind, body: Mapping[str, Any]) -> str:
        if kind not in KINDS:
            raise InvalidInput("is not a statement kind", field="kind")
        payload = canonical({**body, "iss": self.key_id, "kind": kind})
        token = f"{prefix(kind)}.{b64u(payload)}.{b64u(self.key.sign(context(kind) + payload))}"
        if len(token) > MAX_TOKEN:
            raise InvalidInput(f"a signed statement must fit in {MAX_TOKEN} characters", field=kind)
        return token

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"


# --- keys on disk ---------------------------------------------------------------------------------------------


def key_path(home: Home) -> Path:
    return home.party_dir(WATCHDOG) / "policy-signer.key"


def public_path(home: Home) -> Path:
    return home.root / PUBLIC_FILE


def init_signer(home: Home, *, passphrase: bytes, n: int = DEFAULT_N) -> Signer:
    """Create the watchdog's policy key (once) and publish its public half in ``watchdog.json``."""
    path = key_path(home)
    if path.exists() or public_path(home).exists():
        raise Conflict("the watchdog's policy key exists already", field="key_file")
    signer = Signer(Ed25519PrivateKey.generate())
    seed = signer.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    write_key_file(path, kind=KEY_KIND, party=WATCHDOG, secrets={"seed": seed.hex()}, passphrase=passphrase, n=n)
    raw = signer.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    doc = {"format": PUBLIC_FORMAT, "policy_keys": {signer.key_id: b64u(raw)}}
    tmp = public_path(home).with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, public_path(home))  # published last: its presence means the key is there
    return signer


def load_signer(home: Home, *, passphrase: bytes) -> Signer:
    _party, data = read_key_file(key_path(home), kind=KEY_KIND, passphrase=passphrase)
    try:
        return Signer(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(data["seed"])))
    except (KeyError, ValueError):
        raise InvalidInput("is not a policy key file", field="key_file") from None


def open_signer(home: Home, *, passphrase: bytes, n: int = DEFAULT_N) -> Signer:
    """The watchdog's key, created on first use."""
    if not key_path(home).exists() and not public_path(home).exists():
        return init_signer(home, passphrase=passphrase, n=n)
    return load_signer(home, passphrase=passphrase)


def public_keys(home: Home) -> dict[str, Ed25519PublicKey]:
    """The watchdog's published policy keys (what every other party verifies statements with)."""
    return keys_of(public_document(home))


def public_document(home: Home) -> dict[str, Any]:
    """The published ``watchdog.json`` document, checked (what the watchdog serves to the parties)."""
    try:
        doc = json.loads(public_path(home).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound("the watchdog has not published its policy key (watchdog.json)", field="watchdog") from None
    except ValueError:
        raise InvalidInput("is not a watchdog.json file", field="watchdog") from None
    keys_of(doc)
    return cast("dict[str, Any]", doc)


def document_of(keys: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    """A ``watchdog.json`` document publishing ``keys`` (key id -> public key)."""
    raw = {kid: b64u(k.public_bytes(Encoding.Raw, PublicFormat.Raw)) for kid, k in keys.items()}
    return {"format": PUBLIC_FORMAT, "policy_keys": raw}


def keys_of(doc: object) -> dict[str, Ed25519PublicKey]:
    """The policy keys of a ``watchdog.json`` document (as published in the home, or served by the watchdog)."""
    if not isinstance(doc, dict) or doc.get("format") != PUBLIC_FORMAT or not isinstance(doc.get("policy_keys"), dict):
        raise InvalidInput("is not a watchdog.json file", field="watchdog")
    keys: dict[str, Ed25519PublicKey] = {}
    for kid, text in doc["policy_keys"].items():
        try:
            keys[str(kid)] = Ed25519PublicKey.from_public_bytes(unb64u(str(text)))
        except ValueError:
            raise InvalidInput("holds a malformed key", field="watchdog") from None
        if key_id(keys[str(kid)]) != kid:
            raise InvalidInput("holds a key under another key's id", field="watchdog")
    return keys
