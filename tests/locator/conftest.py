from __future__ import annotations

from collections.abc import Iterator

import pytest

from pep_network import World, make_world
from sekisho.config import Home


@pytest.fixture
def world(home: Home) -> Iterator[World]:
    yield from make_world(home)
