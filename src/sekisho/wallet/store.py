"""A wallet directory: ``<dir>/credentials/<id>.json`` (the SD-JWT VC) beside ``<dir>/keys/<id>.pem`` (its holder
key, 0600; the directory 0700).  Each credential is used once: presenting it deletes it and its key, so that no
two presentations share a signature, salt, digest, status index or holder key."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sekisho.errors import InvalidInput, NotFound
from sekisho.vc import sdjwt


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    vct: str
    issuer: str
    claims: tuple[str, ...]  # the names of the claims it can disclose
    exp: int


class Wallet:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def init(cls, root: Path) -> Wallet:
        for d in (root, root / "keys", root / "credentials", root / "pending"):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o700)
        return cls(root)

    @classmethod
    def open(cls, root: Path) -> Wallet:
        if not (root / "keys").is_dir():
            raise NotFound("no wallet here: run `sekisho wallet init`", field="wallet")
        return cls(root)

    # --- receiving ----------------------------------------------------------------------------------------

    def new_keys(self, n: int) -> list[ec.EllipticCurvePrivateKey]:
        """Fresh holder keys, kept until their credentials arrive (``pending/``)."""
        keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(n)]
        for key in keys:
            _write_key(self.root / "pending" / f"{_thumb(key.public_key())}.pem", key)
        return keys

    def proofs(self, keys: Sequence[ec.EllipticCurvePrivateKey], *, audience: str, nonce: str) -> list[str]:
        now = int(datetime.now(UTC).timestamp())
        return [sdjwt.key_proof(k, audience=audience, nonce=nonce, iat=now) for k in keys]

    def receive(self, credentials: Sequence[str]) -> list[str]:
        """Store credentials, each beside the pending key its ``cnf`` names; a credential for a key this wallet
        did not make is refused."""
        ids = []
        for text in credentials:
            payload = _payload(text)
            cnf = payload.get("cnf", {}).get("jwk")
            if not isinstance(cnf, dict):
                raise InvalidInput("the credential names no holder key", field="cnf")
            thumb = _thumb_jwk(cnf)
            pending = self.root / "pending" / f"{thumb}.pem"
            if not pending.exists():
                raise InvalidInput("the credential is bound to a key this wallet does not hold", field="cnf")
            cid = secrets.token_hex(8)
            os.replace(pending, self.root / "keys" / f"{cid}.pem")
            # the disclosures by claim name, worked out once here rather than at every presentation
            record = {"sd_jwt": text, "disclosures": sdjwt.index(text)}
            (self.root / "credentials" / f"{cid}.json").write_text(json.dumps(record))
            ids.append(cid)
        return ids

    # --- listing and presenting ---------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        out = []
        for path in sorted((self.root / "credentials").glob("*.json")):
            record = json.loads(path.read_text())
            text = record["sd_jwt"]
            payload = _payload(text)
            names = tuple(sorted(record.get("disclosures") or sdjwt.index(text)))
            out.append(
                Entry(
                    id=path.stem,
                    vct=payload.get("vct", ""),
                    issuer=payload.get("iss", ""),
                    claims=names,
                    exp=payload["exp"],
                )
            )
        return out

    def present(self, claims: Sequence[str], *, nonce: str, audience: str, now: datetime | None = None) -> str:
        """A presentation of ``claims`` from an unused, unexpired credential, which is then deleted with its key."""
        when = int((now or datetime.now(UTC)).timestamp())
        for entry in self.entries():
            if entry.exp > when and set(claims) <= set(entry.claims):
                cred = self.root / "credentials" / f"{entry.id}.json"
                keyfile = self.root / "keys" / f"{entry.id}.pem"
                key = serialization.load_pem_private_key(keyfile.read_bytes(), None)
                assert isinstance(key, ec.EllipticCurvePrivateKey)
                record = json.loads(cred.read_text())
                out = sdjwt.present(
                    record["sd_jwt"],
                    claims,
                    holder_key=key,
                    nonce=nonce,
                    audience=audience,
                    iat=when,
                    disclosures=record.get("disclosures"),
                )
                cred.unlink()
                keyfile.unlink()
                return out
        raise NotFound("no unused credential holds these claims: receive a new batch", field="wallet")


def _payload(text: str) -> dict[str, Any]:
    jwt = sdjwt.split(text).jwt
    body = json.loads(sdjwt.unb64u(jwt.split(".")[1], field="credential"))
    if not isinstance(body, dict):
        raise InvalidInput("not an SD-JWT VC", field="credential")
    return body


def _thumb(key: ec.EllipticCurvePublicKey) -> str:
    return _thumb_jwk(sdjwt.public_jwk(key))


def _thumb_jwk(jwk: dict[str, Any]) -> str:
    from joserfc.jwk import ECKey

    return str(ECKey.import_key(jwk).thumbprint())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
