"""The wallet's side of OpenID4VCI's pre-authorised code flow over HTTP (issuer metadata, token, nonce, batch
credential request with one key proof per holder key)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from sekisho.errors import InvalidInput, Unavailable
from sekisho.wallet.store import Wallet

GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


def receive_offer(
    wallet: Wallet,
    keys: Sequence[ec.EllipticCurvePrivateKey],
    offer: Mapping[str, Any],
    *,
    client: httpx.Client | None = None,
) -> list[str]:
    iss = offer.get("credential_issuer")
    code = offer.get("grants", {}).get(GRANT, {}).get("pre-authorized_code")
    configs = offer.get("credential_configuration_ids") or []
    if not isinstance(iss, str) or not isinstance(code, str) or not configs:
        raise InvalidInput("not a pre-authorised credential offer", field="offer")
    http = client or httpx.Client(timeout=30)
    try:
        meta = http.get(f"{iss}/.well-known/openid-credential-issuer").raise_for_status().json()
        token = http.post(meta["token_endpoint"], data={"grant_type": GRANT, "pre-authorized_code": code})
        access = token.raise_for_status().json()["access_token"]
        nonce = http.post(meta["nonce_endpoint"]).raise_for_status().json()["c_nonce"]
        proofs = wallet.proofs(keys, audience=iss, nonce=nonce)
        answer = http.post(
            meta["credential_endpoint"],
            json={"credential_configuration_id": configs[0], "proofs": {"jwt": proofs}},
            headers={"Authorization": f"Bearer {access}"},
        )
        return [c["credential"] for c in answer.raise_for_status().json()["credentials"]]
    except (httpx.HTTPError, KeyError, ValueError):
        raise Unavailable("the issuer did not complete the credential request", field="issuer") from None
    finally:
        if client is None:
            http.close()
