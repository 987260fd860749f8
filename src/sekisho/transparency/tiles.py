"""C2SP tlog-tiles: tile coordinates and paths, and Merkle proofs computed from tiles.

A tile at level L, index N holds MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) * 256**L]) for i < 256
(c2sp.org/tlog-tiles, "Merkle Tree").  Any perfect subtree of height h is then 2**(h % 8) consecutive hashes of
one tile at level h // 8, so a proof needs a handful of tiles and at most a few hundred hash operations, whatever
the size of the log.  :class:`TileHashSource` turns any :class:`TileReader` (the database, or HTTP) into the
:class:`~sekisho.transparency.merkle.HashSource` that the proof functions want.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sekisho.errors import IntegrityError, InvalidInput
from sekisho.transparency.merkle import EMPTY_ROOT, HASH_SIZE, hash_children, perfect_root

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes, 8,192 bytes per full tile
MAX_LEVEL = 63


@dataclass(frozen=True, slots=True, order=True)
class TileRef:
    """One tile resource: ``level`` is -1 for an entry bundle; ``width`` is 256 for a full tile."""

    level: int
    index: int
    width: int = TILE_WIDTH

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        return tile_path(self.level, self.index, self.width)


ENTRIES = -1


def _index_path(n: int) -> str:
    # tlog-tiles: zero-padded 3-digit elements, all but the last prefixed with "x" (1234067 -> x001/x234/067)
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]``, or ``tile/entries/<N>[.p/<W>]`` for level -1 (c2sp.org/tlog-tiles)."""
    if not (ENTRIES <= level <= MAX_LEVEL) or index < 0 or not (1 <= width <= TILE_WIDTH):
        raise InvalidInput("not a tile coordinate", field="tile")
    head = "tile/entries" if level == ENTRIES else f"tile/{level}"
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"{head}/{_index_path(index)}{suffix}"


_PATH_RE = re.compile(
    r"^tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})(?:\.p/(?P<width>[1-9][0-9]{0,2}))?$"
)


def parse_tile_path(path: str) -> TileRef:
    """The inverse of :func:`tile_path`, strict about the canonical form (one resource, one path)."""
    m = _PATH_RE.match(path)
    if not m:
        raise InvalidInput("not a tile path", field="tile")
    level = ENTRIES if m["level"] == "entries" else int(m["level"])
    elements = m["index"].split("/")
    if len(elements) > 1 and elements[0] == "x000":
        raise InvalidInput("tile index has leading zero elements", field="tile")
    index = int("".join(e.lstrip("x") for e in elements))
    width = int(m["width"]) if m["width"] else TILE_WIDTH
    if level > MAX_LEVEL or (m["width"] and width >= TILE_WIDTH):  # a partial tile has 1..255 hashes
        raise InvalidInput("not a tile coordinate", field="tile")
    return TileRef(level, index, width)


def level_count(size: int, level: int) -> int:
    """How many hashes level ``level`` has in a tree of ``size`` leaves (only full subtrees count)."""
    return size >> (TILE_HEIGHT * level)


def tile_for(level: int, index: int, size: int) -> TileRef:
    """The tile resource holding tile ``index`` of ``level`` as a tree of ``size`` leaves publishes it."""
    count = level_count(size, level) if level >= 0 else size
    if (index + 1) * TILE_WIDTH <= count:
        return TileRef(level, index)
    width = count - index * TILE_WIDTH
    if width <= 0:
        raise InvalidInput("the tile does not exist at this tree size", field="tile")
    return TileRef(level, index, width)


