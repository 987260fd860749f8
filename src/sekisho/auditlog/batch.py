"""Many entries in one ``POST /append/batch``: the request's frame and the answer's shape.

One append per HTTP request costs the log's server far more than the append (~200 µs of request handling against
~15 µs per entry on the writer: docs/benchmarks.md, *Audit log*), so a party that records many accesses at once —
or many at the same time, coalesced — sends them in one request.  The entries get consecutive indices and are
committed in one transaction, like :meth:`~sekisho.auditlog.service.LogService.append_many`; a retry
(``?not_before=``) gets back the indices of the entries already there, like ``resend_many``.

The frame (``application/x-sekisho-log-entries``) is each canonical entry preceded by its length as 4 bytes,
big-endian; nothing else.  The answer is ``{"indices": [...], "leaf_hashes": [<hex>, ...]}``, in the order
sent.  A malformed frame, an empty one, too many entries or one invalid entry refuses the whole batch (422, the
same problem document as a single append): nothing of it is logged.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

from sekisho.errors import InvalidInput
from sekisho.transparency.entry import MAX_ENTRY_BYTES
from sekisho.transparency.log import AppendReceipt

MEDIA_TYPE = "application/x-sekisho-log-entries"
#: entries per request: ~2 MiB of the largest entries, far below the body limit (SEKISHO_MAX_BODY)
MAX_BATCH = 512


def encode_entries(entries: Sequence[bytes]) -> bytes:
    """The frame of ``entries`` (each with its 4-byte length)."""
    return b"".join(len(e).to_bytes(4, "big") + e for e in entries)


def decode_entries(body: bytes) -> list[bytes]:
    """The entries of a frame; refuses a malformed, empty or oversized one (naming nothing of its content)."""
    out: list[bytes] = []
    pos, end = 0, len(body)
    while pos < end:
        if end - pos < 4:
            raise InvalidInput("a truncated entry length in the batch", field="body")
        n = int.from_bytes(body[pos : pos + 4], "big")
        pos += 4
        if n > MAX_ENTRY_BYTES or pos + n > end:
            raise InvalidInput("an entry length beyond the batch or the entry limit", field="body")
        out.append(body[pos : pos + n])
        pos += n
        if len(out) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} entries per batch", field="body")
    if not out:
        raise InvalidInput("an empty batch", field="body")
    return out


def receipts_body(receipts: Sequence[AppendReceipt]) -> dict[str, object]:
    """The answer to a batch: every entry's index and leaf hash, in the order sent."""
    return {"indices": [r.index for r in receipts], "leaf_hashes": [r.leaf_hash.hex() for r in receipts]}


def parse_receipts(body: object, entries: Sequence[bytes]) -> list[AppendReceipt]:
    """The receipts in a batch's answer; raises unless it names one index and leaf hash per entry sent."""
    if not isinstance(body, dict):
        raise InvalidInput("the log's answer to a batch is not an object", field="log")
    indices, hashes = body.get("indices"), body.get("leaf_hashes")
    if not isinstance(indices, list) or not isinstance(hashes, list) or not len(indices) == len(hashes) == len(entries):
        raise InvalidInput("the log's answer to a batch does not match the batch", field="log")
    return [AppendReceipt(index=int(i), leaf_hash=bytes.fromhex(h)) for i, h in zip(indices, hashes, strict=True)]


class _Job:
    __slots__ = ("entries", "error", "finished", "lead", "receipts", "wake")

    def __init__(self, entries: Sequence[bytes]) -> None:
        self.entries = list(entries)
        self.receipts: list[AppendReceipt] = []
        self.error: Exception | None = None
        self.finished = False
        self.lead = False
        self.wake = threading.Event()

    def result(self) -> list[AppendReceipt]:
        if self.error is not None:
            raise self.error
        return self.receipts


class Coalescer:
    """The appends of a party's concurrent threads in as few requests as possible (group commit, client side).

    Each caller queues its entries and waits; at most ``in_flight`` callers at a time act as the sender, each
    taking everything queued (up to :data:`MAX_BATCH` entries, whole calls only) into one ``send`` — one
    ``POST /append/batch``, one transaction at the log — and handing every caller its own receipts.  A caller
    alone sends at once, as before; under load the requests carry many callers' entries, so that the log's
    server handles one request for them all.  A caller's entries stay consecutive and in one transaction.  When
    the log refuses a merged batch (one caller's invalid entry), each caller's entries are sent again on their
    own, so that only that caller hears the refusal; any other failure reaches every caller of the batch (the
    append may or may not have happened: they retry, as with a single request).
    """

    def __init__(self, send: Callable[[list[bytes]], list[AppendReceipt]], *, in_flight: int = 2) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._queue: deque[_Job] = deque()
        self._free = in_flight

    def submit(self, entries: Sequence[bytes]) -> list[AppendReceipt]:
        job = _Job(entries)
        with self._lock:
            self._queue.append(job)
            lead = self._free > 0
            if lead:
                self._free -= 1
        while True:
            if lead:
                lead = False
                self._round()
            if job.finished:
                return job.result()
            job.wake.wait()
            with self._lock:
                lead, job.lead = job.lead, False
                job.wake.clear()

    def _round(self) -> None:
        """Send one batch of what is queued, then pass the sender's slot to a waiting caller (or free it)."""
        group: list[_Job] = []
        with self._lock:
            count = 0
            while self._queue and (not group or count + len(self._queue[0].entries) <= MAX_BATCH):
                job = self._queue.popleft()
                group.append(job)
                count += len(job.entries)
        try:
            if group:
                self._flush(group)
        finally:
            with self._lock:
                nxt = next((j for j in self._queue if not j.lead), None)
                if nxt is None:
                    self._free += 1
                else:
                    nxt.lead = True
                    nxt.wake.set()

    def _flush(self, group: list[_Job]) -> None:
        try:
            receipts = self._send([e for job in group for e in job.entries])
        except InvalidInput as exc:
            if len(group) == 1:
                self._fail(group, exc)
                return
            for job in group:  # whose entry was refused: each caller's own, again
                self._flush([job])
            return
        except Exception as exc:  # every caller of the batch hears it (the log may or may not have the entries)
            self._fail(group, exc)
            return
        pos = 0
        for job in group:
            job.receipts = receipts[pos : pos + len(job.entries)]
            pos += len(job.entries)
            job.finished = True
            job.wake.set()

    @staticmethod
    def _fail(group: list[_Job], exc: Exception) -> None:
        for job in group:
            job.error = exc
            job.finished = True
            job.wake.set()
