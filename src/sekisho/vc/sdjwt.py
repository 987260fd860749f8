"""SD-JWT (RFC 9901) compositions on joserfc's JWS and hashlib's SHA-256: disclosures, digests, the issuer-signed
JWT, the holder's selection and its Key Binding JWT.  Nothing here implements a primitive.

Only object properties are selectively disclosable here (RFC 9901 §4.2.1); array elements are not used by the
credential profile, and a parser refuses them (``field=disclosure``) instead of guessing.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from sekisho.errors import IntegrityError, InvalidInput

ALG = "ES256"  # RFC 9901 §4.1.1: the only algorithm accepted by this profile; "none" never
SD_ALG = "sha-256"
TYP_VC = "dc+sd-jwt"  # SD-JWT VC §3.2.1
TYP_KB = "kb+jwt"  # RFC 9901 §4.3
DECOYS = 4  # RFC 9901 §4.2.5: decoy digests hide how many claims the credential holds


def _registry() -> jws.JWSRegistry:
    # an x5c chain of two certificates makes the header ~2.5 KB; joserfc's default bound is 512 bytes
    reg = jws.JWSRegistry(algorithms=[ALG])
    reg.max_header_length = 8192
    return reg


_REGISTRY = _registry()


class VerificationFailed(IntegrityError):
    """A credential or presentation failed a check; ``field`` names the check (never a value)."""

    kind = "verification-failed"


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64u(data: bytes) -> str:
    # binascii directly: base64.urlsafe_b64encode's two wrapper calls cost more than the encoding, and a
    # credential takes ~45 of these (disclosures, digests, salts, payload, signature)
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def unb64u(text: str, *, field: str) -> bytes:
    if not isinstance(text, str) or not _B64U.fullmatch(text):
        raise VerificationFailed("not base64url", field=field)
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise VerificationFailed("not base64url", field=field) from None


_B64U = re.compile(r"[A-Za-z0-9_-]*")


def b64std(cert: x509.Certificate) -> str:
    """An x5c entry: standard base64 of the DER (RFC 7515 §4.1.6)."""
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def new_salt() -> str:
    return new_salts(1)[0]


#: a salt's bytes: 144 bits (RFC 9901 §4.2.1 asks at least 128), a multiple of 3 so that base64url of many salts
#: at once is the salts' own encodings side by side (24 characters each, no padding)
SALT_BYTES = 18


#: base64url characters of one disclosure's head '["<salt>"' (27 bytes: whole base64 groups, see issue_many)
_HEAD = (2 + SALT_BYTES * 4 // 3 + 1) * 4 // 3
if (2 + SALT_BYTES * 4 // 3 + 1) % 3:  # pragma: no cover (a constant's property, checked at import)
    raise RuntimeError("a disclosure's head must be whole base64 groups")


def new_salts(n: int) -> list[str]:
    """``n`` salts from one read of the OS's CSPRNG (a read per salt cost more than the signature), encoded in one
    call."""
    text = b64u(secrets.token_bytes(SALT_BYTES * n))
    width = SALT_BYTES * 4 // 3
    return [text[i : i + width] for i in range(0, width * n, width)]


def disclosure(name: str, value: Any, *, salt: str | None = None) -> str:
    """RFC 9901 §4.2.1: base64url of the UTF-8 JSON array [salt, name, value]."""
    return b64u(_JSON([salt or new_salt(), name, value]).encode("utf-8"))


def digest(text: str) -> str:
    """RFC 9901 §4.2.3: base64url(SHA-256(ASCII(text)))."""
    return b64u(hashlib.sha256(text.encode("ascii")).digest())


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """RFC 7518 §6.2.1: a P-256 public key as a JWK (encoding only; joserfc's import costs ~0.1 ms a key)."""
    if not isinstance(key.curve, ec.SECP256R1):
        raise InvalidInput("holder keys are P-256", field="jwk")
    n = key.public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}


#: one encoder for every JSON body (``json.dumps`` with arguments builds a new encoder per call)
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ECDSA = ec.ECDSA(hashes.SHA256())


