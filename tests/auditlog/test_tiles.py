"""c2sp.org/tlog-tiles: paths, the tiles of a tree, entry bundles (vectors from the spec's examples)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekisho.errors import IntegrityError, InvalidInput
from sekisho.transparency.tiles import TileRef, decode_bundle, encode_bundle, parse_tile_path, tile_path, tiles_for_size

VECTORS = json.loads((Path(__file__).parent / "vectors" / "tiles.json").read_text())


@pytest.mark.parametrize("case", VECTORS["paths"], ids=lambda c: c["path"])
def test_paths(case: dict) -> None:
    assert tile_path(case["level"], case["index"], case["width"]) == case["path"]
    assert parse_tile_path(case["path"]) == TileRef(case["level"], case["index"], case["width"])


@pytest.mark.parametrize("path", VECTORS["bad_paths"])
def test_bad_paths(path: str) -> None:
    with pytest.raises(InvalidInput):
        parse_tile_path(path)


@given(st.integers(-1, 63), st.integers(0, 10**15), st.integers(1, 256))
def test_path_round_trip(level: int, index: int, width: int) -> None:
    assert parse_tile_path(tile_path(level, index, width)) == TileRef(level, index, width)


@pytest.mark.parametrize("case", VECTORS["sizes"], ids=lambda c: str(c["size"]))
def test_tiles_of_a_size(case: dict) -> None:
    assert tiles_for_size(case["size"]) == [TileRef(t["level"], t["index"], t["width"]) for t in case["tiles"]]


def test_bundles() -> None:
    entries = [b"", b"a", b"x" * 300]
    data = encode_bundle(entries)
    assert data[:2] == b"\x00\x00"
    assert data[2:4] == b"\x00\x01"
    assert decode_bundle(data) == entries
    with pytest.raises(IntegrityError):
        decode_bundle(data[:-1])
    with pytest.raises(InvalidInput):
        encode_bundle([b"x" * 70000])
