"""OpenID4VCI 1.0, pre-authorised code flow, as state the issuer keeps (pure; the HTTP face is ``api.py``):

1. the counter (or the resident portal, after the resident logged in) makes a **credential offer** for a handle:
   a one-time pre-authorised code (10 minutes) and the offer document the wallet scans;
2. the wallet trades the code at the **token endpoint** for an access token (single use);
3. it asks the **nonce endpoint** for a ``c_nonce``;
4. it sends the **credential request** with one key proof per credential (``proofs.jwt``, batch issuance): each
   proof is checked (audience = this issuer, the ``c_nonce``, a fresh P-256 key) and one credential is issued per
   key.  The access token is then spent.

Codes, tokens and nonces are kept in the municipality's database (``vc_secret``, as SHA-256) until spent or
expired, so an offer survives a restart and several worker processes share them; each is spent by one
``DELETE … RETURNING`` (:class:`SecretStore`), so two requests racing with one code cannot both succeed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sekisho.credentials.issuer import BATCH, MAX_BATCH, Issuer, ResidentSource
from sekisho.errors import InvalidInput, Unauthenticated
from sekisho.vc import sdjwt

GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
CONFIGURATION = "sekisho_resident_sd_jwt"
OFFER_TTL = 600
TOKEN_TTL = 300
NONCE_TTL = 300


class SecretStore(Protocol):
    """One-time secrets (``sekisho.credentials.store.SqlState``): ``spend`` returns ``(handle,)`` once, for an
    unexpired secret of that kind, and None for anything else."""

    def put(self, kind: str, value: str, *, handle: str | None, expires_at: float, now: float) -> None: ...

    def spend(self, kind: str, value: str, *, now: float) -> tuple[str | None] | None: ...


class Flow:
    def __init__(
        self, issuer: Issuer, source: ResidentSource, store: SecretStore, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.issuer = issuer
        self.source = source
        self.store = store
        self.clock = clock

    def metadata(self) -> dict[str, Any]:
        iss = self.issuer.iss
        return {
            "credential_issuer": iss,
            "token_endpoint": f"{iss}/token",
            "nonce_endpoint": f"{iss}/nonce",
            "credential_endpoint": f"{iss}/credential",
            "batch_credential_issuance": {"batch_size": MAX_BATCH},
            "credential_configurations_supported": {
                CONFIGURATION: {
                    "format": "dc+sd-jwt",
                    "vct": "urn:sekisho:vct:resident:1",
                    "cryptographic_binding_methods_supported": ["jwk"],
                    "credential_signing_alg_values_supported": [sdjwt.ALG],
                    "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": [sdjwt.ALG]}},
                }
            },
        }

    def offer(self, handle: str) -> dict[str, Any]:
        code = secrets.token_urlsafe(32)
        now = self.clock()
        # a mistyped handle is refused at the counter, not when the wallet comes back
        self.store.put("code", code, handle=self.issuer.canonical(handle), expires_at=now + OFFER_TTL, now=now)
        return {
            "credential_issuer": self.issuer.iss,
            "credential_configuration_ids": [CONFIGURATION],
            "grants": {GRANT: {"pre-authorized_code": code}},
        }

    def token(self, *, grant_type: str, code: str) -> dict[str, Any]:
        if grant_type != GRANT:
            raise InvalidInput("only the pre-authorized_code grant is supported", field="grant_type")
        now = self.clock()
        grant = self.store.spend("code", code, now=now)  # single use
        if grant is None or grant[0] is None:
            raise Unauthenticated("unknown or used pre-authorized code", field="pre-authorized_code")
        token = secrets.token_urlsafe(32)
        self.store.put("token", token, handle=grant[0], expires_at=now + TOKEN_TTL, now=now)
        return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL}

    def nonce(self) -> dict[str, Any]:
        value = secrets.token_urlsafe(24)
        now = self.clock()
        self.store.put("nonce", value, handle=None, expires_at=now + NONCE_TTL, now=now)
        return {"c_nonce": value}

    def credential(self, *, token: str, configuration: str, proofs: Sequence[str]) -> dict[str, Any]:
        if configuration != CONFIGURATION:
            raise InvalidInput("unknown credential_configuration_id", field="credential_configuration_id")
        if not 1 <= len(proofs) <= MAX_BATCH:
            raise InvalidInput(f"send 1 to {MAX_BATCH} proofs (default {BATCH})", field="proofs")
        grant = self.store.spend("token", token, now=self.clock())
        if grant is None or grant[0] is None:
            raise Unauthenticated("unknown, used or expired access token", field="authorization")
        now = int(self.clock())
        # every proof of one request carries the same c_nonce (OpenID4VCI §8.2), which is then spent
        nonces = {sdjwt.unverified_payload(p, field="proof").get("nonce") for p in proofs}
        nonce = nonces.pop() if len(nonces) == 1 else None
        if not isinstance(nonce, str) or self.store.spend("nonce", nonce, now=self.clock()) is None:
            raise Unauthenticated("the proofs' c_nonce is unknown, used or not the same", field="proof")
        keys = [sdjwt.check_key_proof(p, audience=self.issuer.iss, nonce=nonce, now=now) for p in proofs]
        issued = self.issuer.issue_batch(handle=grant[0], source=self.source, holder_keys=keys)
        return {"credentials": [{"credential": c} for c in issued.credentials]}
