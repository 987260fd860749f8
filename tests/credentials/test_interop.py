"""Every JWS Sekisho writes, checked by implementations we did not write: joserfc (as a plain JOSE verifier, with
the key from the x5c leaf or the cnf JWK and nothing of ours) and PyCA's ECDSA on the DER form of the signature;
and the reference ``sd-jwt`` library's verifier on presentations made through the wallet's disclosure index
(the other interop directions: tests/credentials/test_sdjwt.py)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jws
from joserfc.jwk import ECKey
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier
from tests.credentials.conftest import AUDIENCE, NONCE, Batch, now_ts

from sekisho.credentials.issuer import Issuer
from sekisho.vc import sdjwt


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _outside(token: str, key: ec.EllipticCurvePublicKey) -> tuple[dict[str, object], dict[str, object]]:
    """joserfc's own reading of a compact JWS: header and payload, signature verified, ES256 only."""
    registry = jws.JWSRegistry(algorithms=["ES256"])
    registry.max_header_length = 8192
    obj = jws.deserialize_compact(token, ECKey.import_key(key), registry=registry)
    return dict(obj.protected), json.loads(obj.payload)


def _leaf(header: dict[str, object]) -> ec.EllipticCurvePublicKey:
    chain = header["x5c"]
    assert isinstance(chain, list)
    key = x509.load_der_x509_certificate(base64.b64decode(chain[0])).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def test_joserfc_verifies_the_issuer_jwt_by_its_x5c(batch: Batch) -> None:
    jwt = sdjwt.split(batch.credentials[0]).jwt
    unverified = json.loads(_b64(jwt.split(".")[0]))
    header, payload = _outside(jwt, _leaf(unverified))
    assert header["alg"] == "ES256" and header["typ"] == "dc+sd-jwt"
    assert payload["_sd_alg"] == "sha-256" and len(payload["_sd"]) == 16  # 12 claims and 4 decoys
    # every disclosure's digest is in _sd, computed with hashlib alone
    for d in sdjwt.split(batch.credentials[0]).disclosures:
        digest = base64.urlsafe_b64encode(hashlib.sha256(d.encode()).digest()).rstrip(b"=").decode()
        assert digest in payload["_sd"]
        salt, name, _ = json.loads(_b64(d))
        assert len(_b64(salt)) == sdjwt.SALT_BYTES >= 16 and isinstance(name, str)  # RFC 9901 §4.2.1: >= 128 bits


def test_joserfc_verifies_the_kb_jwt_by_the_cnf_key(batch: Batch) -> None:
    text = sdjwt.present(
        batch.credentials[0], ["prefecture"], holder_key=batch.keys[0], nonce=NONCE, audience=AUDIENCE, iat=now_ts()
    )
    parts = sdjwt.split(text)
    _, issued = _outside(parts.jwt, _leaf(json.loads(_b64(parts.jwt.split(".")[0]))))
    cnf = issued["cnf"]
    assert isinstance(cnf, dict)
    holder = ECKey.import_key(cnf["jwk"]).public_key
    assert isinstance(holder, ec.EllipticCurvePublicKey)
    header, kb = _outside(parts.kb_jwt or "", holder)
    assert header == {"alg": "ES256", "typ": "kb+jwt"}
    expected = base64.urlsafe_b64encode(hashlib.sha256(parts.without_kb().encode()).digest()).rstrip(b"=")
    assert kb["sd_hash"] == expected.decode() and kb["nonce"] == NONCE and kb["aud"] == AUDIENCE


def test_the_signature_is_r_and_s_of_an_ecdsa_signature_pyca_accepts(batch: Batch, issuer: Issuer) -> None:
    jwt = sdjwt.split(batch.credentials[0]).jwt
    head, body, sig = jwt.split(".")
    raw = _b64(sig)
    assert len(raw) == 64  # RFC 7518 §3.4: R || S, 32 bytes each, not DER
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    issuer.key.public_key().verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))


def test_joserfc_verifies_the_status_list_token_and_the_key_proof(issuer: Issuer) -> None:
    token = issuer.status_list_token()
    header, payload = _outside(token, _leaf(json.loads(_b64(token.split(".")[0]))))
    assert header["typ"] == "statuslist+jwt" and payload["sub"] == issuer.status_uri
    holder = ec.generate_private_key(ec.SECP256R1())
    proof = sdjwt.key_proof(holder, audience=issuer.iss, nonce="c", iat=int(datetime.now(UTC).timestamp()))
    header, body = _outside(proof, holder.public_key())
    assert header["typ"] == "openid4vci-proof+jwt" and body["nonce"] == "c"


def test_reference_verifier_accepts_a_presentation_from_the_wallet_index(batch: Batch, issuer: Issuer) -> None:
    index = sdjwt.index(batch.credentials[2])
    text = sdjwt.present(
        batch.credentials[2],
        ["age_over_20"],
        holder_key=batch.keys[2],
        nonce=NONCE,
        audience=AUDIENCE,
        iat=now_ts(),
        disclosures=index,
    )
    issuer_jwk = JWK.from_pyca(issuer.key.public_key())
    ref = SDJWTVerifier(text, lambda iss, header: issuer_jwk, expected_aud=AUDIENCE, expected_nonce=NONCE)
    payload = ref.get_verified_payload()
    assert payload["age_over_20"] is True and "prefecture" not in payload
