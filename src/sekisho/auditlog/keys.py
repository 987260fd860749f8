"""The log's signing key and the watchdog's cosigning key: Ed25519, PKCS#8 encrypted with a passphrase.

Files (private keys readable by the operator only; the ``.json`` files hold public configuration):

    log/log-key.pem            the log's note signing key (signed-note type 0x01)
    log/log.json               {"origin", "vkey", "witnesses": [witness vkeys the log asks for cosignatures]}
    watchdog/witness-key.pem   the watchdog's cosigning key (tlog-cosignature type 0x04)
    watchdog/witness.json      {"name", "vkey", "logs": {origin: [log vkeys the witness trusts]}}
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sekisho.config import Home
from sekisho.errors import Conflict, Refused, Unavailable
from sekisho.transparency.note import ALG_COSIGNATURE_V1, ALG_ED25519, Signer, Verifier, check_key_name

PASSPHRASE_ENV = "SEKISHO_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret
LOG_PARTY = "log"
WITNESS_PARTY = "watchdog"
DEFAULT_ORIGIN = "sekisho.example/log"
DEFAULT_WITNESS = "sekisho.example/watchdog"


def passphrase(*, prompt: str = "Key passphrase: ", confirm: bool = False) -> bytes:
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value.encode()
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("Again: ") != first:
            raise Refused("the two passphrases differ", field="passphrase")
        if not first:
            raise Refused("the passphrase must not be empty", field="passphrase")
        return first.encode()
    raise Unavailable(f"set {PASSPHRASE_ENV} or run on a terminal to be prompted", field="passphrase")


def _write_private(path: Path, key: Ed25519PrivateKey, secret: bytes) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _read_private(path: Path, secret: bytes) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise Unavailable("a key file is missing (run `sekisho log init`)", field="key") from None
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except (ValueError, TypeError):
        raise Refused("the key file cannot be decrypted with this passphrase", field="passphrase") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise Refused("the log and witness keys are Ed25519", field="key")
    return key


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise Unavailable("the log is not set up (run `sekisho log init`)", field="config") from None


@dataclass(frozen=True, slots=True)
class LogConfig:
    origin: str
    vkey: Verifier
    witnesses: tuple[Verifier, ...]

    @classmethod
    def load(cls, home: Home) -> LogConfig:
        d = _read_json(home.party_dir(LOG_PARTY, create=False) / "log.json")
        return cls(d["origin"], Verifier.parse(d["vkey"]), tuple(Verifier.parse(w) for w in d["witnesses"]))


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    name: str
    vkey: Verifier
    logs: dict[str, tuple[Verifier, ...]]

    @classmethod
    def load(cls, home: Home) -> WitnessConfig:
        d = _read_json(home.party_dir(WITNESS_PARTY, create=False) / "witness.json")
        logs = {origin: tuple(Verifier.parse(v) for v in keys) for origin, keys in d["logs"].items()}
        return cls(d["name"], Verifier.parse(d["vkey"]), logs)


def init_keys(
    home: Home, secret: bytes, *, origin: str = DEFAULT_ORIGIN, witness_name: str = DEFAULT_WITNESS
) -> tuple[LogConfig, WitnessConfig]:
    """Create the log key and the watchdog's witness key, and introduce each to the other (public keys only)."""
    check_key_name(origin)
    check_key_name(witness_name)
    log_dir, witness_dir = home.party_dir(LOG_PARTY), home.party_dir(WITNESS_PARTY)
    log_key_path, witness_key_path = log_dir / "log-key.pem", witness_dir / "witness-key.pem"
    if log_key_path.exists() or witness_key_path.exists():
        raise Conflict("the log keys exist already", field="key")
    log_key, witness_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    log_signer = Signer(origin, log_key, alg=ALG_ED25519)
    witness_signer = Signer(witness_name, witness_key, alg=ALG_COSIGNATURE_V1)
    if log_signer.verifier.public_key == witness_signer.verifier.public_key:  # pragma: no cover - 2^-252
        raise Conflict("the two keys collide", field="key")
    _write_private(log_key_path, log_key, secret)
    _write_private(witness_key_path, witness_key, secret)
    log_vkey, witness_vkey = log_signer.verifier, witness_signer.verifier
    _write_json(log_dir / "log.json", {"origin": origin, "vkey": log_vkey.vkey, "witnesses": [witness_vkey.vkey]})
    _write_json(
        witness_dir / "witness.json",
        {"name": witness_name, "vkey": witness_vkey.vkey, "logs": {origin: [log_vkey.vkey]}},
    )
    return LogConfig.load(home), WitnessConfig.load(home)


def load_log_signer(home: Home, secret: bytes) -> Signer:
    config = LogConfig.load(home)
    signer = Signer(config.origin, _read_private(home.party_dir(LOG_PARTY, create=False) / "log-key.pem", secret))
    if signer.verifier != config.vkey:
        raise Refused("the log key does not match the published vkey", field="key")
    return signer


def load_witness_signer(home: Home, secret: bytes) -> Signer:
    config = WitnessConfig.load(home)
    key = _read_private(home.party_dir(WITNESS_PARTY, create=False) / "witness-key.pem", secret)
    signer = Signer(config.name, key, alg=ALG_COSIGNATURE_V1)
    if signer.verifier != config.vkey:
        raise Refused("the witness key does not match the published vkey", field="key")
    return signer
