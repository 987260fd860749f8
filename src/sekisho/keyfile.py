"""Passphrase-protected key files: scrypt (RFC 7914) derives a key that seals the secrets with
ChaCha20-Poly1305 (RFC 8439), both from pyca ``cryptography``.

A file is JSON::

    {"format": "sekisho-keyfile/1", "kind": "transcryptor", "party": "t1",
     "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<base64>"},
     "aead": "chacha20-poly1305", "nonce": "<base64>", "ciphertext": "<base64>"}

Everything except ``ciphertext`` is bound to it as associated data, so a header cannot be swapped onto another
file's secrets (nor a weaker cost slipped in).  Files are created 0600 and never overwritten.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sekisho.errors import Conflict, InvalidInput, NotFound, Unavailable

FORMAT: Final = "sekisho-keyfile/1"
PASSPHRASE_ENV: Final = "SEKISHO_PASSPHRASE"  # noqa: S105 (the variable's name, not a password)
#: scrypt cost: 2¹⁵ × 8 × 128 bytes = 32 MiB and ~0.1 s per open (RFC 7914 §2 guidance for interactive use)
DEFAULT_N: Final = 2**15
_MIN_N: Final = 2**14
_MAX_N: Final = 2**20


def passphrase_from_env() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidInput("must be base64 text", field=field)
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise InvalidInput("must be base64 text", field=field) from None


def _aad(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _kdf(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


def write_key_file(
    path: Path, *, kind: str, party: str, secrets: dict[str, str], passphrase: bytes, n: int = DEFAULT_N
) -> None:
    """Seal ``secrets`` (text values) into a new file at ``path``; refuses to replace an existing file."""
    if not passphrase:
        raise InvalidInput("must not be empty", field="passphrase")
    if not _MIN_N <= n <= _MAX_N or n & (n - 1):
        raise InvalidInput("scrypt cost must be a power of two between 2^14 and 2^20", field="n")
    salt, nonce = os.urandom(16), os.urandom(12)
    header: dict[str, Any] = {
        "format": FORMAT,
        "kind": kind,
        "party": party,
        "kdf": {"name": "scrypt", "n": n, "r": 8, "p": 1, "salt": _b64(salt)},
        "aead": "chacha20-poly1305",
        "nonce": _b64(nonce),
    }
    key = _kdf(passphrase, salt, n, 8, 1)
    plaintext = json.dumps(secrets, sort_keys=True).encode("utf-8")
    sealed = ChaCha20Poly1305(key).encrypt(nonce, plaintext, _aad(header))
    body = json.dumps({**header, "ciphertext": _b64(sealed)}, indent=2) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Conflict("a key file already exists there; it is never overwritten", field="key_file") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())


def read_key_file(path: Path, *, kind: str, passphrase: bytes, party: str | None = None) -> tuple[str, dict[str, str]]:
    """Open a key file of the expected kind; returns (party, secrets).  Wrong passphrase or any alteration of
    the file fails the AEAD check and raises InvalidInput naming the passphrase (no detail leaks).

    ``party``: the file is the key of a party the caller reaches (T1, T2, the locator, the grant desk), not the
    caller's input: a file that is missing, damaged or does not open makes that party unavailable (exit 5), and
    the error names the party and the file."""
    if party is None:
        return _read_key_file(path, kind=kind, passphrase=passphrase)
    try:
        return _read_key_file(path, kind=kind, passphrase=passphrase)
    except (NotFound, InvalidInput) as exc:
        if isinstance(exc, NotFound):
            rule = "is missing"
        elif exc.field == "passphrase":
            rule = "does not open with the passphrase given (wrong passphrase, or the file was altered)"
        else:
            rule = f"is damaged ({exc.field}: {exc.message})"
        raise Unavailable(f"its key file {path} {rule}", field=party) from None


def _read_key_file(path: Path, *, kind: str, passphrase: bytes) -> tuple[str, dict[str, str]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFound("no key file at the configured place", field="key_file") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is a ValueError too
        raise InvalidInput("is not a Sekisho key file", field="key_file") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidInput("is not a Sekisho key file", field="key_file")
    if doc.get("kind") != kind:
        raise InvalidInput(f"holds another kind of key (expected {kind})", field="key_file")
    kdf = doc.get("kdf")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt" or doc.get("aead") != "chacha20-poly1305":
        raise InvalidInput("uses an unsupported algorithm", field="key_file")
    n, r, p = kdf.get("n"), kdf.get("r"), kdf.get("p")
    if not (isinstance(n, int) and _MIN_N <= n <= _MAX_N and r == 8 and p == 1):
        raise InvalidInput("has out-of-range scrypt parameters", field="key_file")
    salt = _unb64(kdf.get("salt"), "key_file.salt")
    nonce = _unb64(doc.get("nonce"), "key_file.nonce")
    sealed = _unb64(doc.get("ciphertext"), "key_file.ciphertext")
    if len(nonce) != 12 or len(salt) < 16:
        raise InvalidInput("has a malformed header", field="key_file")
    header = {k: v for k, v in doc.items() if k != "ciphertext"}
    try:
        plaintext = ChaCha20Poly1305(_kdf(passphrase, salt, n, r, p)).decrypt(nonce, sealed, _aad(header))
    except InvalidTag:
        raise InvalidInput(
            "does not open this key file (wrong passphrase, or the file was altered)", field="passphrase"
        ) from None
    secrets = json.loads(plaintext)
    party = doc.get("party")
    if not isinstance(secrets, dict) or not isinstance(party, str):
        raise InvalidInput("has a malformed body", field="key_file")
    return party, {str(k): str(v) for k, v in secrets.items()}
