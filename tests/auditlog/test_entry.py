"""The public entry: one canonical encoding, no personal data, per-resident commitments."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from sekisho.errors import IntegrityError, InvalidInput
from sekisho.transparency.entry import (
    AccessRecordBuilder,
    LogEntry,
    commit_subject,
    derive_commitment_key,
    scan_for_subject,
    validate_encoded,
    verify_subject,
)

AT = datetime(2026, 11, 20, 9, 30, 5, tzinfo=UTC)


def _builder() -> AccessRecordBuilder:
    return (
        AccessRecordBuilder()
        .actor("agency", "pension", terminal="t-0042")
        .action("identity-confirmation", purpose="pension.benefit", legal_basis="jukiho-30-9")
        .items(["name", "address", "birth_date", "sex"])
        .decision("allow", ["ok"])
        .at(AT)
    )


K = derive_commitment_key(b"\x01" * 32)


def test_canonical_encoding() -> None:
    rec = _builder().build(K, record_id=b"\x02" * 16, nonce=b"\x03" * 16)
    data = rec.entry_bytes()
    obj = json.loads(data)
    assert list(obj) == sorted(obj)
    assert data == json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    assert obj["at"] == "2026-11-20T09:30:05Z"
    assert obj["items"] == ["address", "birth_date", "name", "sex"]
    assert obj["v"] == 1
    assert obj["nonce"] == "03" * 16
    assert obj["sealed_until"] is None
    assert LogEntry.decode(data) == rec.entry
    validate_encoded(data)


def test_non_canonical_forms_are_refused() -> None:
    data = _builder().build(K).entry_bytes()
    obj = json.loads(data)
    variants = [
        json.dumps(obj, sort_keys=True).encode(),  # whitespace
        json.dumps(dict(reversed(list(obj.items()))), separators=(",", ":")).encode(),  # key order
        data.replace(b'"v":1', b'"v":1.0'),  # a float
        data.replace(b'"v":1', b'"v":2'),
        data.replace(b'"terminal":"t-0042"', b'"terminal":"t\\u002d0042"'),  # an escape
        data[:-1] + b',"note":"x"}',  # an extra field
    ]
    for v in variants:
        with pytest.raises(InvalidInput):
            LogEntry.decode(v)
        with pytest.raises(InvalidInput):
            validate_encoded(v)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("purpose", "Tanaka Taro"),
        ("purpose", "田中太郎"),
        ("purpose", "tanaka taro"),
        ("purpose", "1990-01-31"),
        ("purpose", "born.19900131"),
        ("legal_basis", "dob:1990.1.31"),
        ("legal_basis", "Act 30"),
        ("purpose", "x" * 65),
        ("purpose", ""),
        ("purpose", "tel.0312345678"),
    ],
)
def test_free_text_is_refused(field: str, value: str) -> None:
    kw = {"purpose": "pension.benefit", "legal_basis": None, field: value}
    with pytest.raises(InvalidInput) as err:
        AccessRecordBuilder().actor("agency", "pension").action("register-read", **kw).decision("allow").build(K)
    # and the message names the field and the rule, never the value
    assert value not in str(err.value) or not value


@pytest.mark.parametrize("items", [["Name"], ["name", "name"], ["full name"], ["氏名"]])
def test_items_are_item_names(items: list[str]) -> None:
    with pytest.raises(InvalidInput):
        _builder_without_items().items(items).build(K)


def _builder_without_items() -> AccessRecordBuilder:
    return AccessRecordBuilder().actor("clerk", "131016").action("register-read", purpose="counter").decision("allow")


def test_the_schema_has_no_free_text_field() -> None:
    obj = json.loads(_builder().build(K).entry_bytes())
    assert set(obj) == {
        "v", "record_id", "at", "actor_kind", "actor", "terminal", "action", "purpose", "legal_basis", "warrant",
        "items", "decision", "reason_codes", "subject", "nonce", "sealed_until",
    }  # fmt: skip
    # every string value is a code, a hex string, an enumerated value or a date: try each with free text
    for key, value in obj.items():
        if isinstance(value, str):
            bad = dict(obj, **{key: "Yamada Hanako"})
            with pytest.raises(InvalidInput):
                LogEntry.from_dict(bad)


def test_builder_settings_are_made_once() -> None:
    b = AccessRecordBuilder().actor("agency", "pension")
    with pytest.raises(InvalidInput):
        b.actor("agency", "tax")
    with pytest.raises(InvalidInput):
        AccessRecordBuilder().actor("agency", "pension").build(K)  # no action, no decision
    with pytest.raises(InvalidInput):
        _builder().at(AT.replace(tzinfo=None))
    # local times are converted to UTC seconds
    jst = timezone(timedelta(hours=9))
    rec = _builder_without_items().at(datetime(2026, 11, 20, 18, 30, 5, 123, tzinfo=jst)).build(K)
    assert rec.entry.at == AT


def test_commitment_is_hkdf_then_hmac() -> None:
    root = os.urandom(32)
    expected_k = HKDF(hashes.SHA256(), 32, salt=None, info=b"sekisho/access-commitment/v1").derive(root)
    assert derive_commitment_key(root) == expected_k
    nonce = os.urandom(16)
    assert commit_subject(expected_k, nonce) == hmac.new(expected_k, nonce, hashlib.sha256).digest()
    with pytest.raises(InvalidInput):
        derive_commitment_key(b"short")


def test_only_the_resident_matches() -> None:
    mine, other = derive_commitment_key(os.urandom(32)), derive_commitment_key(os.urandom(32))
    rec = _builder().build(mine)
    verify_subject(rec.entry, mine)
    with pytest.raises(IntegrityError):
        verify_subject(rec.entry, other)
    # two entries of one resident share nothing but the actor's fields: subjects and nonces differ
    rec2 = _builder().build(mine)
    assert rec.entry.subject != rec2.entry.subject
    assert rec.entry.nonce != rec2.entry.nonce


def test_sealed_entries_match_only_with_the_revealed_nonce() -> None:
    mine = derive_commitment_key(os.urandom(32))
    sealed = (
        AccessRecordBuilder()
        .actor("agency", "police")
        .action("cross-reference", purpose="investigation", legal_basis="cpc-197", warrant="w-2026-0007")
        .items(["address"])
        .decision("allow")
        .sealed_until(date(2027, 6, 1))
        .build(mine)
    )
    obj = json.loads(sealed.entry_bytes())
    assert obj["nonce"] is None
    assert obj["sealed_until"] == "2027-06-01"
    validate_encoded(sealed.entry_bytes())
    assert list(scan_for_subject([(0, sealed.entry_bytes())], mine)) == []
    with pytest.raises(InvalidInput):
        verify_subject(sealed.entry, mine)
    verify_subject(sealed.entry, mine, nonce=sealed.nonce)
    with pytest.raises(IntegrityError):
        verify_subject(sealed.entry, mine, nonce=os.urandom(16))


def test_scan_finds_exactly_the_residents_entries() -> None:
    keys = [derive_commitment_key(os.urandom(32)) for _ in range(4)]
    entries = [(i, _builder().build(keys[i % 4]).entry_bytes()) for i in range(40)]
    for who, k in enumerate(keys):
        assert [i for i, _ in scan_for_subject(entries, k)] == list(range(who, 40, 4))


# --- the fast validator agrees with the full decoder ------------------------------------------------------

_SAMPLE = _builder().build(K).entry_bytes()
_SEALED = _builder_without_items().sealed_until(date(2027, 1, 1)).at(AT).build(K).entry_bytes()


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([_SAMPLE, _SEALED]), st.integers(0, 10_000), st.binary(max_size=3), st.integers(0, 3))
def test_fast_validation_agrees_with_decode(base: bytes, pos: int, insert: bytes, cut: int) -> None:
    pos %= len(base)
    data = base[:pos] + insert + base[pos + cut :]
    try:
        LogEntry.decode(data)
        decoded = True
    except InvalidInput:
        decoded = False
    try:
        validate_encoded(data)
        validated = True
    except InvalidInput:
        validated = False
    assert decoded == validated
