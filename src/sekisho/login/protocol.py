"""The unlinkable card login, pure (no storage, no HTTP): what the card computes and what a relying party checks.

1. The relying party (RP) sends a challenge: its identifier ``rp`` and 32 random bytes.
2. The card answers with
   - its **pseudonym for that RP**, ``nym = sk·H(rp)`` on ristretto255 (RFC 9496), where ``sk`` is the card's
     login secret and ``H`` is the hash-to-group map (RFC 9496 §4.3.4) of a domain-separated SHA-512 of ``rp``.
     This is the German eID's *restricted identification* (BSI TR-03110-2 §3.6: a sector-specific identifier
     from the chip's secret and the sector) with a hash-derived sector element instead of a sector public key,
     as in the OPRF evaluation ``sk·H(x)`` of RFC 9497 §3.3.1: stable for one RP, and under DDH unrelated
     across RPs (nobody knows the discrete log of one ``H(rp)`` to another);
   - a **Schnorr proof of knowledge** of ``sk`` with base ``H(rp)`` (RFC 8235 §3.3, non-interactive through
     Fiat–Shamir over the challenge): whoever learns a pseudonym cannot log in with it;
   - a **validity proof**: an AnonCreds presentation (``sekisho.credentials.anon``) of the card's credential from
     its prefecture that proves non-revocation against the prefecture's newest status list, which must be of the
     challenge's day (the prefecture revokes expired credentials in its daily sweep), and reveals nothing (or the
     prefecture, if the resident chooses).  Its nonce is derived from the challenge and
     the pseudonym, so it answers this one login only.
3. The RP checks the three with only public data: the prefecture's published credential definition and status
   list, fetched like everybody else.  No central party is asked anything about this login.

Every value the RP receives is fresh randomness except the pseudonym, which only this RP sees.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import rbcl

from sekisho.credentials import anon
from sekisho.errors import InvalidInput, Refused

RP_CONTEXT = b"sekisho-login-rp-v1\x00"
PROOF_CONTEXT = b"sekisho-login-pok-v1\x00"
MAX_RP = 255

_scalarmult = rbcl.crypto_scalarmult_ristretto255
_from_hash = rbcl.crypto_core_ristretto255_from_hash
_reduce = rbcl.crypto_core_ristretto255_scalar_reduce
_scalar_mul = rbcl.crypto_core_ristretto255_scalar_mul
_scalar_add = rbcl.crypto_core_ristretto255_scalar_add
_scalar_random = rbcl.crypto_core_ristretto255_scalar_random
_point_sub = rbcl.crypto_core_ristretto255_sub
_is_valid = rbcl.crypto_core_ristretto255_is_valid_point

ORDER = 2**252 + 27742317777372353535851937790883648493


class LoginRefused(Refused):
    """A login the RP refuses (exit 3 / 403); the message names the rule."""


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: object, *, field: str, size: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise InvalidInput("not base64url", field=field)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise InvalidInput("not base64url", field=field) from None
    if size is not None and len(raw) != size:
        raise InvalidInput(f"must be {size} bytes", field=field)
    return raw


def check_rp(rp: str) -> str:
    if not rp or len(rp) > MAX_RP or not rp.isprintable():
        raise InvalidInput(f"a relying party is 1..{MAX_RP} printable characters", field="rp")
    return rp


def rp_element(rp: str) -> bytes:
    """``H(rp)``: the RP's sector element, an element nobody knows a discrete log of."""
    return bytes(_from_hash(hashlib.sha512(RP_CONTEXT + check_rp(rp).encode()).digest()))


def _challenge_scalar(base: bytes, nym: bytes, commitment: bytes, rp: str, nonce: bytes) -> bytes:
    h = hashlib.sha512()
    for part in (PROOF_CONTEXT, base, nym, commitment, rp.encode(), nonce):
        h.update(len(part).to_bytes(4, "big") + part)
    return bytes(_reduce(h.digest()))


