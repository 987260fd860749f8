"""OpenID4VCI 1.0, pre-authorised code flow, as state the issuer keeps (pure; the HTTP face is ``api.py``):

1. the counter (or the resident portal, after the resident logged in) makes a **credential offer** for a handle:
   a one-time pre-authorised code (10 minutes) and the offer document the wallet scans;
2. the wallet trades the code at the **token endpoint** for an access token (single use);
3. it asks the **nonce endpoint** for a ``c_nonce``;
4. it sends the **credential request** with one key proof per credential (``proofs.jwt``, batch issuance): each
   proof is checked (audience = this issuer, the ``c_nonce``, a fresh P-256 key) and one credential is issued per
   key.  The access token is then spent.

Codes, tokens and nonces live in memory for the node's lifetime: an offer that outlives a restart is made again.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sekisho.credentials.issuer import BATCH, MAX_BATCH, Issuer, ResidentSource
from sekisho.errors import InvalidInput, Unauthenticated
from sekisho.vc import sdjwt

GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
CONFIGURATION = "sekisho_resident_sd_jwt"
OFFER_TTL = 600
TOKEN_TTL = 300
NONCE_TTL = 300


@dataclass
class _Grant:
    handle: str
    expires: float


class Flow:
    def __init__(self, issuer: Issuer, source: ResidentSource, *, clock: Callable[[], float] = time.time) -> None:
        self.issuer = issuer
        self.source = source
        self.clock = clock
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, _Grant] = {}
        self._nonces: dict[str, float] = {}
        self._lock = threading.Lock()

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
        with self._lock:
            self._expire()
            self._codes[code] = _Grant(handle, self.clock() + OFFER_TTL)
        return {
            "credential_issuer": self.issuer.iss,
            "credential_configuration_ids": [CONFIGURATION],
            "grants": {GRANT: {"pre-authorized_code": code}},
        }

    def token(self, *, grant_type: str, code: str) -> dict[str, Any]:
        if grant_type != GRANT:
            raise InvalidInput("only the pre-authorized_code grant is supported", field="grant_type")
        with self._lock:
            self._expire()
            grant = self._codes.pop(code, None)  # single use
            if grant is None:
                raise Unauthenticated("unknown or used pre-authorized code", field="pre-authorized_code")
            token = secrets.token_urlsafe(32)
            self._tokens[token] = _Grant(grant.handle, self.clock() + TOKEN_TTL)
        return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL}

    def nonce(self) -> dict[str, Any]:
        value = secrets.token_urlsafe(24)
        with self._lock:
            self._expire()
            self._nonces[value] = self.clock() + NONCE_TTL
        return {"c_nonce": value}

    def credential(self, *, token: str, configuration: str, proofs: Sequence[str]) -> dict[str, Any]:
        if configuration != CONFIGURATION:
            raise InvalidInput("unknown credential_configuration_id", field="credential_configuration_id")
        if not 1 <= len(proofs) <= MAX_BATCH:
            raise InvalidInput(f"send 1 to {MAX_BATCH} proofs (default {BATCH})", field="proofs")
        with self._lock:
            self._expire()
            grant = self._tokens.pop(token, None)
            if grant is None:
                raise Unauthenticated("unknown, used or expired access token", field="authorization")
        now = int(self.clock())
        # every proof of one request carries the same c_nonce (OpenID4VCI §8.2), which is then spent
        nonces = {sdjwt.unverified_payload(p, field="proof").get("nonce") for p in proofs}
        nonce = nonces.pop() if len(nonces) == 1 else None
        with self._lock:
            fresh = isinstance(nonce, str) and self._nonces.pop(nonce, 0) > self.clock()
        if not fresh:
            raise Unauthenticated("the proofs' c_nonce is unknown, used or not the same", field="proof")
        keys = [sdjwt.check_key_proof(p, audience=self.issuer.iss, nonce=str(nonce), now=now) for p in proofs]
        issued = self.issuer.issue_batch(handle=grant.handle, source=self.source, holder_keys=keys)
        return {"credentials": [{"credential": c} for c in issued.credentials]}

    def _expire(self) -> None:
        now = self.clock()
        for table in (self._codes, self._tokens):
            for k in [k for k, g in table.items() if g.expires <= now]:
                del table[k]
        for k in [k for k, t in self._nonces.items() if t <= now]:
            del self._nonces[k]
