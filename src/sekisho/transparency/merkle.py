"""RFC 9162 §2.1 Merkle tree hashing, proofs and their verification (SHA-256, as RFC 6962 and C2SP tlog-tiles).

Pure functions on bytes.  Proof *generation* here works on any :class:`HashSource` that can give the root of a
perfect, aligned subtree (2^k leaves starting at a multiple of 2^k); :mod:`sekisho.transparency.tiles` supplies one
that reads 256-wide tiles, so a proof never rehashes the tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol

from sekisho.errors import IntegrityError, InvalidInput

HASH_SIZE = 32
_sha256 = hashlib.sha256

#: MTH({}) = SHA-256() (RFC 9162 §2.1.1)
EMPTY_ROOT = _sha256(b"").digest()


def hash_leaf(data: bytes) -> bytes:
    """MTH({d0}) = HASH(0x00 || d0) (RFC 9162 §2.1.1)."""
    return _sha256(b"\x00" + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || MTH(left) || MTH(right)) (RFC 9162 §2.1.1)."""
    return _sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1), the split point of RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """The root over 2^k hashes of one level (a full subtree); used to climb inside a tile."""
    level = list(hashes)
    while len(level) > 1:
        level = [_sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes, by the recursive definition of RFC 9162 §2.1.1 (reference; small inputs)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = largest_power_of_two_below(n)
    return hash_children(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


class CompactRange:
    """The roots of the perfect subtrees that make up D[0:n], left to right: O(log n) memory, one hash per leaf
    on average.  The tree root is their right fold (RFC 9162 §2.1.1 splits the rightmost part last)."""

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, leaf_hash: bytes) -> None:
        h = leaf_hash
        n = self.size
        stack = self._stack
        # every trailing 1 bit of n closes a perfect subtree with the new node
        while n & 1:
            h = _sha256(b"\x01" + stack.pop() + h).digest()
            n >>= 1
        stack.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        h = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            h = _sha256(b"\x01" + left + h).digest()
        return h


# --- proof plans ----------------------------------------------------------------------------------------
# A proof is a list of MTH(D[a:b]) values.  The plans below name those ranges (absolute leaf indices); every
# range starts at a multiple of a power of two at least its length, so it decomposes into perfect subtrees.


def _check_range(index: int, size: int) -> None:
    if size < 0 or index < 0:
        raise InvalidInput("must not be negative", field="size")


def inclusion_plan(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf to root."""
    _check_range(index, size)
    if index >= size:
        raise InvalidInput("the leaf index must be smaller than the tree size", field="index")
    out: list[tuple[int, int]] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = largest_power_of_two_below(hi - lo)
        if m < k:
            out.append((lo + k, hi))  # PATH(m, D[0:k]) : MTH(D[k:n])
            hi = lo + k
        else:
            out.append((lo, lo + k))  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            lo, m = lo + k, m - k
    out.reverse()
    return out


def consistency_plan(old: int, new: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PROOF(old, D[0:new]) (RFC 9162 §2.1.4.1); empty when 0 == old or old == new."""
    _check_range(old, new)
    if old > new:
        raise InvalidInput("the old size must not exceed the new size", field="old")
    if old == 0 or old == new:
        return []
    out: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, new, old, True
    while True:
        n = hi - lo
        if m == n:
            # SUBPROOF(m, D[m], true) = {} ; SUBPROOF(m, D[m], false) = {MTH(D[m])}
            if not whole:
                out.append((lo, hi))
            break
        k = largest_power_of_two_below(n)
        if m <= k:
            out.append((lo + k, hi))  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            hi = lo + k
        else:
            out.append((lo, lo + k))  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            lo, m, whole = lo + k, m - k, False
    out.reverse()
    return out


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """Decompose D[start:end] (start aligned as in the plans) into perfect subtrees (start, height), left to right."""
    out: list[tuple[int, int]] = []
    a = start
    remaining = end - start
    while remaining:
        height = remaining.bit_length() - 1
        out.append((a, height))
        a += 1 << height
        remaining -= 1 << height
    return out


class HashSource(Protocol):
    def subtree_roots(self, subtrees: Sequence[tuple[int, int]], size: int) -> list[bytes]:
        """Roots of perfect subtrees (start, height) of the tree of the given size, in order."""
        ...


def range_hashes(source: HashSource, ranges: Sequence[tuple[int, int]], size: int) -> list[bytes]:
    """MTH(D[a:b]) for each range: the right fold of its perfect subtrees, all fetched in one call."""
    pieces = [perfect_subtrees(a, b) for a, b in ranges]
    roots = source.subtree_roots([p for ps in pieces for p in ps], size)
    out: list[bytes] = []
    i = 0
    for ps in pieces:
        part = roots[i : i + len(ps)]
        i += len(ps)
        h = part[-1]
        for left in reversed(part[:-1]):
            h = hash_children(left, h)
        out.append(h)
    return out


def tree_root(source: HashSource, size: int) -> bytes:
    if size == 0:
        return EMPTY_ROOT
    return range_hashes(source, [(0, size)], size)[0]


def inclusion_proof(source: HashSource, index: int, size: int) -> list[bytes]:
    return range_hashes(source, inclusion_plan(index, size), size)


def consistency_proof(source: HashSource, old: int, new: int) -> list[bytes]:
    return range_hashes(source, consistency_plan(old, new), new)


# --- verification ---------------------------------------------------------------------------------------


def _check_hashes(proof: Sequence[bytes], *named: tuple[str, bytes]) -> None:
    for field, h in named:
        if len(h) != HASH_SIZE:
            raise IntegrityError("must be a 32-byte SHA-256 hash", field=field)
    for p in proof:
        if len(p) != HASH_SIZE:
            raise IntegrityError("every proof element must be a 32-byte hash", field="proof")


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that an inclusion proof leads to (RFC 9162 §2.1.3.2, steps 1-4); raises if the shape is wrong."""
    _check_hashes(proof, ("leaf_hash", leaf_hash))
    if index < 0 or index >= size:
        raise IntegrityError("the leaf index is outside the tree", field="index")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise IntegrityError("the inclusion proof is longer than the tree is deep", field="proof")
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise IntegrityError("the inclusion proof is shorter than the tree is deep", field="proof")
    return r


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2: raise unless ``proof`` shows that leaf ``index`` of the tree of ``size`` is ``leaf_hash``."""
    _check_hashes((), ("root", root))
    if root_from_inclusion_proof(index, size, leaf_hash, proof) != root:
        raise IntegrityError("the inclusion proof does not lead to the root", field="proof")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2: raise unless the tree of size ``new`` extends the tree of size ``old``."""
    _check_hashes(proof, ("old_root", old_root), ("new_root", new_root))
    if old < 0 or new < old:
        raise IntegrityError("the new tree is smaller than the old one", field="size")
    if old == new:
        # nothing to prove: the same size must mean the same tree
        if proof:
            raise IntegrityError("a proof between equal sizes must be empty", field="proof")
        if old_root != new_root:
            raise IntegrityError("two different roots for one tree size", field="root")
        return
    if old == 0:
        # the empty tree is a prefix of every tree
        if proof:
            raise IntegrityError("a proof from the empty tree must be empty", field="proof")
        return
    if not proof:  # step 1
        raise IntegrityError("the consistency proof is empty", field="proof")
    path = list(proof)
    if old & (old - 1) == 0:  # step 2: old is a power of two, its root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise IntegrityError("the consistency proof is too long", field="proof")
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    # step 7
    if sn != 0:
        raise IntegrityError("the consistency proof is too short", field="proof")
    if fr != old_root:
        raise IntegrityError("the consistency proof does not lead to the old root", field="proof")
    if sr != new_root:
        raise IntegrityError("the consistency proof does not lead to the new root", field="proof")


class ListSource:
    """A :class:`HashSource` over leaf hashes held in memory (tests, small trees, clients that hold a bundle)."""

    def __init__(self, leaf_hashes: Sequence[bytes], hasher: Callable[[Sequence[bytes]], bytes] = perfect_root) -> None:
        self._leaves = leaf_hashes
        self._hasher = hasher

    def subtree_roots(self, subtrees: Sequence[tuple[int, int]], size: int) -> list[bytes]:
        if size > len(self._leaves):
            raise InvalidInput("the tree is smaller than the size asked", field="size")
        return [self._hasher(self._leaves[a : a + (1 << h)]) for a, h in subtrees]
