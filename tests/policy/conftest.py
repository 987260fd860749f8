"""Fixtures: a watchdog with the shipped sample PIAs, a movable clock, and (for conversions) the real T1 and T2."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from sekisho.config import Home
from sekisho.policy.pia import load_pia
from sekisho.policy.service import Watchdog

PASSPHRASE = b"correct horse battery staple"
FAST_N = 2**14  # the cheapest scrypt cost key files accept
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 10:00 in Japan
OFFICER = "wd-officer-1"
REJECTED = "samplebank-marketing-2026"


def sample_pias() -> list[Path]:
    return sorted(Path(str(resources.files("sekisho.policy.data").joinpath("pias"))).glob("*.yaml"))


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Policy:
    home: Home
    watchdog: Watchdog
    clock: Clock


def open_watchdog(home: Home, clock: Clock) -> Watchdog:
    return Watchdog.open(home, passphrase=PASSPHRASE, clock=clock, scrypt_n=FAST_N)


def file_samples(wd: Watchdog, *, approve: bool = True) -> None:
    for path in sample_pias():
        pia = load_pia(path)
        wd.submit_pia(pia, by="agency-officer")
        if approve and pia.id != REJECTED:
            wd.approve_pia(pia.id, by=OFFICER)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def policy(home: Home, clock: Clock) -> Iterator[Policy]:
    """A watchdog whose key exists, with every sample PIA filed and all but the bad one approved."""
    wd = open_watchdog(home, clock)
    file_samples(wd)
    yield Policy(home, wd, clock)
    wd.engine.dispose()
