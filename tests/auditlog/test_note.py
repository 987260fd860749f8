"""Signed notes and cosignatures: known answers from the Go implementation and the C2SP spec, and notes signed
here checked by an independent re-implementation written from the spec (not by calling the code under test)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sekisho.errors import IntegrityError, InvalidInput, SekishoError
from sekisho.transparency.note import ALG_COSIGNATURE_V1, ALG_ED25519, Signer, Verifier, open_note, parse_note

VECTORS = json.loads((Path(__file__).parent / "vectors" / "signed_note.json").read_text())
DASH = "\u2014"


# --- an independent reading of c2sp.org/signed-note and c2sp.org/tlog-cosignature ----------------------


def spec_key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    # key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]
    return hashlib.sha256(name.encode() + b"\x0a" + bytes([sig_type]) + public_key).digest()[:4]


def spec_verify(note: str, name: str, public_key: bytes, sig_type: int) -> int | None:
    """Find the line of ``name`` and check it; returns the cosignature timestamp for type 4."""
    text, _, sigs = note.rpartition("\n\n")
    text += "\n"
    for line in sigs.splitlines():
        prefix = f"{DASH} {name} "
        if not line.startswith(prefix):
            continue
        raw = base64.b64decode(line[len(prefix) :])
        assert raw[:4] == spec_key_id(name, sig_type, public_key)
        key = Ed25519PublicKey.from_public_bytes(public_key)
        if sig_type == 1:
            key.verify(raw[4:], text.encode())
            return None
        timestamp = int.from_bytes(raw[4:12], "big")
        assert len(raw) == 4 + 8 + 64
        key.verify(raw[12:], f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode())
        return timestamp
    raise AssertionError("no signature line for " + name)


def raw_public(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


# --- known answers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["sign"], ids=lambda c: c["vkey"].split("+")[0])
def test_go_sign_vector(case: dict) -> None:
    signer = Signer.from_skey(case["skey"])
    assert signer.verifier.vkey == case["vkey"]
    # Ed25519 is deterministic: the same bytes as the Go implementation
    assert case["text"] + "\n" + signer.sign(case["text"]) == case["note"]
    note, verified = open_note(case["note"], [Verifier.parse(case["vkey"])])
    assert note.text == case["text"]
    assert len(verified) == 1


@pytest.mark.parametrize("case", VECTORS["verify"], ids=lambda c: c["vkey"].split("+")[0])
def test_verify_vectors(case: dict) -> None:
    verifier = Verifier.parse(case["vkey"])
    assert verifier.vkey == case["vkey"]
    _, verified = open_note(case["note"], [verifier])
    assert verified[0].verifier == verifier
    # and with a tampered text, no longer
    with pytest.raises(IntegrityError):
        open_note(case["note"].replace("a", "b", 1), [verifier])


@pytest.mark.parametrize("vkey", VECTORS["bad_vkeys"])
def test_bad_vkeys(vkey: str) -> None:
    with pytest.raises(InvalidInput):
        Verifier.parse(vkey)


def test_vkey_manglings() -> None:
    # as the Go tests do: every proper substring and every single-byte change of a good vkey is refused
    good = VECTORS["sign"][0]["vkey"]
    for i in range(len(good)):
        for j in range(i + 1, len(good) + 1):
            if (i, j) != (0, len(good)):
                with pytest.raises(SekishoError):
                    Verifier.parse(good[i:j])
    for i in range(len(good)):
        changed = good[:i] + chr(ord(good[i]) + 1) + good[i + 1 :]
        with pytest.raises(SekishoError):
            Verifier.parse(changed)


@pytest.mark.parametrize("message", VECTORS["malformed_notes"])
def test_malformed_notes(message: str) -> None:
    with pytest.raises(SekishoError):
        open_note(message, [Verifier.parse(VECTORS["sign"][0]["vkey"])])


def test_unknown_signatures_are_ignored_and_bad_known_ones_reject() -> None:
    peter = VECTORS["sign"][0]
    enoch = VECTORS["verify"][0]
    both = peter["note"] + enoch["note"].rpartition("\n\n")[2]
    note, verified = open_note(both, [Verifier.parse(peter["vkey"])])
    assert [v.verifier.name for v in verified] == ["PeterNeumann"]
    assert len(note.signatures) == 2
    with pytest.raises(IntegrityError):
        open_note(both, [])
    # a signature from the known key that does not verify rejects the whole note
    line = peter["note"].rpartition("\n\n")[2]
    bad = line[:60] + "ABCD" + line[64:]
    with pytest.raises(IntegrityError):
        open_note(peter["text"] + "\n" + bad + line, [Verifier.parse(peter["vkey"])])


# --- our notes, checked from the spec ---------------------------------------------------------------------


def test_our_note_verifies_by_the_spec() -> None:
    key = Ed25519PrivateKey.generate()
    signer = Signer("log.example/test", key)
    text = "log.example/test\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    note = text + "\n" + signer.sign(text)
    spec_verify(note, "log.example/test", raw_public(key), 1)
    # the vkey text form: <name>+<hex key ID>+<base64(type || key)>
    name, hex_id, b64 = signer.verifier.vkey.split("+", 2)
    assert name == "log.example/test"
    assert bytes.fromhex(hex_id) == spec_key_id(name, 1, raw_public(key))
    assert base64.b64decode(b64) == b"\x01" + raw_public(key)
    assert parse_note(note).text == text


def test_our_cosignature_verifies_by_the_spec() -> None:
    key = Ed25519PrivateKey.generate()
    witness = Signer("witness.example/w1", key, alg=ALG_COSIGNATURE_V1)
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    note = text + "\n" + witness.sign(text, timestamp=1679315147)
    assert spec_verify(note, "witness.example/w1", raw_public(key), 4) == 1679315147
    vkey = witness.verifier.vkey
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == ALG_COSIGNATURE_V1
    _, verified = open_note(note, [Verifier.parse(vkey)])
    assert verified[0].timestamp == 1679315147
    # the same key as a plain note key (type 0x01) has another key ID: the cosignature is not its signature
    plain = Verifier(name="witness.example/w1", alg=ALG_ED25519, public_key=raw_public(key))
    with pytest.raises(IntegrityError):
        open_note(note, [plain])
    with pytest.raises(InvalidInput):
        witness.sign(text)  # a cosignature needs its time


def test_signer_never_shows_its_key() -> None:
    key = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    signer = Signer("log.example/x", key)
    shown = repr(signer) + str(signer)
    assert seed.hex() not in shown
    assert base64.b64encode(seed).decode() not in shown