class LoginKey:
    """The card's login secret ``sk`` (a ristretto255 scalar).  It never prints and never leaves: the card
    computes pseudonyms and proofs with it."""

    __slots__ = ("_sk",)

    def __init__(self, sk: bytes) -> None:
        if len(sk) != 32 or int.from_bytes(sk, "little") >= ORDER or not any(sk):
            raise InvalidInput("a login key is a canonical non-zero scalar", field="login_key")
        self._sk = sk

    @classmethod
    def generate(cls) -> LoginKey:
        return cls(bytes(_scalar_random()))

    def secret_bytes(self) -> bytes:
        """For sealing into the card's file only."""
        return self._sk

    def __repr__(self) -> str:
        return "LoginKey(…)"

    def pseudonym(self, rp: str) -> bytes:
        return bytes(_scalarmult(self._sk, rp_element(rp)))

    def prove(self, rp: str, nonce: bytes) -> tuple[bytes, bytes, bytes]:
        """``(nym, c, s)``: the pseudonym and a Schnorr proof (RFC 8235 §3.3) that the card knows its log to
        the base ``H(rp)``, bound to the challenge ``nonce``."""
        base = rp_element(rp)
        nym = bytes(_scalarmult(self._sk, base))
        k = bytes(_scalar_random())
        commitment = bytes(_scalarmult(k, base))
        c = _challenge_scalar(base, nym, commitment, rp, nonce)
        s = bytes(_scalar_add(k, _scalar_mul(c, self._sk)))
        return nym, c, s


def check_proof(rp: str, nonce: bytes, nym: bytes, c: bytes, s: bytes) -> None:
    """The RP's check of the proof of knowledge: ``R = s·H(rp) − c·nym`` and ``c = Hash(…, R, …)``."""
    if not _is_valid(nym):
        raise LoginRefused("the pseudonym is not a group element", field="pseudonym")
    for name, v in (("c", c), ("s", s)):
        if int.from_bytes(v, "little") >= ORDER:
            raise LoginRefused("a proof scalar is not canonical", field=f"proof.{name}")
    base = rp_element(rp)
    try:
        commitment = bytes(_point_sub(_scalarmult(s, base), _scalarmult(c, nym)))
    except Exception:  # libsodium refuses a zero result: no valid proof gives one
        raise LoginRefused("the proof of the pseudonym does not verify", field="proof") from None
    if not hmac.compare_digest(_challenge_scalar(base, nym, commitment, rp, nonce), c):
        raise LoginRefused("the proof of the pseudonym does not verify", field="proof")


# ---------------------------------------------------------------------------------------------------------------
# messages


@dataclass(frozen=True, slots=True)
class Challenge:
    rp: str
    nonce: str  # base64url of 32 random bytes
    today: date  # the RP's date in Japan: "not expired" is proved against it
    at: int  # Unix seconds: non-revocation is proved at the newest list no later than this

    @classmethod
    def new(cls, *, rp: str, today: date, at: int) -> Challenge:
        return cls(rp=check_rp(rp), nonce=b64u(secrets.token_bytes(32)), today=today, at=at)

    def to_json(self) -> dict[str, Any]:
        return {"rp": self.rp, "nonce": self.nonce, "today": self.today.isoformat(), "at": self.at}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Challenge:
        try:
            return cls(
                rp=check_rp(str(data["rp"])),
                nonce=b64u(unb64u(data["nonce"], field="nonce", size=32)),
                today=date.fromisoformat(str(data["today"])),
                at=int(data["at"]),
            )
        except (KeyError, ValueError, TypeError):
            raise InvalidInput("not a login challenge", field="challenge") from None


def validity_request(
    challenge: Challenge, nym: bytes, accepted: Iterable[str], *, reveal_prefecture: bool = False
) -> dict[str, Any]:
    """The AnonCreds request a login answers: not revoked, bound to this challenge and pseudonym.  Expiry is not
    a predicate here: the prefecture revokes a credential on its expiry day (``AnonIssuer.sweep``) and the relying
    party accepts only a status list of the challenge's day (:func:`verify`), which costs a login no range proof
    (the largest part of an AnonCreds proof's time, docs/benchmarks.md)."""
    return anon.presentation_request(
        cred_def_ids=accepted,
        today=challenge.today,
        at=challenge.at,
        reveal_prefecture=reveal_prefecture,
        nonce=anon.nonce_for(challenge.rp.encode(), unb64u(challenge.nonce, field="nonce"), nym),
        name="sekisho-login",
        prove_expiry=False,
    )


