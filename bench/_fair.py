"""What every benchmark shares to compare like with like: ours and its baseline run alternately, round after
round, in the same run, and the median of each is reported beside the machine's load (a shared machine's
neighbours move both figures; alternating makes them move together, the load says how much)."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence

#: fewest rounds a reported figure is the median of
MIN_ROUNDS = 3


def load() -> str:
    """The machine's load average (1, 5, 15 min) and core count, printed beside every figure."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def alternate(rounds: int, *measures: Callable[[], float]) -> list[float]:
    """Each measure's median over ``max(rounds, MIN_ROUNDS)`` rounds, the measures run in turn within a round."""
    samples: list[list[float]] = [[] for _ in measures]
    for _ in range(max(rounds, MIN_ROUNDS)):
        for out, measure in zip(samples, measures, strict=True):
            out.append(measure())
    return [statistics.median(s) for s in samples]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
