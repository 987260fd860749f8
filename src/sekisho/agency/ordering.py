"""In which order an agency applies the change notices it holds about one person.

Registers deliver when they run, not in the order things happened: after a move X → Y, Y's ``moved_in`` may
reach the agency before X's ``moved_out``.  Applying notices as they arrive then leaves the person "moved-out"
although Y registered them.  So the agency keeps every notice and derives the person's state from all of them,
in the order of the events they describe, whatever the delivery order was.

The order is causal and needs no shared clock:

* **within one register**, by the register's own outbox sequence (``Notice.sequence``, its event id): a register
  records a person's changes one after the other;
* **across a move**, the origin's ``moved_out`` and the destination's ``moved_in`` of the same hand-over carry the
  same move id (``Notice.move``, a digest of the transfer): the move-out comes first — the destination activates
  its record only after the origin closed its own;
* consecutive moves share a register (the destination of one is the origin of the next), so these two rules
  chain a person's whole history when the agency holds the notices of both ends.

Only two notices that no chain links (the agency was not entitled to the notice in between, or a notice from
before these fields existed) fall back to the event's date, then to ``recorded_at`` — the registers' clocks,
which may differ — then to the register and sequence, so that the result is the same in every delivery order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

#: statuses an agency keeps per person
ACTIVE, DIED, MOVED_OUT = "active", "died", "moved-out"
#: what a notice of each kind makes of the person's status (the other kinds leave it)
STATUS_AFTER: Mapping[str, str] = {"died": DIED, "moved_out": MOVED_OUT, "moved_in": ACTIVE}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, repr=False)
class HeldNotice:
    """One notice as the agency stored it, with what places it in the person's history."""

    notice_id: str
    kind: str
    event_date: date
    items: Mapping[str, str]
    source: str | None = None  # the register that sent it (municipality code)
    sequence: int | None = None  # that register's outbox sequence
    move: str | None = None  # the hand-over both ends of a move name
    recorded_at: datetime | None = None

    def __repr__(self) -> str:
        return f"HeldNotice(notice_id={self.notice_id!r}, kind={self.kind!r})"

    def _fallback(self) -> tuple[date, datetime, str, int, str]:
        at = self.recorded_at or _EPOCH
        return (
            self.event_date,
            at if at.tzinfo else at.replace(tzinfo=UTC),
            self.source or "",
            self.sequence or 0,
            self.notice_id,
        )


def causal_order(notices: Iterable[HeldNotice]) -> list[HeldNotice]:
    """The notices of one person in the order of the events they describe (see the module's docstring).

    A topological sort of the causal links (same register: by sequence; same move: out before in); among notices
    free to go next, the earliest by date, clock, register, sequence, id — a total order, so the same set of
    notices always gives the same list."""
    items = sorted({n.notice_id: n for n in notices}.values(), key=HeldNotice._fallback)
    n = len(items)
    after: list[set[int]] = [set() for _ in range(n)]
    for i, a in enumerate(items):
        for j, b in enumerate(items):
            if i != j and _precedes(a, b):
                after[i].add(j)
    indegree = [0] * n
    for succ in after:
        for j in succ:
            indegree[j] += 1
    out: list[HeldNotice] = []
    ready = [i for i in range(n) if indegree[i] == 0]
    while ready:
        i = min(ready)  # the index is the fallback rank: items are sorted by it
        ready.remove(i)
        out.append(items[i])
        for j in after[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                ready.append(j)
    if len(out) != n:  # a cycle: links that contradict each other (never from one register's data)
        seen = {x.notice_id for x in out}
        out.extend(x for x in items if x.notice_id not in seen)
    return out


def _precedes(a: HeldNotice, b: HeldNotice) -> bool:
    """A causal link from ``a`` to ``b``: the same register's sequence, or the two ends of one move."""
    if a.source is not None and a.source == b.source and a.sequence is not None and b.sequence is not None:
        return a.sequence < b.sequence
    return a.move is not None and a.move == b.move and a.kind == "moved_out" and b.kind == "moved_in"


def replay(notices: Sequence[HeldNotice], *, status: str, attributes: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The person's status and attributes after ``notices`` (all the agency holds about them).

    ``status``: what the agency holds now (``active`` from the enrolment when no notice changed it).  Each attribute
    a notice carries takes the value of the latest notice (in causal order) that carries it — all of them, every
    time: a notice that arrives late may be the link that reorders two others; the attributes no notice carries
    keep what ``attributes`` holds (the enrolment's).  A death is final: no notice after it makes the person active
    again."""
    ordered = causal_order(notices)
    now = status
    latest: dict[str, str] = {}
    for n in ordered:
        now = STATUS_AFTER.get(n.kind, now)
        latest.update(n.items)
    if any(n.kind == "died" for n in ordered):
        now = DIED
    return now, dict(attributes) | latest
