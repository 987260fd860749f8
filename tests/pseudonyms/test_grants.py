"""Signed grants on their own: one canonical encoding, a signature over it, strict fields."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from sekisho.errors import InvalidInput, Refused
from sekisho.pseudonyms.grants import GrantIssuer, SignedGrantPolicy, verify_grant

from .conftest import NOW

ISSUER = GrantIssuer(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
KEYS = {ISSUER.key_id: ISSUER.key.public_key()}


def _issue(**kw: object) -> str:
    args: dict[str, object] = {
        "from_domain": "pension",
        "to_domain": "tax",
        "purpose": "cross-reference.warrant",
        "not_before": NOW,
        "not_after": NOW + timedelta(days=7),
        "max_uses": 100,
        "legal_basis": "番号法第19条第8号",
    }
    args.update(kw)
    return ISSUER.issue(**args)  # type: ignore[arg-type]


def _resign(body: dict[str, object], *, canonical: bool = True) -> str:
    if canonical:
        payload = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    else:
        payload = json.dumps(body, indent=1).encode()
    sig = ISSUER.key.sign(b"sekisho/grant/v1\n" + payload)
    enc = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
    return f"sks-grant1.{enc(payload)}.{enc(sig)}"


def _body(token: str) -> dict[str, object]:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def test_round_trip() -> None:
    grant = verify_grant(_issue(), KEYS)
    assert (grant.from_domain, grant.to_domain, grant.purpose, grant.max_uses) == (
        "pension",
        "tax",
        "cross-reference.warrant",
        100,
    )
    assert grant.not_before == NOW
    assert grant.not_after == NOW + timedelta(days=7)
    assert grant.legal_basis == "番号法第19条第8号"
    assert grant.issuer == ISSUER.key_id
    assert len(grant.grant_id) == 32


def test_a_correctly_signed_grant_in_another_encoding_is_refused() -> None:
    body = _body(_issue())
    assert verify_grant(_resign(body), KEYS).grant_id == body["id"]  # the re-signing itself is right
    with pytest.raises(Refused, match="well-formed"):
        verify_grant(_resign(body, canonical=False), KEYS)


@pytest.mark.parametrize(
    "edit",
    [
        lambda b: b.update(extra=1),
        lambda b: b.update(max=True),
        lambda b: b.update(max=0),
        lambda b: b.update(max="100"),
        lambda b: b.update(exp=b["nbf"]),
        lambda b: b.update(to="Tax"),
        lambda b: b.update(purpose=""),
        lambda b: b.update(id="xyz"),
        lambda b: b.update(v=2),
        lambda b: b.pop("basis"),
        lambda b: b.update(nbf=10**20),
    ],
)
def test_signed_but_invalid_fields_are_refused(edit) -> None:
    body = _body(_issue())
    edit(body)
    with pytest.raises(Refused) as err:
        verify_grant(_resign(body), KEYS)
    assert err.value.field == "grant"


@pytest.mark.parametrize(
    "token",
    ["", "sks-grant1", "sks-grant2.a.b", "sks-grant1.!!.!!", "sks-grant1.e30.", "x" * 5000, "sks-grant1.e30.e30"],
)
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(Refused):
        verify_grant(token, KEYS)


def test_issuing_checks_its_fields() -> None:
    for kw, field in [
        ({"max_uses": 0}, "max_uses"),
        ({"not_after": NOW - timedelta(seconds=1)}, "not_after"),
        ({"to_domain": "税"}, "to_domain"),
        ({"purpose": "Enrolment"}, "purpose"),
        ({"legal_basis": "x\n"}, "legal_basis"),
        ({"grant_id": "G"}, "grant_id"),
    ]:
        with pytest.raises(InvalidInput) as err:
            _issue(**kw)
        assert err.value.field == field


def test_a_policy_without_issuer_keys_is_a_bug() -> None:
    with pytest.raises(InvalidInput):
        SignedGrantPolicy(engine=None, issuer_keys={})  # type: ignore[arg-type]


@given(st.text(max_size=300))
def test_random_tokens_are_refused_never_crash(token: str) -> None:
    with pytest.raises(Refused):
        verify_grant("sks-grant1." + token, KEYS)