def tiles_for_size(size: int) -> list[TileRef]:
    """The rightmost (partial or full) tile of each level that a tree of ``size`` needs (tlog-tiles example)."""
    out: list[TileRef] = []
    level = 0
    while level_count(size, level) > 0:
        count = level_count(size, level)
        out.append(tile_for(level, (count - 1) // TILE_WIDTH, size))
        level += 1
    return out


class TileReader(Protocol):
    def read_tiles(self, refs: Sequence[TileRef]) -> Mapping[TileRef, bytes]:
        """The bytes of each tile (width * 32 bytes); raise NotFound / IntegrityError when one is missing."""
        ...


class TileHashSource:
    """Roots of perfect subtrees, read from tiles (one batch of tile reads per call)."""

    def __init__(self, reader: TileReader) -> None:
        self._reader = reader

    def subtree_roots(self, subtrees: Sequence[tuple[int, int]], size: int) -> list[bytes]:
        wants: list[tuple[TileRef, int, int]] = []
        for start, height in subtrees:
            level, rest = divmod(height, TILE_HEIGHT)
            unit = start >> (TILE_HEIGHT * level)  # position among level-`level` hashes
            if (start + (1 << height)) > size or start % (1 << height):
                raise InvalidInput("not an aligned subtree of this tree", field="size")
            ref = tile_for(level, unit // TILE_WIDTH, size)
            wants.append((ref, unit % TILE_WIDTH, 1 << rest))
        tiles = self._reader.read_tiles(sorted({w[0] for w in wants}))
        out: list[bytes] = []
        for ref, offset, count in wants:
            data = tiles[ref]
            if len(data) != ref.width * HASH_SIZE:
                raise IntegrityError("a tile has the wrong length", field="tile")
            hashes = [data[i * HASH_SIZE : (i + 1) * HASH_SIZE] for i in range(offset, offset + count)]
            out.append(perfect_root(hashes))
        return out


def split_hashes(data: bytes) -> list[bytes]:
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """An entry bundle: big-endian uint16 length-prefixed entries (c2sp.org/tlog-tiles, "Log entries")."""
    parts: list[bytes] = []
    for e in entries:
        if len(e) > 0xFFFF:
            raise InvalidInput("an entry is longer than an entry bundle can carry", field="entry")
        parts.append(len(e).to_bytes(2, "big"))
        parts.append(e)
    return b"".join(parts)


def decode_bundle(data: bytes) -> list[bytes]:
    out: list[bytes] = []
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise IntegrityError("truncated entry bundle", field="bundle")
        n = int.from_bytes(data[i : i + 2], "big")
        if i + 2 + n > len(data):
            raise IntegrityError("truncated entry bundle", field="bundle")
        out.append(data[i + 2 : i + 2 + n])
        i += 2 + n
    return out


class TileState:
    """The rightmost (partial) tile of every level: all a sequencer needs in memory to extend the tree.

    Appending hashes returns the tiles they complete (to be stored in the same transaction as the leaves);
    the root of the current tree is the right fold of perfect subtrees read off the partial tiles, top level
    first (each level's partial tile covers the leaves right of the level above's).
    """

    __slots__ = ("partials", "size")

    def __init__(self, size: int = 0, partials: list[list[bytes]] | None = None) -> None:
        self.size = size
        self.partials: list[list[bytes]] = partials if partials is not None else []

    def copy(self) -> TileState:
        return TileState(self.size, [list(p) for p in self.partials])

    def append(self, leaf_hashes: Sequence[bytes]) -> list[tuple[int, int, bytes, bytes]]:
        """Add leaf hashes; return the completed tiles as (level, index, 256 hashes, root)."""
        done: list[tuple[int, int, bytes, bytes]] = []
        partials = self.partials
        if not partials:
            partials.append([])
        pos, n = 0, len(leaf_hashes)
        while pos < n:
            p0 = partials[0]
            take = min(TILE_WIDTH - len(p0), n - pos)
            p0.extend(leaf_hashes[pos : pos + take])
            pos += take
            self.size += take
            level = 0
            while len(partials[level]) == TILE_WIDTH:
                hashes = partials[level]
                root = perfect_root(hashes)
                index = (self.size >> (TILE_HEIGHT * (level + 1))) - 1
                done.append((level, index, b"".join(hashes), root))
                partials[level] = []
                if len(partials) == level + 1:
                    partials.append([])
                partials[level + 1].append(root)
                level += 1
        return done

    def subtrees(self) -> list[bytes]:
        """Roots of the perfect subtrees that make up the tree, left to right."""
        out: list[bytes] = []
        for level in range(len(self.partials) - 1, -1, -1):
            hashes = self.partials[level]
            pos, w = 0, len(hashes)
            for bit in range(TILE_HEIGHT - 1, -1, -1):
                if w & (1 << bit):
                    out.append(perfect_root(hashes[pos : pos + (1 << bit)]))
                    pos += 1 << bit
        return out

    def root(self) -> bytes:
        subtrees = self.subtrees()
        if not subtrees:
            return EMPTY_ROOT
        h = subtrees[-1]
        for left in reversed(subtrees[:-1]):
            h = hash_children(left, h)
        return h
