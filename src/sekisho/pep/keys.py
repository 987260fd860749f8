"""Key material: the set-up ceremony, the transcryptors' per-domain factors and key shares, domain keys.

Notation (docs/pseudonyms.md has the full account):

- ``y`` the global secret key, ``Y = y·G`` the network's public key.  ``y`` exists only inside
  :func:`ceremony`; what is published is ``Y`` and the *blinded* key ``ỹ = y·(β₁·β₂)⁻¹``, where ``βᵢ`` is
  transcryptor Tᵢ's blinding factor (libpep, ``keys::distribution``: "the global secret keys are blinded
  with one blinding factor per transcryptor").
- Tᵢ holds two 32-byte secrets, ``σᵢ`` (pseudonymisation) and ``ρᵢ`` (rekeying), and derives per domain D
  ``s_{D,i} = H(σᵢ, "pseudonymise", D)`` and ``k_{D,i} = H(ρᵢ, "rekey", D)`` with
  ``H = reduce_ℓ(HMAC-SHA-512(secret, label ‖ 0 ‖ D))`` (RFC 2104; RFC 9496 §4.4 for the reduction).
  The domain's factors are the products ``s_D = s_{D,1}·s_{D,2}`` and ``k_D = k_{D,1}·k_{D,2}``:
  no one ever computes them.
- Tᵢ gives domain D the key share ``κ_{D,i} = k_{D,i}·βᵢ``; D's secret key is
  ``y_D = ỹ·κ_{D,1}·κ_{D,2} = y·k_D`` (the blinding factors cancel; libpep ``client::distributed``), and
  its public key ``Y_D = k_D·Y`` is exactly the key the two rekeys produce.

Separate pseudonymisation and rekey secrets matter: two agencies that pool their decryption keys learn
``k_A/k_B``, which says nothing about ``s_A/s_B``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets as _secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sekisho.config import Home
from sekisho.errors import Conflict, IntegrityError, InvalidInput, NotFound
from sekisho.keyfile import DEFAULT_N, read_key_file, write_key_file
from sekisho.pep.group import Point, Scalar
from sekisho.protocols.conversion import REGISTRY_DOMAIN, check_domain

NETWORK_FILE: Final = "network.json"
NETWORK_FORMAT: Final = "sekisho-network/1"
TRANSCRYPTORS: Final = ("t1", "t2")
#: who runs each transcryptor (design.md, "The parties")
OPERATORS: Final = {"t1": "ministry", "t2": "watchdog"}

_FACTOR_DST: Final = b"sekisho/pep/v1/"

RandBytes = Callable[[int], bytes]


def _random_scalar(randbytes: RandBytes) -> Scalar:
    while True:
        s = Scalar.from_wide(randbytes(64))
        if not s.is_zero():
            return s


def derive_factor(secret: bytes, label: str, domain: str) -> Scalar:
    """``reduce_ℓ(HMAC-SHA-512(secret, "sekisho/pep/v1/" ‖ label ‖ 0 ‖ domain))``: a PRF keyed by the
    transcryptor's secret, one independent scalar per (label, domain)."""
    check_domain(domain)
    mac = hmac.new(secret, _FACTOR_DST + label.encode("ascii") + b"\x00" + domain.encode("ascii"), hashlib.sha512)
    s = Scalar.from_wide(mac.digest())
    if s.is_zero():  # probability 2⁻²⁵², but a zero factor would erase pseudonyms: never use one
        raise IntegrityError("derived a zero factor; the transcryptor secret is unusable", field="secret")
    return s


