"""The client side of ``POST /append/batch``: concurrent callers' appends coalesced into few requests, each
caller getting its own receipts (or its own refusal)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from sekisho.auditlog.batch import Coalescer
from sekisho.errors import InvalidInput, Unavailable
from sekisho.transparency import merkle
from sekisho.transparency.log import AppendReceipt


class FakeLog:
    """A log that records each request's entries; its first request waits until ``release`` is set."""

    def __init__(self, *, refuse: bytes | None = None, fail: bool = False) -> None:
        self.requests: list[list[bytes]] = []
        self.release = threading.Event()
        self.refuse, self.fail = refuse, fail
        self._lock = threading.Lock()

    def send(self, entries: list[bytes]) -> list[AppendReceipt]:
        if not self.requests:
            self.release.wait(timeout=30)
        with self._lock:
            self.requests.append(entries)
            if self.fail:
                raise Unavailable("the log cannot be reached", field="log")
            if self.refuse is not None and self.refuse in entries:
                raise InvalidInput("the log refused the entry", field="entry")
            start = sum(len(r) for r in self.requests[:-1])
            return [AppendReceipt(start + i, merkle.hash_leaf(e)) for i, e in enumerate(entries)]


def _callers(c: Coalescer, log: FakeLog, groups: list[list[bytes]]) -> list[object]:
    """The first group is sent alone (and held); the others queue behind it; then the log answers."""
    results: list[object] = [None] * len(groups)

    def run(i: int) -> None:
        try:
            results[i] = c.submit(groups[i])
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(0,))]
    threads[0].start()
    _until(lambda: len(log.requests) == 0 and c._free == 0)  # the first caller is sending
    threads += [threading.Thread(target=run, args=(i,)) for i in range(1, len(groups))]
    for t in threads[1:]:
        t.start()
    _until(lambda: len(c._queue) == len(groups) - 1)  # every other caller waits in the queue
    log.release.set()
    for t in threads:
        t.join(timeout=30)
    return results


def _until(cond: Callable[[], bool]) -> None:
    tick = threading.Event()
    for _ in range(30_000):  # a hang guard; the threads get there at once
        if cond():
            return
        tick.wait(0.001)
    pytest.fail("the callers did not get there")


def test_a_lone_caller_sends_at_once() -> None:
    log = FakeLog()
    log.release.set()
    receipts = Coalescer(log.send).submit([b"a", b"b"])
    assert log.requests == [[b"a", b"b"]]
    assert [r.index for r in receipts] == [0, 1]


def test_callers_waiting_behind_a_request_share_the_next_one() -> None:
    log = FakeLog()
    c = Coalescer(log.send, in_flight=1)
    groups = [[b"first"]] + [[b"%d-%d" % (i, j) for j in range(1 + i % 3)] for i in range(1, 11)]
    results = _callers(c, log, groups)
    # two requests for eleven callers: the held one, then everything queued behind it
    assert len(log.requests) == 2
    assert log.requests[0] == [b"first"]
    assert sorted(log.requests[1]) == sorted(e for g in groups[1:] for e in g)
    for group, receipts in zip(groups, results, strict=True):
        assert isinstance(receipts, list)
        assert [r.leaf_hash for r in receipts] == [merkle.hash_leaf(e) for e in group]
        indices = [r.index for r in receipts]
        assert indices == list(range(indices[0], indices[0] + len(group)))  # a caller's entries stay together


def test_a_refusal_reaches_only_the_caller_whose_entry_it_was() -> None:
    log = FakeLog(refuse=b"bad")
    c = Coalescer(log.send, in_flight=1)
    groups = [[b"first"], [b"ok-1"], [b"bad", b"x"], [b"ok-2"]]
    results = _callers(c, log, groups)
    assert isinstance(results[2], InvalidInput)
    assert [r.leaf_hash for r in results[1]] == [merkle.hash_leaf(b"ok-1")]  # type: ignore[union-attr]
    assert [r.leaf_hash for r in results[3]] == [merkle.hash_leaf(b"ok-2")]  # type: ignore[union-attr]
    # the merged batch was refused whole; then each caller's entries went on their own
    assert [b"ok-1"] in log.requests and [b"ok-2"] in log.requests


def test_a_failure_reaches_every_caller_of_the_batch_and_the_next_callers_still_send() -> None:
    log = FakeLog(fail=True)
    c = Coalescer(log.send, in_flight=1)
    results = _callers(c, log, [[b"first"], [b"a"], [b"b"]])
    assert all(isinstance(r, Unavailable) for r in results)
    log.fail = False
    assert [r.index for r in c.submit([b"later"])] == [sum(len(r) for r in log.requests[:-1])]
