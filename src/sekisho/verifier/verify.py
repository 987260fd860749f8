"""Verify an SD-JWT VC presentation: issuer chain to the verifier's prefectural root through the bridge, the
issuer's signature, expiry, the disclosures against the digests, key binding (nonce, audience, iat, sd_hash) and
the Token Status List — and what RFC 9901 leaves to the caller: expired credentials, a missing KB-JWT, disclosures
no digest references, duplicate digests and disclosures (§7.1).  Every failure is :class:`VerificationFailed`
naming the check (``field``), never a value.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from sekisho.errors import InvalidInput, SekishoError
from sekisho.vc import sdjwt, statuslist
from sekisho.vc.sdjwt import VerificationFailed

#: how far a KB-JWT's iat may lie from now (its nonce is what makes it fresh; this bounds clock skew)
KB_WINDOW = 300
#: status lists kept by this verifier (one per issuer it meets, each until its exp: §13.7 of the draft)
STATUS_CACHE = 256
VCT = "urn:sekisho:vct:resident:1"


class ChainValidator(Protocol):
    """Checks an ``x5c`` chain to the verifier's trust anchor and returns the issuer's municipality code
    (``sekisho.pki.status.CredentialChainValidator``)."""

    def validate(self, chain: Sequence[x509.Certificate], *, at: datetime) -> str: ...


#: fetches a Status List Token by its URI (HTTP in production, the issuer's own function in tests)
StatusFetcher = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Requirement:
    claim: str
    value: Any = True  # `--require age_over_20` asks for true

    @classmethod
    def parse(cls, text: str) -> Requirement:
        name, sep, value = text.partition("=")
        if not name or not name.replace("_", "").isalnum():
            raise InvalidInput("a requirement is CLAIM or CLAIM=VALUE", field="require")
        return cls(name, value if sep else True)


@dataclass(frozen=True, slots=True)
class Verified:
    issuer: str  # the municipality code certified in the issuer certificate
    claims: Mapping[str, Any] = field(default_factory=dict)  # the disclosed claims only


@dataclass
class Verifier:
    chain: ChainValidator
    status: StatusFetcher
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    require_key_binding: bool = True
    #: verified status list tokens: token text -> (municipality, uri, list, exp)
    _lists: dict[str, tuple[str, str, bytes, int]] = field(default_factory=dict, repr=False)

    def verify(self, presentation: str, *, nonce: str, audience: str, require: Sequence[Requirement] = ()) -> Verified:
        try:
            return self._verify(presentation, nonce=nonce, audience=audience, require=require)
        except SekishoError:
            raise
        except (ValueError, TypeError, KeyError, JoseError, binascii.Error):
            # fail closed on anything malformed the checks above did not name
            raise VerificationFailed("malformed presentation", field="presentation") from None

    def _verify(self, presentation: str, *, nonce: str, audience: str, require: Sequence[Requirement]) -> Verified:
        now = self.clock()
        ts = int(now.timestamp())
        parts = sdjwt.split(presentation)
        header = sdjwt.unverified_header(parts.jwt, field="issuer_jwt")
        if header.get("alg") != sdjwt.ALG:
            raise VerificationFailed(f"alg must be {sdjwt.ALG}", field="alg")
        certs, issuer_key = _x5c(header)
        municipality = self._chain(certs, now)
        payload = sdjwt.verify_jws(parts.jwt, issuer_key, typ=sdjwt.TYP_VC, field="issuer_jwt")
        if payload.get("vct") != VCT:
            raise VerificationFailed("unknown credential type", field="vct")
        if not str(payload.get("iss", "")).endswith(f"/credentials/{municipality}"):
            raise VerificationFailed("iss is not the certified issuer", field="iss")
        exp = payload.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise VerificationFailed("the credential has no expiry", field="exp")
        if exp <= ts:
            raise VerificationFailed("the credential has expired", field="exp")
        nbf = payload.get("nbf")
        if isinstance(nbf, int) and nbf > ts + KB_WINDOW:
            raise VerificationFailed("the credential is not valid yet", field="nbf")
        claims = _disclosed(payload, parts.disclosures)
        self._key_binding(payload, parts, nonce=nonce, audience=audience, now=ts)
        self._status(payload, now=ts, municipality=municipality)
        for req in require:
            if req.claim not in claims:
                raise VerificationFailed(f"required claim {req.claim} not disclosed", field="require")
            if claims[req.claim] != req.value:
                raise VerificationFailed(f"required claim {req.claim} does not match", field="require")
        return Verified(issuer=municipality, claims=claims)

    def _chain(self, certs: Sequence[x509.Certificate], now: datetime) -> str:
        try:
            return self.chain.validate(certs, at=now)
        except VerificationFailed:
            raise
        except SekishoError as exc:
            # the PKI's own reason (untrusted, expired, revoked, wrong policy) without any subject
            raise VerificationFailed(f"issuer chain: {exc.message}", field="x5c") from None

    def _key_binding(
        self, payload: Mapping[str, Any], parts: sdjwt.Parts, *, nonce: str, audience: str, now: int
    ) -> None:
        if parts.kb_jwt is None:
            if self.require_key_binding:
                raise VerificationFailed("key binding is required and the KB-JWT is missing", field="kb_jwt")
            return
        cnf = payload.get("cnf")
        jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
        if not isinstance(jwk, dict):
            raise VerificationFailed("the credential names no holder key", field="cnf")
        key = ECKey.import_key(jwk).public_key
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise VerificationFailed("holder key is not ECDSA", field="cnf")
        kb = sdjwt.verify_jws(parts.kb_jwt, key, typ=sdjwt.TYP_KB, field="kb_jwt")
        if kb.get("nonce") != nonce:
            raise VerificationFailed("nonce does not match", field="nonce")
        if kb.get("aud") != audience:
            raise VerificationFailed("audience does not match", field="aud")
        iat = kb.get("iat")
        if not isinstance(iat, int) or abs(iat - now) > KB_WINDOW:
            raise VerificationFailed("KB-JWT iat is not current", field="iat")
        if kb.get("sd_hash") != sdjwt.sd_hash(parts):
            raise VerificationFailed("sd_hash does not match the presented SD-JWT", field="sd_hash")

    def _status(self, payload: Mapping[str, Any], *, now: int, municipality: str) -> None:
        ref = payload.get("status")
        sl = ref.get("status_list") if isinstance(ref, dict) else None
        if not isinstance(sl, dict) or not isinstance(sl.get("idx"), int) or not isinstance(sl.get("uri"), str):
            raise VerificationFailed("the credential has no status reference", field="status")
        if sl["uri"] != f"{payload['iss']}/status":
            raise VerificationFailed("status list is not the issuer's", field="status")
        try:
            token = self.status(sl["uri"])
        except SekishoError as exc:
            raise VerificationFailed(f"status list unavailable: {exc.kind}", field="status") from None
        kept = self._lists.get(token)
        if kept is None or kept[3] <= now:
            header = sdjwt.unverified_header(token, field="status_list")
            certs, key = _x5c(header)
            signer = self._chain(certs, datetime.fromtimestamp(now, UTC))
            raw, exp = statuslist.verify_token(token, key, uri=sl["uri"], now=now)
            kept = (signer, sl["uri"], raw, exp)
            if len(self._lists) >= STATUS_CACHE:
                self._lists.clear()
            self._lists[token] = kept
        signer, uri, raw, _ = kept
        if signer != municipality:
            raise VerificationFailed("status list signed by another issuer", field="status_list")
        if uri != sl["uri"]:
            raise VerificationFailed("token is for another list", field="status_list")
        if statuslist.status_at(raw, sl["idx"]) != 0:
            raise VerificationFailed("the credential is revoked", field="status")


def _x5c(header: Mapping[str, Any]) -> tuple[tuple[x509.Certificate, ...], ECKey]:
    """The certificates of ``x5c`` and the leaf's key, prepared for joserfc.  Parsed once per chain: every
    credential of an issuer carries the same one (validating it is still the chain validator's, every time)."""
    chain = header.get("x5c")
    if not isinstance(chain, list) or not chain or not all(isinstance(c, str) for c in chain):
        raise VerificationFailed("x5c is missing", field="x5c")
    return _parsed_x5c(tuple(chain))


@functools.lru_cache(maxsize=256)
def _parsed_x5c(chain: tuple[str, ...]) -> tuple[tuple[x509.Certificate, ...], ECKey]:
    try:
        certs = tuple(x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in chain)
    except (ValueError, binascii.Error):
        raise VerificationFailed("x5c is not DER certificates", field="x5c") from None
    return certs, sdjwt.jose_key(statuslist.x5c_leaf_key(certs[0]))


def _disclosed(payload: Mapping[str, Any], disclosures: Sequence[str]) -> dict[str, Any]:
    """RFC 9901 §7.1 steps 3-4, for a flat credential: each disclosure's digest must appear exactly once in
    ``_sd``; no digest twice, no disclosure twice, no claim that is also plain."""
    if payload.get("_sd_alg", "sha-256") != sdjwt.SD_ALG:
        raise VerificationFailed("unsupported _sd_alg", field="_sd_alg")
    digests = payload.get("_sd", [])
    if not isinstance(digests, list) or not all(isinstance(d, str) for d in digests):
        raise VerificationFailed("_sd must be an array of digests", field="_sd")
    if len(set(digests)) != len(digests):
        raise VerificationFailed("a digest appears twice", field="_sd")
    referenced = set(digests)
    seen: set[str] = set()
    claims: dict[str, Any] = {}
    for d in disclosures:
        h = sdjwt.digest(d)
        if h in seen:
            raise VerificationFailed("a disclosure appears twice", field="disclosure")
        seen.add(h)
        if h not in referenced:
            raise VerificationFailed("a disclosure no digest references", field="disclosure")
        _, name, value = sdjwt.decode_disclosure(d)
        if isinstance(value, (dict, list)):
            # every claim of this profile is a scalar: nested or recursive disclosures are refused, not half-read
            raise VerificationFailed("a disclosed value must be a scalar in this profile", field="disclosure")
        if name in claims or name in payload:
            raise VerificationFailed("a claim is disclosed twice", field="disclosure")
        claims[name] = value
    return claims
