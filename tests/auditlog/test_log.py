"""The log party on SQLite and PostgreSQL: appends, checkpoints, proofs, tiles, and full verification against
every kind of tampering with the stored rows."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from sekisho.auditlog.service import LogDiverges, LogService
from sekisho.auditlog.witness import Witness
from sekisho.config import Home
from sekisho.errors import Conflict, IntegrityError, InvalidInput, NotFound
from sekisho.transparency import merkle
from sekisho.transparency.checkpoint import Checkpoint, verify_witnessed_checkpoint
from sekisho.transparency.tiles import TileRef, decode_bundle, split_hashes

from .conftest import PASSPHRASE, checkpoint_and_witness, make_entry


def _verified(svc: LogService, note: str) -> Checkpoint:
    return verify_witnessed_checkpoint(note, svc.config.vkey, svc.config.witnesses)


def test_appends_are_dense_and_hashed(log_service: LogService) -> None:
    entries = [make_entry() for _ in range(5)]
    receipts = [log_service.append(e) for e in entries]
    assert [r.index for r in receipts] == list(range(5))
    assert [r.leaf_hash for r in receipts] == [merkle.hash_leaf(e) for e in entries]
    many = log_service.append_many([make_entry() for _ in range(300)])
    assert [r.index for r in many] == list(range(5, 305))
    assert log_service.size() == 305
    assert log_service.entries(start=0, end=5) == entries


def test_invalid_entries_are_refused(log_service: LogService) -> None:
    with pytest.raises(InvalidInput):
        log_service.append(b'{"name":"Yamada Hanako"}')
    with pytest.raises(InvalidInput):
        log_service.append_many([make_entry(), b"not an entry"])
    assert log_service.size() == 0


def test_async_appenders_share_batches(log_service: LogService) -> None:
    async def run() -> list[int]:
        await log_service.start()
        receipts = await asyncio.gather(*(log_service.append_async(make_entry()) for _ in range(200)))
        seq = log_service.sequencer
        assert seq.batches < 200  # group commit: fewer transactions than appends
        await log_service.aclose()
        return sorted(r.index for r in receipts)

    assert asyncio.run(run()) == list(range(200))


def test_checkpoints_proofs_and_tiles(log_service: LogService, witness: Witness) -> None:
    entries = [make_entry() for _ in range(700)]
    log_service.append_many(entries[:300])
    first = _verified(log_service, checkpoint_and_witness(log_service, witness))
    log_service.append_many(entries[300:])
    second = _verified(log_service, checkpoint_and_witness(log_service, witness))
    assert (first.size, second.size) == (300, 700)
    leaves = [merkle.hash_leaf(e) for e in entries]
    assert second.root_hash == merkle.root_of(leaves)
    for index in (0, 255, 256, 299, 511, 699):
        proof = log_service.inclusion_proof(index=index, size=second.size)
        merkle.verify_inclusion(index, second.size, leaves[index], proof, second.root_hash)
    proof = log_service.consistency_proof(old=first.size, new=second.size)
    merkle.verify_consistency(first.size, second.size, first.root_hash, second.root_hash, proof)
    # tiles as the API serves them: level 0 tile 1 is full, tile 2 partial (700 = 2 * 256 + 188)
    assert split_hashes(log_service.published_tile(TileRef(0, 1))) == leaves[256:512]
    assert split_hashes(log_service.published_tile(TileRef(0, 2, 188))) == leaves[512:700]
    assert log_service.published_tile(TileRef(1, 0, 2)) == merkle.perfect_root(leaves[:256]) + merkle.perfect_root(
        leaves[256:512]
    )
    assert decode_bundle(log_service.published_tile(TileRef(-1, 2, 188))) == entries[512:700]
    with pytest.raises(NotFound):
        log_service.published_tile(TileRef(0, 2))  # not full in any published tree
    report = log_service.verify(check_entries=True)
    assert (report.size, report.checkpoints, report.cosigned, report.unsigned_tail) == (700, 2, 2, 0)


def test_no_checkpoint_over_a_rewritten_log(log_service: LogService, witness: Witness) -> None:
    log_service.append_many([make_entry() for _ in range(10)])
    checkpoint_and_witness(log_service, witness)
    with log_service.engine.begin() as conn:
        conn.execute(sa.text("UPDATE log_leaf SET leaf_hash = :h WHERE idx = 3"), {"h": b"\x00" * 32})
    log_service.append(make_entry())
    with pytest.raises(IntegrityError):
        log_service.issue_checkpoint()


# --- tampering: every kind is found, at the index where the log diverges ----------------------------------

SIZE = 600  # two full level-0 tiles, then a partial one; checkpoints at 300 and 600


def _edit_entry(conn: sa.Connection, idx: int, *, fix_hash: bool) -> None:
    old = conn.execute(sa.text("SELECT entry FROM log_leaf WHERE idx = :i"), {"i": idx}).scalar_one()
    new = bytes(old).replace(b"pension.benefit", b"pension.refund!", 1)
    conn.execute(sa.text("UPDATE log_leaf SET entry = :e WHERE idx = :i"), {"e": new, "i": idx})
    if fix_hash:
        h = hashlib.sha256(b"\x00" + new).digest()
        conn.execute(sa.text("UPDATE log_leaf SET leaf_hash = :h WHERE idx = :i"), {"h": h, "i": idx})


def _swap(conn: sa.Connection, a: int, b: int) -> None:
    rows = {
        r[0]: (bytes(r[1]), bytes(r[2]))
        for r in conn.execute(
            sa.text("SELECT idx, leaf_hash, entry FROM log_leaf WHERE idx IN (:a, :b)"), {"a": a, "b": b}
        )
    }
    for i, j in ((a, b), (b, a)):
        conn.execute(
            sa.text("UPDATE log_leaf SET leaf_hash = :h, entry = :e WHERE idx = :i"),
            {"h": rows[j][0], "e": rows[j][1], "i": i},
        )


def _insert(conn: sa.Connection, at: int) -> None:
    # shift every later row up by one (through negative indices: the primary key holds at every step)
    conn.execute(sa.text("UPDATE log_leaf SET idx = -idx - 1 WHERE idx >= :a"), {"a": at})
    conn.execute(sa.text("UPDATE log_leaf SET idx = -idx WHERE idx < 0"))
    e = make_entry()
    conn.execute(
        sa.text("INSERT INTO log_leaf (idx, leaf_hash, entry) VALUES (:i, :h, :e)"),
        {"i": at, "h": hashlib.sha256(b"\x00" + e).digest(), "e": e},
    )


def _edit_tile(conn: sa.Connection) -> None:
    data = bytearray(conn.execute(sa.text("SELECT hashes FROM log_tile WHERE level = 0 AND idx = 1")).scalar_one())
    data[32 * 7] ^= 1
    conn.execute(sa.text("UPDATE log_tile SET hashes = :h WHERE level = 0 AND idx = 1"), {"h": bytes(data)})


TAMPERING: dict[str, tuple[Callable[[sa.Connection], None], int]] = {
    "edit": (lambda c: _edit_entry(c, 123, fix_hash=False), 123),
    "edit-and-rehash": (lambda c: _edit_entry(c, 123, fix_hash=True), 123),
    "delete": (lambda c: c.execute(sa.text("DELETE FROM log_leaf WHERE idx = 200")), 200),
    "reorder": (lambda c: _swap(c, 10, 20), 10),
    "insert": (lambda c: _insert(c, 100), 100),
    "truncate": (lambda c: c.execute(sa.text("DELETE FROM log_leaf WHERE idx >= 450")), 450),
    "tile": (_edit_tile, 256 + 7),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_tampering_is_found(log_service: LogService, witness: Witness, kind: str) -> None:
    log_service.append_many([make_entry() for _ in range(300)])
    checkpoint_and_witness(log_service, witness)
    log_service.append_many([make_entry() for _ in range(SIZE - 300)])
    checkpoint_and_witness(log_service, witness)
    log_service.verify()
    tamper, index = TAMPERING[kind]
    with log_service.engine.begin() as conn:
        tamper(conn)
    with pytest.raises(LogDiverges) as err:
        log_service.verify()
    assert err.value.index == index
    assert err.value.exit_code == 4


def test_consistent_rewrite_is_caught_by_the_signed_checkpoints(log_service: LogService, witness: Witness) -> None:
    log_service.append_many([make_entry() for _ in range(300)])
    checkpoint_and_witness(log_service, witness)
    log_service.append_many([make_entry() for _ in range(SIZE - 300)])
    checkpoint_and_witness(log_service, witness)
    # index 550 lies beyond the last full tile: entry and leaf hash rewritten together leave no stored trace
    with log_service.engine.begin() as conn:
        _edit_entry(conn, 550, fix_hash=True)
    with pytest.raises(LogDiverges) as err:
        log_service.verify()
    assert err.value.index <= 550 < (err.value.before or 0)
    assert (err.value.index, err.value.before) == (300, 600)


def test_tampered_checkpoint_rows_are_found(log_service: LogService, witness: Witness) -> None:
    log_service.append_many([make_entry() for _ in range(20)])
    checkpoint_and_witness(log_service, witness)
    with log_service.engine.begin() as conn:
        conn.execute(sa.text("UPDATE log_checkpoint SET root_hash = :r"), {"r": b"\x01" * 32})
    with pytest.raises(IntegrityError):
        log_service.verify()


def test_a_writer_continues_after_another_process_appended_to_its_sqlite_log(log_home: Home) -> None:
    """A command run on the home while the log's own process serves it appends through a writer of its own (on
    SQLite nothing but the write lock keeps it out): the serving writer's next batch finds the log longer than it
    thought, and continues from what is stored instead of refusing its appenders (once a 409 to every caller)."""
    if log_home.db_url:
        # PostgreSQL admits one writer per log (an advisory lock): the second is refused outright, the first goes on
        serving = LogService.open(log_home, secret=PASSPHRASE)
        try:
            first = serving.append(make_entry())
            command = LogService.open(log_home, secret=PASSPHRASE)
            try:
                with pytest.raises(Conflict, match="already appending"):
                    command.append(make_entry())
            finally:
                command.close()
            assert serving.append(make_entry()).index == first.index + 1
        finally:
            serving.close()
        return
    serving = LogService.open(log_home, secret=PASSPHRASE)
    try:
        first = serving.append(make_entry())
        command = LogService.open(log_home, secret=PASSPHRASE)
        try:
            theirs = command.append(make_entry())
        finally:
            command.close()
        assert theirs.index == first.index + 1
        ours = serving.append(make_entry())
        assert ours.index == theirs.index + 1
        assert serving.append(make_entry()).index == ours.index + 1
        assert serving.verify().size == ours.index + 2
    finally:
        serving.close()
