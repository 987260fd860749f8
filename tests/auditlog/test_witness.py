"""The watchdog's witness: cosigns only consistent checkpoints; refuses and records forks, rollbacks and bad
signatures; clients trust only cosigned checkpoints."""

from __future__ import annotations

import base64
import hashlib

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sekisho.auditlog.client import InProcessAccessLog
from sekisho.auditlog.keys import load_log_signer
from sekisho.auditlog.service import LogService
from sekisho.auditlog.witness import InconsistentCheckpoint, StaleOldSize, Witness
from sekisho.config import Home
from sekisho.errors import IntegrityError, InvalidInput, NotFound, Refused
from sekisho.transparency import merkle
from sekisho.transparency.checkpoint import Checkpoint, verify_witnessed_checkpoint
from sekisho.transparency.note import Signer

from .conftest import PASSPHRASE, checkpoint_and_witness, make_entry


def _signed(signer: Signer, size: int, root: bytes) -> str:
    body = Checkpoint(origin=signer.name, size=size, root_hash=root).body()
    return body + "\n" + signer.sign(body)


def _alerts(w: Witness) -> list[str]:
    return [a.kind for a in w.alerts()]


@pytest.fixture
def grown(log_home: Home, log_service: LogService, witness: Witness) -> tuple[LogService, Witness, Signer]:
    """A log of 40 entries whose checkpoint at 40 the witness has cosigned."""
    log_service.append_many([make_entry() for _ in range(40)])
    checkpoint_and_witness(log_service, witness)
    return log_service, witness, load_log_signer(log_home, PASSPHRASE)


def test_cosigns_a_growing_log(grown: tuple[LogService, Witness, Signer]) -> None:
    svc, w, _ = grown
    assert w.last_cosigned(svc.config.origin).size == 40  # type: ignore[union-attr]
    svc.append_many([make_entry() for _ in range(25)])
    note = checkpoint_and_witness(svc, w)
    cp = verify_witnessed_checkpoint(note, svc.config.vkey, [w.vkey])
    assert cp.size == 65
    # the same checkpoint again: cosigned again (a fresh timestamp), no alert
    size, lines = w.observe(InProcessAccessLog(svc))
    assert size == 65
    assert lines.startswith("\u2014 " + w.vkey.name + " ")
    assert _alerts(w) == []


def test_fork_is_refused_and_alerted(grown: tuple[LogService, Witness, Signer]) -> None:
    _, w, signer = grown
    forked = _signed(signer, 40, hashlib.sha256(b"another history").digest())
    with pytest.raises(InconsistentCheckpoint) as err:
        w.add_checkpoint(old_size=40, proof=[], note=forked)
    assert err.value.status == 422
    assert _alerts(w) == ["fork"]
    assert w.last_cosigned(signer.name).size == 40  # type: ignore[union-attr]


def test_inconsistent_growth_is_refused_and_alerted(grown: tuple[LogService, Witness, Signer]) -> None:
    svc, w, signer = grown
    # a log that rewrote its first entries and grew: sign it, and offer a proof from the *real* log
    other = [merkle.hash_leaf(make_entry()) for _ in range(60)]
    fake = _signed(signer, 60, merkle.root_of(other))
    svc.append_many([make_entry() for _ in range(20)])
    proof = svc.consistency_proof(old=40, new=60)
    with pytest.raises(InconsistentCheckpoint):
        w.add_checkpoint(old_size=40, proof=proof, note=fake)
    assert _alerts(w) == ["inconsistent"]


