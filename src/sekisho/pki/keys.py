"""CA key files: PKCS#8, encrypted with a passphrase (``SEKISHO_PASSPHRASE`` or a prompt), readable by the
operator only.  A PKCS#11 token would replace this module's two functions; nothing else reads key files.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sekisho.errors import Refused, Unavailable

PASSPHRASE_ENV = "SEKISHO_PASSPHRASE"  # noqa: S105 - the name of the variable, not a secret


def passphrase(*, prompt: str = "PKI key passphrase: ") -> bytes:
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value.encode()
    if sys.stdin.isatty():
        return getpass.getpass(prompt).encode()
    raise Unavailable(f"set {PASSPHRASE_ENV} or run on a terminal to be prompted", field="passphrase")


def save_key(path: Path, key: ec.EllipticCurvePrivateKey, secret: bytes) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def load_key(path: Path, secret: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise Unavailable("a CA key file is missing (run `sekisho pki init`)", field="key") from None
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except (ValueError, TypeError):
        raise Refused("the key file cannot be decrypted with this passphrase", field="passphrase") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise Refused("a CA key must be ECDSA P-256", field="key")
    return key