def ed25519_public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name for a signing key: the first 16 bytes of SHA-256 over its raw form, in hex."""
    return hashlib.sha256(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:32]


@dataclass(eq=False, repr=False)
class TranscryptorSecrets:
    """What one transcryptor keeps (in its encrypted key file) and nothing more."""

    party: str
    pseudonymisation_secret: bytes
    rekey_secret: bytes
    blinding: Scalar
    #: Ed25519 seed of the transcryptor's identity key (published in network.json)
    identity_seed: bytes
    _cache: dict[tuple[str, str], Scalar] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.party not in TRANSCRYPTORS:
            raise InvalidInput("must be t1 or t2", field="party")
        for name in ("pseudonymisation_secret", "rekey_secret", "identity_seed"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != 32:
                raise InvalidInput("must be 32 bytes", field=name)
        if self.blinding.is_zero():
            raise InvalidInput("must not be zero", field="blinding")

    def _factor(self, label: str, domain: str) -> Scalar:
        key = (label, domain)
        s = self._cache.get(key)
        if s is None:
            secret = self.pseudonymisation_secret if label == "pseudonymise" else self.rekey_secret
            s = self._cache[key] = derive_factor(secret, label, domain)
        return s

    def pseudonymisation_factor(self, domain: str) -> Scalar:
        """``s_{D,i}``."""
        return self._factor("pseudonymise", domain)

    def rekey_factor(self, domain: str) -> Scalar:
        """``k_{D,i}``."""
        return self._factor("rekey", domain)

    def key_share(self, domain: str) -> Scalar:
        """``κ_{D,i} = k_{D,i}·βᵢ``: hand it only to the operator of domain D, over an authenticated channel."""
        return self.rekey_factor(domain) * self.blinding

    def conversion_factors(self, from_domain: str, to_domain: str) -> tuple[Scalar, Scalar]:
        """This transcryptor's part of a conversion: reshuffle ``s_{to,i}·s_{from,i}⁻¹`` and rekey ``k_{to,i}``.

        Inputs are always encrypted under Y, so the rekey part never depends on the source.  The register's
        polymorphic pseudonyms carry the bare P, so from the registry the reshuffle part is ``s_{to,i}``."""
        s_to = self.pseudonymisation_factor(to_domain)
        if from_domain == REGISTRY_DOMAIN:
            return s_to, self.rekey_factor(to_domain)
        return s_to * self.pseudonymisation_factor(from_domain).invert(), self.rekey_factor(to_domain)

    def identity_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.identity_seed)

    def to_secrets(self) -> dict[str, str]:
        return {
            "party": self.party,
            "pseudonymisation_secret": self.pseudonymisation_secret.hex(),
            "rekey_secret": self.rekey_secret.hex(),
            "blinding": self.blinding.to_bytes().hex(),
            "identity_seed": self.identity_seed.hex(),
        }

    @classmethod
    def from_secrets(cls, data: dict[str, str]) -> TranscryptorSecrets:
        try:
            return cls(
                party=data["party"],
                pseudonymisation_secret=bytes.fromhex(data["pseudonymisation_secret"]),
                rekey_secret=bytes.fromhex(data["rekey_secret"]),
                blinding=Scalar.from_bytes(bytes.fromhex(data["blinding"]), field="blinding"),
                identity_seed=bytes.fromhex(data["identity_seed"]),
            )
        except (KeyError, ValueError):
            raise InvalidInput("is not a transcryptor key file", field="key_file") from None

    def __repr__(self) -> str:
        return f"TranscryptorSecrets(party={self.party!r}, <redacted>)"

    def __getstate__(self) -> dict[str, Any]:  # for process pools (bench/): drop the cache
        return {**self.to_secrets()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        other = TranscryptorSecrets.from_secrets(state)
        self.__dict__.update(other.__dict__)


@dataclass(frozen=True, eq=False, repr=False)
class DomainKey:
    """A domain's ElGamal key pair ``(y_D, Y_D)``: what an agency (or the locator, for R) decrypts with."""

    domain: str
    secret: Scalar
    public: Point

    def __post_init__(self) -> None:
        check_domain(self.domain)
        if Point.base(self.secret) != self.public:
            raise IntegrityError("secret and public key do not match", field="domain_key")

    def to_secrets(self) -> dict[str, str]:
        return {"domain": self.domain, "secret": self.secret.to_bytes().hex()}

    @classmethod
    def from_secrets(cls, data: dict[str, str]) -> DomainKey:
        try:
            secret = Scalar.from_bytes(bytes.fromhex(data["secret"]), field="secret")
            return cls(domain=data["domain"], secret=secret, public=Point.base(secret))
        except (KeyError, ValueError):
            raise InvalidInput("is not a domain key file", field="key_file") from None

    def __repr__(self) -> str:
        return f"DomainKey(domain={self.domain!r}, <redacted>)"