#: Unix seconds of midnight in Japan on a day: the oldest status list a login on that day accepts
day_start = anon.day_start


def answer(
    challenge: Challenge,
    key: LoginKey,
    held: anon.HeldCredential,
    holder: anon.AnonHolder,
    *,
    reveal_prefecture: bool = False,
) -> dict[str, Any]:
    """The card's side: pseudonym, proof of knowledge, validity presentation.  Nothing else."""
    nonce = unb64u(challenge.nonce, field="nonce", size=32)
    nym, c, s = key.prove(challenge.rp, nonce)
    request = validity_request(challenge, nym, [held.public.cred_def_id], reveal_prefecture=reveal_prefecture)
    return {
        "pseudonym": b64u(nym),
        "proof": {"c": b64u(c), "s": b64u(s)},
        "validity": anon.present(held, holder, request),
    }


def answer_pseudonym_only(challenge: Challenge, key: LoginKey) -> dict[str, Any]:
    """The pseudonym and its proof without the validity presentation: the cheap half of :func:`answer`, for
    tests and benchmarks that look at the pseudonym path over many residents."""
    nym, c, s = key.prove(challenge.rp, unb64u(challenge.nonce, field="nonce", size=32))
    return {"pseudonym": b64u(nym), "proof": {"c": b64u(c), "s": b64u(s)}}


@dataclass(frozen=True, slots=True)
class LoggedIn:
    #: the RP's pseudonym of the card holder: base64url, stable for this RP only
    pseudonym: str
    #: what the resident chose to disclose (``{"prefecture": "21"}``), nothing otherwise
    disclosed: Mapping[str, str]


def check_pseudonym(challenge: Challenge, response: Mapping[str, Any]) -> str:
    try:
        proof = response["proof"]
        nym = unb64u(response["pseudonym"], field="pseudonym", size=32)
        c = unb64u(proof["c"], field="proof.c", size=32)
        s = unb64u(proof["s"], field="proof.s", size=32)
    except (KeyError, TypeError):
        raise InvalidInput("not a login response", field="response") from None
    check_proof(challenge.rp, unb64u(challenge.nonce, field="nonce", size=32), nym, c, s)
    return b64u(nym)


def verify(
    challenge: Challenge,
    response: Mapping[str, Any],
    issuers: Iterable[anon.PublicIssuerData],
    *,
    allow_prefecture: bool = True,
) -> LoggedIn:
    """The RP's side, with the challenge it issued (the caller keeps it and lets it answer once) and the
    prefectures' published data.  Refuses a forged pseudonym, an expired or revoked card, a validity proof made
    for another login, and anything beyond pseudonym, proof and validity."""
    if set(response) - {"pseudonym", "proof", "validity"}:
        raise LoginRefused("the response carries more than a login needs", field="response")
    nym = check_pseudonym(challenge, response)
    validity = response.get("validity")
    if not isinstance(validity, Mapping):
        raise LoginRefused("a login needs a validity proof", field="validity")
    published = list(issuers)
    requested_proof = validity.get("requested_proof")
    shown = requested_proof.get("revealed_attrs", {}) if isinstance(requested_proof, Mapping) else {}
    if not isinstance(shown, Mapping):
        raise LoginRefused("the validity proof is malformed", field="validity")
    request = validity_request(
        challenge,
        unb64u(nym, field="pseudonym"),
        [p.cred_def_id for p in published],
        reveal_prefecture=allow_prefecture and "prefecture" in shown,
    )
    try:
        # expiry is enforced by the day's sweep: anon.verify's day rule refuses a list older than the challenge's day
        verified = anon.verify(validity, request, published, today=challenge.today)
    except anon.PresentationRejected as e:
        raise LoginRefused(f"the card's validity proof is refused: {e}", field="validity") from None
    return LoggedIn(pseudonym=nym, disclosed=dict(verified.revealed))