class Signer:
    """ES256 compact JWS (RFC 7515 §7.1 with RFC 7518 §3.4) under one protected header, encoded once.

    The signature is OpenSSL's ECDSA through ``cryptography``; what is written here is only the JWS encoding —
    base64url of the header and the payload, and the DER signature re-encoded as the fixed-width ``R || S`` —
    because an issuer signs thousands of payloads under the same ~2.5 KB header (its ``x5c``), and re-encoding
    header and key for each through joserfc cost more than the signature.  Every JWS made here is checked by
    joserfc and by the reference ``sd-jwt`` library in the tests (tests/credentials/test_interop.py);
    verification of what others send stays with joserfc (:func:`verify_jws`)."""

    __slots__ = ("_head", "key")

    def __init__(self, key: ec.EllipticCurvePrivateKey, header: Mapping[str, Any]) -> None:
        if header.get("alg") != ALG or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("this signer makes ES256 (P-256) signatures only")
        self.key = key
        self._head = b64u(_JSON(dict(header)).encode("utf-8"))

    def sign(self, payload: Mapping[str, Any]) -> str:
        signing_input = f"{self._head}.{b64u(_JSON(dict(payload)).encode('utf-8'))}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode("ascii"), _ECDSA))
        return f"{signing_input}.{b64u(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


#: a verification key as joserfc holds it; prepared once (:func:`jose_key`), it is not converted again per JWS
VerifyingKey = ec.EllipticCurvePublicKey | ECKey


def jose_key(key: ec.EllipticCurvePublicKey) -> ECKey:
    """joserfc's key object with its JWK form computed now: joserfc checks every JWS's key against that form and
    caches it on the object, so a certified issuer's key prepared once is not re-encoded per verification."""
    prepared = ECKey.import_key(key)
    _ = prepared.dict_value
    return prepared


def sign(header: Mapping[str, Any], payload: Mapping[str, Any], key: ec.EllipticCurvePrivateKey) -> str:
    return Signer(key, header).sign(payload)


def issue(
    *,
    claims: Mapping[str, Any],
    plain: Mapping[str, Any],
    key: ec.EllipticCurvePrivateKey | Signer,
    x5c: Sequence[x509.Certificate | str] = (),
) -> str:
    """An SD-JWT: every claim of ``claims`` selectively disclosable, ``plain`` always visible (iss, vct, exp, cnf,
    status).  Digests are sorted (RFC 9901 §4.2.4.1) so that their order says nothing about the claims.  ``key``
    is the issuer's key with its ``x5c``, or the issuer's :func:`issuer_signer` (made once per issuer)."""
    return issue_many(claims=claims, plains=[plain], key=key, x5c=x5c)[0]


def issue_many(
    *,
    claims: Mapping[str, Any],
    plains: Sequence[Mapping[str, Any]],
    key: ec.EllipticCurvePrivateKey | Signer,
    x5c: Sequence[x509.Certificate | str] = (),
) -> list[str]:
    """One SD-JWT per ``plains`` entry, all of the same claims (a batch): every credential has its own salts,
    hence its own disclosures and digests.  The claims' names and values are JSON-encoded once for the batch;
    a disclosure is then ``[salt, name, value]`` with the salt (base64url, nothing to escape) put in front."""
    signer = key if isinstance(key, Signer) else issuer_signer(key, x5c)
    # a disclosure is base64url('["<salt>",<name>,<value>]'). '["<salt>"' is 27 bytes, whole base64 groups, so the
    # encoding of the whole is the encoding of that head followed by the encoding of the rest: the rest is the
    # same for every credential of the batch (encoded once), and the heads of one credential are encoded in one
    # call, 36 characters each
    tails = [b64u(f",{_JSON(name)},{_JSON(value)}]".encode()) for name, value in claims.items()]
    n = len(tails)
    sha256 = hashlib.sha256
    out = []
    for plain in plains:
        salts = new_salts(n + DECOYS)
        heads = b64u("".join([f'["{salt}"' for salt in salts[:n]]).encode("ascii"))
        disclosures = [heads[i * _HEAD : (i + 1) * _HEAD] + tail for i, tail in enumerate(tails)]
        # decoys (RFC 9901 §4.2.5): digests over random salts, indistinguishable from the others.  A digest and a
        # zero byte are 33 bytes, whole base64 groups whose first 43 characters are the digest's own base64url:
        # all of a credential's digests are encoded in one call
        blob = b"\0".join([sha256(d.encode("ascii")).digest() for d in (*disclosures, *salts[n:])]) + b"\0"
        text = b64u(blob)
        digests = [text[i : i + 43] for i in range(0, len(text), 44)]
        payload = {**plain, "_sd": sorted(digests), "_sd_alg": SD_ALG}
        out.append("~".join([signer.sign(payload), *disclosures]) + "~")
    return out


