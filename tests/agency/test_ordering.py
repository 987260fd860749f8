"""The order an agency applies notices in (issue 9 item 1): the person's history, whatever the delivery order and
whatever the registers' clocks say."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from sekisho.agency.ordering import ACTIVE, DIED, MOVED_OUT, HeldNotice, causal_order, replay

REGISTERS = ("212016", "131016", "011002", "271004")


@dataclass
class _History:
    """A person's true history, as the registers record it: each register its own sequence and clock."""

    notices: list[HeldNotice] = field(default_factory=list)
    status: str = ACTIVE
    attributes: dict[str, str] = field(default_factory=lambda: {"address": "first", "name": "初"})


@st.composite
def histories(draw: st.DrawFn) -> _History:
    skew = {r: timedelta(minutes=draw(st.integers(-3000, 3000))) for r in REGISTERS}
    seq = {r: draw(st.integers(1, 50)) for r in REGISTERS}
    here = draw(st.sampled_from(REGISTERS))
    day, t = date(2026, 11, 1), datetime(2026, 11, 1, 9, tzinfo=UTC)
    h = _History()
    truth = dict(h.attributes)
    moves = 0

    def emit(register: str, kind: str, items: dict[str, str], move: str | None = None) -> None:
        nonlocal t
        t += timedelta(minutes=draw(st.integers(1, 30)))
        seq[register] += draw(st.integers(1, 3))  # other residents' events in between
        h.notices.append(
            HeldNotice(
                notice_id=f"{register}-{seq[register]}",
                kind=kind,
                event_date=day,
                items=items,
                source=register,
                sequence=seq[register],
                move=move,
                recorded_at=t + skew[register],
            )
        )
        truth.update(items)

    steps = draw(st.lists(st.sampled_from(["move", "within", "name"]), max_size=6))
    for i, step in enumerate(steps):
        day += timedelta(days=draw(st.integers(0, 1)))  # often the same day
        if step == "move":
            there = draw(st.sampled_from([r for r in REGISTERS if r != here]))
            moves += 1
            emit(here, "moved_out", {"moved": day.isoformat()}, move=f"m{moves}")
            emit(there, "moved_in", {"address": f"{there}-{i}"}, move=f"m{moves}")
            here = there
        elif step == "within":
            emit(here, "moved_within", {"address": f"{here}-{i}"})
        else:
            emit(here, "name_changed", {"name": f"名{i}"})
    end = draw(st.sampled_from(["stay", "died", "abroad"]))
    if end == "died":
        emit(here, "died", {"death": day.isoformat()})
    elif end == "abroad":
        emit(here, "moved_out", {"moved": day.isoformat()})  # 国外転出: no destination, no move id
    h.status = {"stay": ACTIVE, "died": DIED, "abroad": MOVED_OUT}[end]
    h.attributes = truth
    return h


@settings(max_examples=300, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_any_delivery_order_ends_in_the_state_of_the_history(h: _History, rnd: object) -> None:
    order = list(h.notices)
    rnd.shuffle(order)  # type: ignore[attr-defined]
    status, attrs = ACTIVE, {"address": "first", "name": "初"}
    held: list[HeldNotice] = []
    for n in order:  # one at a time, as the agency receives them
        held.append(n)
        status, attrs = replay(held, status=status, attributes=attrs)
    assert (status, attrs) == (h.status, h.attributes)
    assert causal_order(order) == h.notices


def test_without_links_the_date_then_the_clock_decides() -> None:
    """Two registers, no move between them that the agency saw (it is not entitled to moved_out): the later
    event date wins; on one day, the recorded time."""
    a = HeldNotice("a-1", "moved_in", date(2026, 11, 2), {"address": "a"}, source="a", sequence=1)
    b = HeldNotice("b-1", "moved_in", date(2026, 11, 3), {"address": "b"}, source="b", sequence=1)
    assert causal_order([b, a]) == [a, b]
    early = datetime(2026, 11, 2, 9, tzinfo=UTC)
    c = HeldNotice("c-1", "moved_within", date(2026, 11, 2), {"address": "c"}, "c", 7, recorded_at=early)
    d = HeldNotice(
        "d-1", "moved_within", date(2026, 11, 2), {"address": "d"}, "d", 1, recorded_at=early.replace(hour=10)
    )
    assert replay([d, c], status=ACTIVE, attributes={}) == (ACTIVE, {"address": "d"})
