"""tlog-checkpoint bodies, and the rule that a client trusts a checkpoint only when log-signed and witnessed."""

from __future__ import annotations

import hashlib
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sekisho.errors import IntegrityError, InvalidInput
from sekisho.transparency.checkpoint import Checkpoint, open_checkpoint, verify_witnessed_checkpoint
from sekisho.transparency.merkle import EMPTY_ROOT
from sekisho.transparency.note import ALG_COSIGNATURE_V1, Signer

ROOT = hashlib.sha256(b"root").digest()


def _keys() -> tuple[Signer, Signer, Signer]:
    log = Signer("log.example/a", Ed25519PrivateKey.generate())
    w1 = Signer("watchdog.example/w1", Ed25519PrivateKey.generate(), alg=ALG_COSIGNATURE_V1)
    w2 = Signer("watchdog.example/w2", Ed25519PrivateKey.generate(), alg=ALG_COSIGNATURE_V1)
    return log, w1, w2


def test_body_round_trip() -> None:
    cp = Checkpoint(origin="log.example/a", size=20852163, root_hash=ROOT)
    body = cp.body()
    lines = body.split("\n")
    assert lines[:2] == ["log.example/a", "20852163"]
    assert lines[-1] == ""
    assert Checkpoint.parse(body) == cp
    ext = Checkpoint(origin="log.example/a", size=1, root_hash=ROOT, extensions=("x y",))
    assert Checkpoint.parse(ext.body()) == ext


@pytest.mark.parametrize(
    "body",
    [
        "log.example/a\n012\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # leading zero
        "log.example/a\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "log.example/a\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",  # bad base64
        "log.example/a\n12\nAAAA\n",  # not 32 bytes
        "log.example/a\n12\n",
        "log.example/a\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # size 0 needs the empty root
        "log.example/a\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n",  # empty extension line
    ],
)
def test_bad_bodies(body: str) -> None:
    with pytest.raises(InvalidInput):
        Checkpoint.parse(body)


def _note(log: Signer, *cosigners: Signer, size: int = 7, at: int | None = None) -> str:
    body = Checkpoint(origin=log.name, size=size, root_hash=ROOT if size else EMPTY_ROOT).body()
    t = int(time.time()) if at is None else at
    return body + "\n" + log.sign(body) + "".join(w.sign(body, timestamp=t) for w in cosigners)


def test_witnessed_checkpoint_is_trusted() -> None:
    log, w1, w2 = _keys()
    cp = verify_witnessed_checkpoint(_note(log, w1), log.verifier.vkey, [w1.verifier.vkey])
    assert cp.size == 7
    assert cp.root_hash == ROOT
    opened = open_checkpoint(_note(log, w1, w2), log.verifier, [w1.verifier, w2.verifier], min_witnesses=2)
    assert set(opened.cosigned_at) == {w1.name, w2.name}


def test_checkpoint_without_cosignature_is_not_trusted() -> None:
    log, w1, w2 = _keys()
    with pytest.raises(IntegrityError):
        verify_witnessed_checkpoint(_note(log), log.verifier, [w1.verifier])
    # a cosignature by a witness the client does not trust does not count
    with pytest.raises(IntegrityError):
        verify_witnessed_checkpoint(_note(log, w2), log.verifier, [w1.verifier])
    # nor does one witness twice when two are required
    with pytest.raises(IntegrityError):
        verify_witnessed_checkpoint(_note(log, w1, w1), log.verifier, [w1.verifier, w2.verifier], min_witnesses=2)
    # and no policy may ask for zero witnesses
    with pytest.raises(InvalidInput):
        verify_witnessed_checkpoint(_note(log, w1), log.verifier, [w1.verifier], min_witnesses=0)


def test_cosigned_but_not_log_signed_is_not_trusted() -> None:
    log, w1, _ = _keys()
    other_log = Signer(log.name, Ed25519PrivateKey.generate())
    with pytest.raises(IntegrityError):
        verify_witnessed_checkpoint(_note(other_log, w1), log.verifier, [w1.verifier])


def test_bad_cosignature_rejects_the_note() -> None:
    log, w1, _ = _keys()
    note = _note(log, w1)
    _body, _, sigs = note.rpartition("\n\n")
    tampered = note.replace(sigs.splitlines()[1][-10:], "AAAAAAAAA=")
    with pytest.raises(IntegrityError):
        verify_witnessed_checkpoint(tampered, log.verifier, [w1.verifier])


def test_cosignature_from_the_future_is_refused() -> None:
    log, w1, _ = _keys()
    with pytest.raises(IntegrityError):
        verify_witnessed_checkpoint(_note(log, w1, at=int(time.time()) + 3600), log.verifier, [w1.verifier])


def test_origin_must_be_the_log_name() -> None:
    log, w1, _ = _keys()
    body = Checkpoint(origin="another.example/log", size=7, root_hash=ROOT).body()
    note = body + "\n" + log.sign(body) + w1.sign(body, timestamp=int(time.time()))
    with pytest.raises(IntegrityError):
        verify_witnessed_checkpoint(note, log.verifier, [w1.verifier])