def issuer_signer(key: ec.EllipticCurvePrivateKey, x5c: Sequence[x509.Certificate | str]) -> Signer:
    chain = [c if isinstance(c, str) else b64std(c) for c in x5c]
    return Signer(key, {"alg": ALG, "typ": TYP_VC, "x5c": chain})


@dataclass(frozen=True, slots=True)
class Parts:
    jwt: str
    disclosures: tuple[str, ...]
    kb_jwt: str | None  # None: the SD-JWT ends with "~" (no key binding)

    def without_kb(self) -> str:
        """The SD-JWT the KB-JWT's sd_hash covers (RFC 9901 §4.3.1): issuer JWT, disclosures, each followed by ~."""
        return "~".join([self.jwt, *self.disclosures]) + "~"


def split(text: str) -> Parts:
    """RFC 9901 §4: ``<JWT>~<D1>~…~<Dn>~[<KB-JWT>]``."""
    if not isinstance(text, str) or "~" not in text:
        raise VerificationFailed("not an SD-JWT (compact serialisation with ~)", field="presentation")
    pieces = text.strip().split("~")
    jwt, *middle, last = pieces
    if any(not p for p in middle) or not jwt:
        raise VerificationFailed("empty component", field="presentation")
    return Parts(jwt=jwt, disclosures=tuple(middle), kb_jwt=last or None)


def sd_hash(parts: Parts) -> str:
    return digest(parts.without_kb())


def decode_disclosure(text: str) -> tuple[str, str, Any]:
    raw = unb64u(text, field="disclosure")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise VerificationFailed("not UTF-8 JSON", field="disclosure") from None
    if not isinstance(value, list) or len(value) != 3 or not all(isinstance(v, str) for v in value[:2]):
        raise VerificationFailed("must be [salt, name, value]", field="disclosure")
    salt, name, claim = value
    if name in ("_sd", "...", "_sd_alg"):
        raise VerificationFailed("claim name is reserved", field="disclosure")
    return salt, name, claim


def unverified_header(jwt: str, *, field: str) -> Mapping[str, Any]:
    """A JWS's protected header before its signature is checked (read-only: it is shared, see below)."""
    header = _header(jwt.split(".")[0])
    if header is None:
        raise VerificationFailed("header is not a JSON object", field=field)
    return header


@functools.lru_cache(maxsize=1024)
def _header(segment: str) -> Mapping[str, Any] | None:
    """Parsed once per distinct header: all credentials of an issuer carry the same ~2.5 KB one (its ``x5c``), and
    a verifier reads it on every presentation."""
    if not _B64U.fullmatch(segment):
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        return None
    return MappingProxyType(header) if isinstance(header, dict) else None


def unverified_payload(jwt: str, *, field: str) -> dict[str, Any]:
    """A JWS payload before its signature is checked: only to find which key or nonce to check it against."""
    pieces = jwt.split(".")
    if len(pieces) != 3:
        raise VerificationFailed("not a compact JWS", field=field)
    try:
        payload = json.loads(unb64u(pieces[1], field=field))
    except ValueError:
        raise VerificationFailed("payload is not JSON", field=field) from None
    if not isinstance(payload, dict):
        raise VerificationFailed("payload is not a JSON object", field=field)
    return payload


