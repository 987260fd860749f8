"""RFC 9162 §2.1 hashing and proofs: the RFC 6962 test vectors, then properties over random trees."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sekisho.errors import IntegrityError, InvalidInput
from sekisho.transparency import merkle
from sekisho.transparency.merkle import (
    CompactRange,
    ListSource,
    hash_leaf,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from sekisho.transparency.tiles import TileHashSource, TileRef, TileState, split_hashes, tile_for

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc6962.json").read_text())
LEAVES = [hash_leaf(bytes.fromhex(d)) for d in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(r) for r in VECTORS["roots"]]


def _h(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def test_empty_tree_root() -> None:
    assert merkle.EMPTY_ROOT.hex() == VECTORS["empty_root"]
    assert root_of([]) == merkle.EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_vector_roots(size: int) -> None:
    assert root_of(LEAVES[:size]) == ROOTS[size - 1]
    assert merkle.tree_root(ListSource(LEAVES), size) == ROOTS[size - 1]
    cr = CompactRange()
    for h in LEAVES[:size]:
        cr.append(h)
    assert cr.root() == ROOTS[size - 1]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}@{c['size']}")
def test_vector_inclusion(case: dict) -> None:
    index, size, proof = case["index"], case["size"], _h(case["proof"])
    assert merkle.inclusion_proof(ListSource(LEAVES), index, size) == proof
    root = ROOTS[size - 1]
    verify_inclusion(index, size, LEAVES[index], proof, root)
    # the corruptions of transparency-dev/merkle's verifier tests: each must fail
    bad: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (index - 1, size, LEAVES[index], proof, root),
        (index + 1, size, LEAVES[index], proof, root),
        (index ^ 2, size, LEAVES[index], proof, root),
        (index, size * 2, LEAVES[index], proof, root),
        (index, size // 2, LEAVES[index], proof, root),
        (index, size, hashlib.sha256(b"wrong leaf").digest(), proof, root),
        (index, size, LEAVES[index], proof, merkle.EMPTY_ROOT),
        (index, size, LEAVES[index], [*proof, root], root),
        (index, size, LEAVES[index], [root, *proof], root),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        bad.append((index, size, LEAVES[index], flipped, root))
    if proof:
        bad.append((index, size, LEAVES[index], proof[:-1], root))
    for args in bad:
        with pytest.raises(IntegrityError):
            verify_inclusion(*args)


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: f"{c['old']}-{c['new']}")
def test_vector_consistency(case: dict) -> None:
    old, new, proof = case["old"], case["new"], _h(case["proof"])
    assert merkle.consistency_proof(ListSource(LEAVES), old, new) == proof
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    verify_consistency(old, new, r1, r2, proof)
    if not proof:
        return
    bad = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        bad.append((old, new, r1, r2, flipped))
    for args in bad:
        with pytest.raises(IntegrityError):
            verify_consistency(*args)


def test_degenerate_consistency() -> None:
    some = hashlib.sha256(b"x").digest()
    verify_consistency(0, 5, merkle.EMPTY_ROOT, some, [])
    verify_consistency(3, 3, some, some, [])
    with pytest.raises(IntegrityError):
        verify_consistency(3, 3, some, merkle.EMPTY_ROOT, [])
    with pytest.raises(IntegrityError):
        verify_consistency(3, 3, some, some, [some])
    with pytest.raises(IntegrityError):
        verify_consistency(0, 3, merkle.EMPTY_ROOT, some, [some])
    with pytest.raises(IntegrityError):
        verify_consistency(4, 3, some, some, [])
    with pytest.raises(IntegrityError):
        verify_inclusion(0, 0, some, [], some)
    with pytest.raises(IntegrityError):
        verify_inclusion(0, 1, b"short", [], some)


def _leaves(n: int, salt: int = 0) -> list[bytes]:
    return [hash_leaf(b"%d:%d" % (salt, i)) for i in range(n)]


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_every_inclusion_proof_verifies(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 700))
    index = data.draw(st.integers(0, n - 1))
    leaves = _leaves(n)
    root = root_of(leaves)
    proof = merkle.inclusion_proof(ListSource(leaves), index, n)
    verify_inclusion(index, n, leaves[index], proof, root)
    # a mutated tree: the old proof fails against its root
    mutated = list(leaves)
    j = data.draw(st.integers(0, n - 1))
    mutated[j] = hash_leaf(b"mutated")
    if j != index:
        with pytest.raises(IntegrityError):
            verify_inclusion(index, n, leaves[index], proof, root_of(mutated))
    # a wrong index or size fails
    other = data.draw(st.integers(0, n - 1))
    if other != index and leaves[other] != leaves[index]:
        with pytest.raises(IntegrityError):
            verify_inclusion(other, n, leaves[index], proof, root)
    # the proof against the real tree of another size fails, unless that tree has the very same path
    wrong_size = data.draw(st.integers(index + 1, 800))
    bigger = _leaves(wrong_size)
    if merkle.inclusion_proof(ListSource(bigger), index, wrong_size) != proof:
        with pytest.raises(IntegrityError):
            verify_inclusion(index, wrong_size, leaves[index], proof, root_of(bigger))


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_every_consistency_proof_verifies(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 700))
    m = data.draw(st.integers(0, n))
    leaves = _leaves(n)
    old_root, new_root = root_of(leaves[:m]), root_of(leaves)
    proof = merkle.consistency_proof(ListSource(leaves), m, n)
    verify_consistency(m, n, old_root, new_root, proof)
    if 0 < m < n:
        # a fork: the same new size with one old leaf rewritten
        j = data.draw(st.integers(0, m - 1))
        forked = list(leaves)
        forked[j] = hash_leaf(b"rewritten")
        with pytest.raises(IntegrityError):
            verify_consistency(m, n, old_root, root_of(forked), proof)
        wrong_m = data.draw(st.integers(1, n - 1))
        if wrong_m != m:
            with pytest.raises(IntegrityError):
                verify_consistency(wrong_m, n, root_of(leaves[:wrong_m]), new_root, proof)


class _MemTiles:
    """Tiles cut from a list of leaf hashes, the way tlog-tiles defines them (for the TileHashSource test)."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.levels = [leaves]
        while len(self.levels[-1]) >= 256:
            below = self.levels[-1]
            self.levels.append([merkle.perfect_root(below[i : i + 256]) for i in range(0, len(below) - 255, 256)])
        self.reads = 0

    def read_tiles(self, refs: list[TileRef]) -> dict[TileRef, bytes]:
        self.reads += 1
        return {r: b"".join(self.levels[r.level][r.index * 256 : r.index * 256 + r.width]) for r in refs}


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 70_000), st.data())
def test_proofs_from_tiles_match_the_definition(n: int, data: st.DataObject) -> None:
    leaves = _leaves(n, salt=1)
    tiles = _MemTiles(leaves)
    source = TileHashSource(tiles)
    root = merkle.tree_root(source, n)
    state = TileState()
    state.append(leaves)
    assert root == state.root()
    index = data.draw(st.integers(0, n - 1))
    reads = tiles.reads
    proof = merkle.inclusion_proof(source, index, n)
    assert tiles.reads == reads + 1  # one batch of tile reads per proof
    verify_inclusion(index, n, leaves[index], proof, root)
    m = data.draw(st.integers(0, n))
    cons = merkle.consistency_proof(source, m, n)
    verify_consistency(m, n, merkle.tree_root(source, m), root, cons)
    if n <= 3000:
        assert root == root_of(leaves)
        assert proof == merkle.inclusion_proof(ListSource(leaves), index, n)


def test_tile_state_emits_every_full_tile_once() -> None:
    leaves = _leaves(70_000, salt=2)
    state = TileState()
    done = []
    for i in range(0, len(leaves), 999):
        done += state.append(leaves[i : i + 999])
    assert [(lv, idx) for lv, idx, _, _ in done if lv == 0] == [(0, i) for i in range(273)]
    assert [(lv, idx) for lv, idx, _, _ in done if lv == 1] == [(1, 0)]
    level0 = {idx: h for lv, idx, h, _ in done if lv == 0}
    assert split_hashes(level0[5]) == leaves[5 * 256 : 6 * 256]
    assert [len(p) for p in state.partials] == [112, 17, 1]
    assert state.root() == merkle.tree_root(TileHashSource(_MemTiles(leaves)), 70_000)


def test_proof_arguments_are_checked() -> None:
    with pytest.raises(InvalidInput):
        merkle.inclusion_plan(5, 5)
    with pytest.raises(InvalidInput):
        merkle.consistency_plan(6, 5)
    with pytest.raises(InvalidInput):
        tile_for(0, 3, 256)
