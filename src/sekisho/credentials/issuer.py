"""The issuer: batch issuance of one-time SD-JWT VCs and the issuer's Token Status List.

The key lives in the issuer's directory (``<home>/municipality-<code>/credentials/``): the issuer key (PKCS#8,
encrypted, 0600) and its ``x5c`` chain from the prefectural CA.  The status entries (which random index belongs to
which handle, which are set) live in the municipality's database (``vc_status``, :class:`StatusStore`,
``sekisho.credentials.store``).  Person data is never stored here: a credential is built from what the register
releases (with its access record) and handed over.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sekisho.errors import Conflict, InvalidInput, NotFound, Unavailable
from sekisho.jp.catalogue import get_municipality
from sekisho.jp.clock import japan_today
from sekisho.vc import sdjwt, statuslist

VCT = "urn:sekisho:vct:resident:1"
BATCH = 20
MAX_BATCH = 50
VALIDITY = timedelta(days=90)
#: exp is spread over a week so that two credentials of one batch do not share it
EXP_JITTER = 7 * 24 * 3600
STATUS_TTL = 3600
#: the claims a credential holds, each selectively disclosable
CLAIMS = (
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "birth_date",
    "address",
    "prefecture",
    "municipality",
    "age_over_18",
    "age_over_20",
    "age_over_65",
    "resident_since",
)


class ResidentSource(Protocol):
    """The register's public read for a credential: it writes the access record before returning
    (``sekisho.registry.service.RegisterService.credential_items``)."""

    def credential_items(self, handle: str) -> dict[str, Any]: ...


class StatusStore(Protocol):
    """Where the status entries are kept, each method one transaction (``sekisho.credentials.store.SqlState``)."""

    def take(self, handle: str, count: int, *, size: int, at: datetime) -> list[int]: ...

    def revoke(self, handles: Iterable[str]) -> int: ...

    def revoked(self) -> list[int]: ...

    def catch_up(self, read: Callable[[int], list[tuple[int, str, datetime]]]) -> int: ...


class RegisterEvents(Protocol):
    """The register's query for the issuer (``sekisho.registry.events.CredentialEvents``): its spelling of a
    handle, and the events after a position that make a person's credentials untrue (death, the move's
    completion, a move within, a correction, a closure) as ``(event id, handle, recorded at)``, oldest first."""

    def canonical(self, handle: str) -> str: ...

    def revoking_since(self, after: int) -> list[tuple[int, str, datetime]]: ...


def issuer_id(base_url: str, municipality: str) -> str:
    return f"{base_url.rstrip('/')}/credentials/{municipality}"


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def claims_of(items: Mapping[str, Any], *, today: date) -> dict[str, Any]:
    """The credential's claims from the register's items (pure)."""
    m = get_municipality(str(items["municipality_code"]), field="municipality_code")
    town = get_municipality(m.parent, field="municipality_code") if m.kind == "ward" and m.parent else m
    bd = items["birth_date"]
    claims: dict[str, Any] = {
        "family_name": items["family_name"],
        "given_name": items["given_name"],
        "family_name_kana": items["family_name_kana"],
        "given_name_kana": items["given_name_kana"],
        "address": items["address"],
        "prefecture": m.prefecture,
        "municipality": town.name if town is not m else m.name,
        "resident_since": items["resident_since"].isoformat(),
    }
    if getattr(bd, "year", None) and getattr(bd, "month", None) and getattr(bd, "day", None):
        born = date(bd.year, bd.month, bd.day)
        claims["birth_date"] = born.isoformat()
        for years in (18, 20, 65):
            claims[f"age_over_{years}"] = born <= _years_before(today, years)
    # a partly unknown birth date (register practice for some foreign residents) gives no birth or age claim
    return claims


@dataclass(frozen=True, slots=True)
class Issued:
    credentials: tuple[str, ...]


class Issuer:
    """One municipality's credential issuer."""

    def __init__(
        self,
        directory: Path,
        *,
        municipality: str,
        key: ec.EllipticCurvePrivateKey,
        chain: Sequence[x509.Certificate],
        base_url: str,
        state: StatusStore,
        events: RegisterEvents | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        today: Callable[[], date] = japan_today,
        status_size: int = statuslist.SIZE,
    ) -> None:
        self.directory = directory
        self.municipality = municipality
        self.key = key
        self.chain = list(chain)
        self.base_url = base_url.rstrip("/")
        self.iss = issuer_id(base_url, municipality)
        self.status_uri = f"{self.iss}/status"
        self.clock = clock
        self.today = today
        self.status_size = status_size
        self.state = state
        self.events = events
        self._x5c = [sdjwt.b64std(c) for c in self.chain]
        self._signer = sdjwt.issuer_signer(key, self._x5c)  # the protected header is encoded once

    # --- set-up -------------------------------------------------------------------------------------------

    @staticmethod
    def directory_of(root: Path) -> Path:
        return root / "credentials"

    @classmethod
    def create(
        cls,
        root: Path,
        *,
        municipality: str,
        certify: Callable[[ec.EllipticCurvePublicKey], Sequence[x509.Certificate]],
        passphrase: bytes,
        base_url: str,
        **kwargs: Any,
    ) -> Issuer:
        """A new issuer key, certified by ``certify`` (the prefectural CA, ``pki.issuance.certify_credential_issuer``)
        and stored 0600."""
        directory = cls.directory_of(root)
        if (directory / "meta.json").exists():
            # a second key would reset the status list: every credential issued so far could no longer be revoked
            raise Conflict("this municipality already has a credential issuer", field="issuer")
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        chain = list(certify(key.public_key()))
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
        _write(directory / "issuer.key", pem, mode=0o600)
        _write(directory / "chain.pem", b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
        _write(directory / "meta.json", json.dumps({"municipality": municipality, "base_url": base_url}).encode())
        return cls(directory, municipality=municipality, key=key, chain=chain, base_url=base_url, **kwargs)

    @classmethod
    def open(cls, root: Path, *, passphrase: bytes, **kwargs: Any) -> Issuer:
        directory = cls.directory_of(root)
        try:
            meta = json.loads((directory / "meta.json").read_text())
            key = serialization.load_pem_private_key((directory / "issuer.key").read_bytes(), passphrase)
            chain = x509.load_pem_x509_certificates((directory / "chain.pem").read_bytes())
        except FileNotFoundError:
            raise NotFound("no credential issuer here: run `sekisho credentials init`", field="issuer") from None
        except (ValueError, TypeError):
            raise Unavailable("the issuer key does not open (passphrase or file)", field="issuer") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise Unavailable("the issuer key is not ECDSA", field="issuer")
        return cls(
            directory, municipality=meta["municipality"], key=key, chain=chain, base_url=meta["base_url"], **kwargs
        )

    # --- issuance -----------------------------------------------------------------------------------------

    def issue_batch(
        self,
        *,
        handle: str,
        source: ResidentSource,
        holder_keys: Sequence[ec.EllipticCurvePublicKey],
    ) -> Issued:
        """One credential per holder key: distinct salts, digests, signatures, status indices and expiry; the
        register's read (with its access record) happens once, first."""
        if not 1 <= len(holder_keys) <= MAX_BATCH:
            raise InvalidInput(f"a batch holds 1 to {MAX_BATCH} proofs", field="proofs")
        jwks = [sdjwt.public_jwk(k) for k in holder_keys]
        if len({(j["x"], j["y"]) for j in jwks}) != len(holder_keys):
            raise InvalidInput("every credential needs its own holder key", field="proofs")
        self.catch_up()  # the register's events so far first: they concern credentials issued before them
        items = source.credential_items(handle)  # the access record is written before anything leaves
        claims = claims_of(items, today=self.today())
        at = self.clock()
        now = int(at.timestamp())
        indices = self.state.take(self.canonical(handle), len(jwks), size=self.status_size, at=at)
        plains = [
            {
                "iss": self.iss,
                "vct": VCT,
                "exp": now + int(VALIDITY.total_seconds()) + secrets.randbelow(EXP_JITTER),
                "cnf": {"jwk": jwk},
                "status": {"status_list": {"idx": idx, "uri": self.status_uri}},
            }
            for jwk, idx in zip(jwks, indices, strict=True)
        ]
        out = sdjwt.issue_many(claims=claims, plains=plains, key=self._signer)
        return Issued(credentials=tuple(out))

    # --- status -------------------------------------------------------------------------------------------

    def revoke_holder(self, handle: str) -> int:
        """Set every status bit of the person's credentials (a lost card, `sekisho credentials revoke`); returns
        how many credentials the person holds."""
        return self.state.revoke([self.canonical(handle)])

    def catch_up(self) -> int:
        """Apply the register's events since the last look (death, move, correction): their credentials'
        bits are set.  Called before every status list is signed, so a list never lags the register."""
        if self.events is None:
            return 0
        return self.state.catch_up(self.events.revoking_since)

    def canonical(self, handle: str) -> str:
        """The register's spelling of a handle (bad input if it is none)."""
        return self.events.canonical(handle) if self.events is not None else handle

    def status_list_token(self) -> str:
        self.catch_up()
        revoked = self.state.revoked()
        return statuslist.token(
            uri=self.status_uri,
            issuer=self.iss,
            revoked=revoked,
            key=self.key,
            x5c_b64=self._x5c,
            iat=int(self.clock().timestamp()),
            ttl=STATUS_TTL,
            size=self.status_size,
        )


def _write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Atomic replace, created with its final mode (a key is never readable by others, even for an instant)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
