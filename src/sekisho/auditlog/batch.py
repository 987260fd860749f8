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

from collections.abc import Sequence

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