def verify_jws(jwt: str, key: VerifyingKey, *, typ: str, field: str) -> dict[str, Any]:
    """The payload of a compact JWS signed with ES256 by ``key``, with header ``typ``; anything else refused."""
    header = unverified_header(jwt, field=field)
    if header.get("alg") != ALG:  # "none", HS256 with the public key as secret, …: never
        raise VerificationFailed(f"alg must be {ALG}", field=field)
    if header.get("typ") != typ:
        raise VerificationFailed(f"typ must be {typ}", field=field)
    if "crit" in header:
        raise VerificationFailed("no critical header parameter is understood", field=field)
    try:
        obj = jws.deserialize_compact(jwt, key if isinstance(key, ECKey) else ECKey.import_key(key), registry=_REGISTRY)
    except (JoseError, ValueError):
        raise VerificationFailed("signature does not verify", field=field) from None
    try:
        payload = json.loads(obj.payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise VerificationFailed("payload is not JSON", field=field) from None
    if not isinstance(payload, dict):
        raise VerificationFailed("payload is not a JSON object", field=field)
    return payload


def key_binding_jwt(
    parts: Parts, *, holder_key: ec.EllipticCurvePrivateKey, nonce: str, audience: str, iat: int
) -> str:
    """RFC 9901 §4.3: the KB-JWT over the presented SD-JWT."""
    payload = {"iat": iat, "aud": audience, "nonce": nonce, "sd_hash": sd_hash(parts)}
    return sign({"alg": ALG, "typ": TYP_KB}, payload, holder_key)


def index(issued: str) -> dict[str, str]:
    """Claim name → its disclosure: what a wallet works out once, when it receives the credential, so that a
    presentation need not decode every disclosure again."""
    return {decode_disclosure(d)[1]: d for d in split(issued).disclosures}


def select(issued: str, names: Iterable[str], *, disclosures: Mapping[str, str] | None = None) -> Parts:
    """The holder's choice: keep only the disclosures of ``names`` (each must be in the credential), in the
    credential's order.  ``disclosures`` is the credential's :func:`index`, if the wallet kept it."""
    parts = split(issued)
    by_name = disclosures if disclosures is not None else index(issued)
    wanted = set(names)
    if not wanted <= by_name.keys():
        raise InvalidInput("a requested claim is not in the credential", field="claims")
    chosen = {by_name[n] for n in wanted}
    return Parts(jwt=parts.jwt, disclosures=tuple(d for d in parts.disclosures if d in chosen), kb_jwt=None)


def present(
    issued: str,
    names: Iterable[str],
    *,
    holder_key: ec.EllipticCurvePrivateKey,
    nonce: str,
    audience: str,
    iat: int,
    disclosures: Mapping[str, str] | None = None,
) -> str:
    chosen = select(issued, names, disclosures=disclosures)
    kb = key_binding_jwt(chosen, holder_key=holder_key, nonce=nonce, audience=audience, iat=iat)
    return chosen.without_kb() + kb


# --- OpenID4VCI key proofs (OpenID4VCI 1.0 §F.1, proof type "jwt") -----------------------------------------------

TYP_PROOF = "openid4vci-proof+jwt"


def key_proof(key: ec.EllipticCurvePrivateKey, *, audience: str, nonce: str, iat: int) -> str:
    """The wallet's proof of possession of a holder key, bound to the issuer's c_nonce."""
    header = {"alg": ALG, "typ": TYP_PROOF, "jwk": public_jwk(key.public_key())}
    return sign(header, {"aud": audience, "iat": iat, "nonce": nonce}, key)


def check_key_proof(proof: str, *, audience: str, nonce: str, now: int, window: int = 300) -> ec.EllipticCurvePublicKey:
    """The holder key a proof proves possession of; refuses any other audience, nonce or stale iat."""
    header = unverified_header(proof, field="proof")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or "d" in jwk:
        raise VerificationFailed("proof must carry the public jwk", field="proof")
    try:
        key = ECKey.import_key(jwk).public_key
    except (JoseError, ValueError, TypeError):
        raise VerificationFailed("proof jwk is not an EC key", field="proof") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise VerificationFailed("proof key must be P-256", field="proof")
    payload = verify_jws(proof, key, typ=TYP_PROOF, field="proof")
    if payload.get("aud") != audience or payload.get("nonce") != nonce:
        raise VerificationFailed("proof is for another issuer or nonce", field="proof")
    iat = payload.get("iat")
    if not isinstance(iat, int) or abs(iat - now) > window:
        raise VerificationFailed("proof iat is not current", field="proof")
    return key