@dataclass(frozen=True)
class NetworkParams:
    """Everything published in ``network.json``: no secret, and nothing any single party could misuse."""

    network_id: str
    created_at: str
    #: Y = y·G
    public_key: Point
    #: ỹ = y·(β₁·β₂)⁻¹ — public; useless without one key share from *each* transcryptor
    blinded_secret_key: Scalar
    #: domain name -> Y_D for the domains whose keys were assembled at set-up (the registry)
    domain_keys: dict[str, Point]
    #: t1/t2 -> their Ed25519 identity keys (hex)
    transcryptors: dict[str, str]
    #: key id -> the grant issuer's Ed25519 public key (hex)
    grant_issuers: dict[str, str]

    def issuer_keys(self) -> dict[str, Ed25519PublicKey]:
        return {kid: Ed25519PublicKey.from_public_bytes(bytes.fromhex(pk)) for kid, pk in self.grant_issuers.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": NETWORK_FORMAT,
            "network_id": self.network_id,
            "created_at": self.created_at,
            "pep": {
                "group": "ristretto255",
                "public_key": self.public_key.to_bytes().hex(),
                "blinded_secret_key": self.blinded_secret_key.to_bytes().hex(),
                "registry_domain": REGISTRY_DOMAIN,
                "domains": {d: {"public_key": k.to_bytes().hex()} for d, k in sorted(self.domain_keys.items())},
            },
            "transcryptors": {
                p: {"operator": OPERATORS[p], "identity_key": k} for p, k in sorted(self.transcryptors.items())
            },
            "grant_issuers": {kid: {"party": "watchdog", "public_key": pk} for kid, pk in self.grant_issuers.items()},
        }

    @classmethod
    def from_json(cls, doc: Any) -> NetworkParams:
        try:
            if doc["format"] != NETWORK_FORMAT:
                raise InvalidInput("is not a Sekisho network file", field="network")
            pep = doc["pep"]
            if pep["group"] != "ristretto255" or pep["registry_domain"] != REGISTRY_DOMAIN:
                raise InvalidInput("uses parameters this version does not know", field="network")
            return cls(
                network_id=str(doc["network_id"]),
                created_at=str(doc["created_at"]),
                public_key=Point.from_bytes(bytes.fromhex(pep["public_key"]), field="network.public_key"),
                blinded_secret_key=Scalar.from_bytes(
                    bytes.fromhex(pep["blinded_secret_key"]), field="network.blinded_secret_key"
                ),
                domain_keys={
                    check_domain(d): Point.from_bytes(bytes.fromhex(v["public_key"]), field=f"network.domains.{d}")
                    for d, v in pep["domains"].items()
                },
                transcryptors={p: str(v["identity_key"]) for p, v in doc["transcryptors"].items()},
                grant_issuers={str(kid): str(v["public_key"]) for kid, v in doc["grant_issuers"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InvalidInput("is not a well-formed Sekisho network file", field="network") from None


def network_path(home_root: Path) -> Path:
    return home_root / NETWORK_FILE


def save_network(home_root: Path, params: NetworkParams) -> Path:
    path = network_path(home_root)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise Conflict("this home already has a network (network.json exists)", field="home") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(params.to_json(), indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return path


def load_network(home_root: Path) -> NetworkParams:
    try:
        doc = json.loads(network_path(home_root).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound("no network here yet (run `sekisho network init`)", field="network") from None
    except ValueError:
        raise InvalidInput("is not a well-formed Sekisho network file", field="network") from None
    return NetworkParams.from_json(doc)


def assemble_domain_key(network: NetworkParams, domain: str, shares: Sequence[Scalar]) -> DomainKey:
    """``y_D = ỹ·κ_{D,1}·κ_{D,2}``: one share from each transcryptor, in any order."""
    check_domain(domain)
    if len(shares) != len(TRANSCRYPTORS):
        raise InvalidInput("needs exactly one key share from each transcryptor", field="shares")
    y = network.blinded_secret_key
    for share in shares:
        if share.is_zero():
            raise InvalidInput("must not be zero", field="shares")
        y = y * share
    key = DomainKey(domain=domain, secret=y, public=Point.base(y))
    expected = network.domain_keys.get(domain)
    if expected is not None and expected != key.public:
        raise IntegrityError("the shares do not give the published key of this domain", field="shares")
    return key


@dataclass(frozen=True, repr=False)
class Ceremony:
    """The output of set-up: one item per party, each to be written to that party's own directory."""

    network: NetworkParams
    transcryptors: dict[str, TranscryptorSecrets]
    registry_key: DomainKey
    grant_issuer: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"Ceremony(network_id={self.network.network_id!r}, <redacted>)"


def ceremony(*, randbytes: RandBytes = _secrets.token_bytes, now: datetime | None = None) -> Ceremony:
    """Set the network up (libpep ``keys::distribution::setup``, for two transcryptors).

    ``y`` and the blinding factors are drawn here; ``y`` leaves only as ``Y`` and ``ỹ``, each ``βᵢ`` only inside
    Tᵢ's secrets.  The registry domain's key is assembled from the two transcryptors' shares exactly as an agency
    would, and checked against the rekeyed public key.  (Python cannot wipe memory: run the ceremony in a
    short-lived process, as ``sekisho network init`` does.)
    """
    y = _random_scalar(randbytes)
    t = {
        party: TranscryptorSecrets(
            party=party,
            pseudonymisation_secret=randbytes(32),
            rekey_secret=randbytes(32),
            blinding=_random_scalar(randbytes),
            identity_seed=randbytes(32),
        )
        for party in TRANSCRYPTORS
    }
    public = Point.base(y)
    blinded = y * (t["t1"].blinding * t["t2"].blinding).invert()
    del y
    issuer = Ed25519PrivateKey.from_private_bytes(randbytes(32))
    issuer_pub = issuer.public_key()
    draft = NetworkParams(
        network_id=randbytes(16).hex(),
        created_at=(now or datetime.now(UTC)).replace(microsecond=0).isoformat(),
        public_key=public,
        blinded_secret_key=blinded,
        domain_keys={},
        transcryptors={p: ed25519_public_hex(s.identity_key().public_key()) for p, s in t.items()},
        grant_issuers={key_id(issuer_pub): ed25519_public_hex(issuer_pub)},
    )
    registry = assemble_domain_key(draft, REGISTRY_DOMAIN, [s.key_share(REGISTRY_DOMAIN) for s in t.values()])
    rekeyed = public
    for s in t.values():
        rekeyed = rekeyed.mul(s.rekey_factor(REGISTRY_DOMAIN))
    if rekeyed != registry.public:  # the shares and the rekey path must agree, or nothing will decrypt
        raise IntegrityError("key shares and rekey factors disagree", field="ceremony")
    network = replace(draft, domain_keys={REGISTRY_DOMAIN: registry.public})
    return Ceremony(network=network, transcryptors=t, registry_key=registry, grant_issuer=issuer)


# --- key files -------------------------------------------------------------------------------------------


def transcryptor_key_path(party_dir: Path) -> Path:
    return party_dir / "transcryptor.key"


def domain_key_path(party_dir: Path, domain: str) -> Path:
    return party_dir / f"domain-{check_domain(domain)}.key"


def save_transcryptor(path: Path, secrets: TranscryptorSecrets, *, passphrase: bytes, n: int = DEFAULT_N) -> None:
    write_key_file(
        path, kind="transcryptor", party=secrets.party, secrets=secrets.to_secrets(), passphrase=passphrase, n=n
    )


def load_transcryptor(path: Path, *, passphrase: bytes, party: str | None = None) -> TranscryptorSecrets:
    """``party``: the transcryptor being opened, when it is not the caller's own input (see read_key_file)."""
    party, data = read_key_file(path, kind="transcryptor", passphrase=passphrase, party=party)
    secrets = TranscryptorSecrets.from_secrets(data)
    if secrets.party != party:
        raise IntegrityError("the file's header and body name different parties", field="key_file")
    return secrets


def save_domain_key(path: Path, key: DomainKey, *, party: str, passphrase: bytes, n: int = DEFAULT_N) -> None:
    write_key_file(path, kind="domain-key", party=party, secrets=key.to_secrets(), passphrase=passphrase, n=n)


def load_domain_key(path: Path, *, passphrase: bytes, party: str | None = None) -> DomainKey:
    _party, data = read_key_file(path, kind="domain-key", passphrase=passphrase, party=party)
    return DomainKey.from_secrets(data)


#: the party that holds the registry domain's key (it decrypts the register's pseudonyms to index them)
REGISTRY_KEY_HOLDER: Final = "locator"


def open_registry_key(home: Home, *, passphrase: bytes) -> DomainKey:
    """The registry domain's key pair, as the locator holds it."""
    return load_domain_key(
        domain_key_path(home.party_dir(REGISTRY_KEY_HOLDER, create=False), REGISTRY_DOMAIN),
        passphrase=passphrase,
        party=REGISTRY_KEY_HOLDER,
    )
