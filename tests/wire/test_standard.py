"""We speak RFC 9421 and RFC 9530, not merely what our library agrees with itself about: a request signed by
:func:`sign_request` is checked by hand with `cryptography` (signature base per RFC 9421 §2.5, ECDSA P-256 per
§3.3.4, Content-Digest per RFC 9530), and a request signed by hand is accepted by :class:`RequestVerifier`."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from sekisho.wire.identity import Party
from sekisho.wire.refusals import NotAuthenticated
from sekisho.wire.signatures import (
    CERTIFICATE_HEADER,
    ReceivedRequest,
    RequestVerifier,
    certificate_field,
    sign_request,
)

from .conftest import Net

URL = "https://t2.sekisho.internal:8443/convert?batch=7"
BODY = b'{"ciphertexts": ["AAEC"]}'
TERMINAL = "municipality/212016/counter-1"


def _member(field: str, label: str = "sekisho") -> str:
    assert field.startswith(label + "=")
    return field[len(label) + 1 :]


def _signature_base(request: httpx.Request, params: str) -> bytes:
    """RFC 9421 §2.5, written out from the RFC: one line per covered component, then @signature-params."""
    inner = params[params.index("(") + 1 : params.index(")")]
    lines = []
    for name in re.findall(r'"([^"]+)"', inner):
        if name == "@method":
            value = request.method  # §2.2.1
        elif name == "@target-uri":
            value = str(request.url)  # §2.2.2
        else:
            value = request.headers[name].strip()  # §2.1
        lines.append(f'"{name}": {value}')
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines).encode("ascii")


def test_our_signature_checked_by_hand(net: Net) -> None:
    key = net.terminals[TERMINAL]
    request = httpx.Request("POST", URL, content=BODY, headers={"content-type": "application/json"})
    sign_request(request, key)

    # RFC 9530 §2: Content-Digest is a Dictionary of algorithm -> byte sequence of the digest of the content
    assert (
        request.headers["content-digest"]
        == "sha-256=:" + base64.b64encode(hashlib.sha256(BODY).digest()).decode() + ":"
    )

    params = _member(request.headers["signature-input"])
    covered = re.findall(r'"([^"]+)"', params[: params.index(")")])
    assert {"@method", "@target-uri", "content-digest", "content-type", CERTIFICATE_HEADER.lower()} <= set(covered)
    created = int(re.search(r";created=(\d+)", params).group(1))  # type: ignore[union-attr]
    assert abs(created - datetime.now(UTC).timestamp()) < 60
    assert re.search(r';nonce="[A-Za-z0-9_-]{22,}"', params)
    assert f';keyid="{TERMINAL}"' in params
    assert ';alg="ecdsa-p256-sha256"' in params and ';tag="sekisho"' in params

    # §3.3.4: the signature is r || s, 32 bytes each, big-endian; verify it with the certificate's key
    raw = base64.b64decode(_member(request.headers["signature"]).strip(":"))
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public = key.certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(der, _signature_base(request, params), ec.ECDSA(hashes.SHA256()))

    # and one changed byte of the base does not verify
    with pytest.raises(InvalidSignature):
        public.verify(der, _signature_base(request, params) + b" ", ec.ECDSA(hashes.SHA256()))


def _signed_by_hand(net: Net, *, body: bytes) -> ReceivedRequest:
    key = net.terminals[TERMINAL]
    request = httpx.Request("POST", URL, content=body, headers={"content-type": "application/json"})
    request.headers["content-digest"] = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    request.headers[CERTIFICATE_HEADER] = certificate_field(key.certificate)
    params = (
        '("@method" "@target-uri" "content-digest" "content-type" "sekisho-terminal-certificate")'
        f';created={int(datetime.now(UTC).timestamp())};keyid="{TERMINAL}";nonce="{secrets.token_urlsafe(24)}"'
        ';tag="sekisho"'
    )
    der = key.key.sign(_signature_base(request, params), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    request.headers["signature-input"] = f"sekisho={params}"
    request.headers["signature"] = "sekisho=:" + base64.b64encode(raw).decode() + ":"
    return ReceivedRequest.of(method="POST", url=URL, headers=list(request.headers.items()))


def test_a_signature_made_by_hand_is_accepted(net: Net) -> None:
    verifier = RequestVerifier(trust=[net.org], revocation=None)
    verified = verifier.verify(_signed_by_hand(net, body=BODY), body=BODY, caller=Party("municipality/212016"))
    assert verified.terminal.id == TERMINAL
    assert verified.signature_base.startswith('"@method": POST\n"@target-uri": ' + URL)
    assert verified.certificate_serial == format(net.terminals[TERMINAL].certificate.serial_number, "x")


def test_a_signature_made_by_hand_over_another_body_is_refused(net: Net) -> None:
    verifier = RequestVerifier(trust=[net.org], revocation=None)
    with pytest.raises(NotAuthenticated) as caught:
        verifier.verify(_signed_by_hand(net, body=BODY), body=BODY + b" ", caller=Party("municipality/212016"))
    assert caught.value.reason == "signature-invalid"