def test_rollback_is_refused_and_alerted(grown: tuple[LogService, Witness, Signer]) -> None:
    svc, w, signer = grown
    older = _signed(signer, 30, svc.root(size=30))
    with pytest.raises(InvalidInput):
        w.add_checkpoint(old_size=40, proof=[], note=older)
    with pytest.raises(StaleOldSize) as err:
        w.add_checkpoint(old_size=30, proof=[], note=older)
    assert err.value.size == 40
    assert _alerts(w) == ["rollback", "rollback"]

    class RolledBack:
        def signed_checkpoint(self) -> str:
            return older

        def consistency_proof(self, old: int, new: int) -> list[bytes]:
            raise AssertionError("never asked")

    with pytest.raises(InconsistentCheckpoint):
        w.observe(RolledBack())
    assert _alerts(w)[0] == "rollback"


def test_bad_signature_is_refused_and_alerted(grown: tuple[LogService, Witness, Signer]) -> None:
    svc, w, signer = grown
    svc.append_many([make_entry() for _ in range(5)])
    good = _signed(signer, 45, svc.root(size=45))
    line = good.rpartition("\n\n")[2]
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[10] ^= 1
    bad = good.replace(line.split(" ")[2].strip(), base64.b64encode(bytes(raw)).decode())
    with pytest.raises(Refused):
        w.add_checkpoint(old_size=40, proof=svc.consistency_proof(old=40, new=45), note=bad)
    assert _alerts(w) == ["bad-signature"]
    # unsigned by anyone the witness knows: refused, but not evidence of anything (no alert)
    stranger = Signer(signer.name, Ed25519PrivateKey.generate())
    with pytest.raises(Refused):
        w.add_checkpoint(old_size=40, proof=[], note=_signed(stranger, 45, svc.root(size=45)))
    assert _alerts(w) == ["bad-signature"]


def test_unknown_log_is_not_found(grown: tuple[LogService, Witness, Signer]) -> None:
    _, w, _ = grown
    other = Signer("other.example/log", Ed25519PrivateKey.generate())
    with pytest.raises(NotFound):
        w.add_checkpoint(old_size=0, proof=[], note=_signed(other, 0, merkle.EMPTY_ROOT))


def test_tlog_witness_request_body(grown: tuple[LogService, Witness, Signer]) -> None:
    svc, w, signer = grown
    svc.append_many([make_entry() for _ in range(9)])
    note = _signed(signer, 49, svc.root(size=49))
    proof = svc.consistency_proof(old=40, new=49)
    body = "old 40\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof) + "\n" + note
    lines = w.add_checkpoint_request(body)
    verify_witnessed_checkpoint(note + lines, svc.config.vkey, [w.vkey])
    with pytest.raises(StaleOldSize):
        w.add_checkpoint_request("old 40\n\n" + note)
    for bad in ("old 040\n\n" + note, "new 49\n\n" + note, "old 49\n" + note):
        with pytest.raises(InvalidInput):
            w.add_checkpoint_request(bad)


def test_checkpoint_without_cosignature_is_not_trusted(log_service: LogService, witness: Witness) -> None:
    log_service.append_many([make_entry() for _ in range(3)])
    note = log_service.issue_checkpoint()
    with pytest.raises(IntegrityError):
        verify_witnessed_checkpoint(note, log_service.config.vkey, log_service.config.witnesses)
    access = InProcessAccessLog(log_service)
    with pytest.raises(NotFound):
        access.latest_witnessed_checkpoint()
    # the log will not store as "witnessed" a note without a valid cosignature
    with pytest.raises(IntegrityError):
        log_service.add_cosignatures(size=3, lines=note.rpartition("\n\n")[2])
    size, lines = witness.observe(access)
    log_service.add_cosignatures(size=size, lines=lines)
    assert access.latest_witnessed_checkpoint().size == 3


def test_alerts_are_rows_in_log_alert(grown: tuple[LogService, Witness, Signer]) -> None:
    _, w, signer = grown
    with pytest.raises(InconsistentCheckpoint):
        w.add_checkpoint(old_size=40, proof=[], note=_signed(signer, 40, b"\x07" * 32))
    with w.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT kind, size, evidence FROM log_alert")).one()
    assert row.kind == "fork"
    assert row.size == 40
    assert row.evidence.startswith(signer.name + "\n40\n")
