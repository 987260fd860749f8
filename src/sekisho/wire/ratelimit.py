"""A token bucket per caller key (a terminal's id, or a party's name for requests without a terminal).

Each key may make ``burst`` requests at once and ``rate`` per second after that.  A refusal says when the next
request would pass (``Retry-After``), and whether it begins an episode of refusals: the guard alerts once per
episode, so that a flood is one finding for the watchdog and not thousands.  One process, one limiter: each party
is one process (``sekisho serve``), so the buckets live in memory.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sekisho.errors import InvalidInput
from sekisho.wire.refusals import RateLimited


@dataclass(frozen=True, slots=True)
class Limit:
    #: tokens per second
    rate: float
    #: the bucket's size: requests that may come at once
    burst: int

    def __post_init__(self) -> None:
        if not self.rate > 0 or self.burst < 1:
            raise InvalidInput("a limit needs a positive rate and a burst of at least 1", field="limit")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    refusing: bool = False


class RateLimiter:
    def __init__(self, limit: Limit, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """One request by ``key``: passes, or raises :class:`~sekisho.wire.refusals.RateLimited`."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._max_keys:
                    self._forget_idle(now)
                bucket = self._buckets[key] = _Bucket(tokens=float(self.limit.burst), at=now)
            else:
                bucket.tokens = min(float(self.limit.burst), bucket.tokens + (now - bucket.at) * self.limit.rate)
                bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                bucket.refusing = False
                return
            first = not bucket.refusing
            bucket.refusing = True
            wait = (1.0 - bucket.tokens) / self.limit.rate
        raise RateLimited("too many requests from this caller", field="rate", retry_after=math.ceil(wait), first=first)

    def _forget_idle(self, now: float) -> None:
        # a bucket that would be full again carries no state worth keeping
        full = float(self.limit.burst)
        for key in [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.limit.rate >= full]:
            del self._buckets[key]
