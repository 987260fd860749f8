"""How other parties use the log: the :class:`AccessLog` protocol, its in-process and HTTP implementations, and
what a resident's client verifies.

Verification works on checkpoints, proofs and entry bytes, never on HTTP responses: a client trusts a checkpoint
only with the log's signature and a witness's cosignature (:func:`verify_witnessed_checkpoint`), then checks
every inclusion proof against it and the consistency proof from the checkpoint it saw last.
"""

from __future__ import annotations

import base64
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from sekisho.auditlog import merkle
from sekisho.auditlog.checkpoint import Checkpoint, verify_witnessed_checkpoint
from sekisho.auditlog.entry import LogEntry, scan_for_subject, verify_subject
from sekisho.auditlog.keys import LOG_PARTY
from sekisho.auditlog.note import Verifier
from sekisho.auditlog.sequencer import AppendReceipt
from sekisho.auditlog.service import LogService
from sekisho.auditlog.tiles import ENTRIES, TILE_WIDTH, TileHashSource, TileRef, TileState, decode_bundle, tile_for
from sekisho.config import Home
from sekisho.errors import IntegrityError, InvalidInput, NotFound, Unavailable


class AccessLog(Protocol):
    """The log as a municipality (appending) and a resident's portal (proving) see it."""

    def append(self, entry_bytes: bytes) -> AppendReceipt:
        """Append a canonical entry; return only once it is durable."""
        ...

    def append_many(self, entries: Sequence[bytes]) -> list[AppendReceipt]:
        """Append entries (consecutive indices where the log can); return only once all are durable."""
        ...

    def resend_many(self, entries: Sequence[bytes], *, not_before: int) -> list[AppendReceipt]:
        """Entries whose earlier append may have happened (its answer was lost): each one's index if the log
        already has it at ``not_before`` or later, else appended now.  Never appends an entry twice."""
        ...

    def latest_witnessed_checkpoint(self) -> Checkpoint:
        """The newest checkpoint that the log signed and the trusted witnesses cosigned (verified)."""
        ...

    def latest_witnessed_note(self) -> str:
        """The same, as the signed note text (for the resident to verify independently)."""
        ...

    def latest_witnessed(self) -> tuple[str, Checkpoint]:
        """The newest witnessed checkpoint as note text and verified, from one fetch (so that the two agree)."""
        ...

    def verify_document(self, doc: dict[str, object]) -> tuple[Checkpoint, list[tuple[int, LogEntry]]]:
        """Verify an access-list document exactly as the resident's verifier does (``sekisho log verify-list``:
        :func:`verify_access_document`), with this client's trust in the log and its witnesses."""
        ...

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]: ...

    def consistency_proof(self, m: int, n: int) -> list[bytes]: ...


class _TrustMixin(ABC):
    log_vkey: Verifier
    witness_vkeys: tuple[Verifier, ...]
    min_witnesses: int

    @abstractmethod
    def latest_witnessed_note(self) -> str: ...

    def latest_witnessed_checkpoint(self) -> Checkpoint:
        return self.latest_witnessed()[1]

    def latest_witnessed(self) -> tuple[str, Checkpoint]:
        note = self.latest_witnessed_note()
        return note, verify_witnessed_checkpoint(
            note, self.log_vkey, self.witness_vkeys, min_witnesses=self.min_witnesses
        )

    def verify_document(self, doc: dict[str, object]) -> tuple[Checkpoint, list[tuple[int, LogEntry]]]:
        return verify_access_document(doc, self.log_vkey, self.witness_vkeys, min_witnesses=self.min_witnesses)


class InProcessAccessLog(_TrustMixin):
    """:class:`AccessLog` over a :class:`LogService` in this process (the demo network, tests)."""

    def __init__(
        self,
        service: LogService,
        *,
        log_vkey: Verifier | None = None,
        witness_vkeys: Sequence[Verifier] | None = None,
        min_witnesses: int = 1,
    ) -> None:
        self.service = service
        self.log_vkey = log_vkey or service.config.vkey
        self.witness_vkeys = tuple(service.config.witnesses if witness_vkeys is None else witness_vkeys)
        self.min_witnesses = min_witnesses

    def append(self, entry_bytes: bytes) -> AppendReceipt:
        return self.service.append(entry_bytes)

    def append_many(self, entries: Sequence[bytes]) -> list[AppendReceipt]:
        return self.service.append_many(entries)

    def resend_many(self, entries: Sequence[bytes], *, not_before: int) -> list[AppendReceipt]:
        return self.service.resend_many(entries, not_before=not_before)

    def latest_witnessed_note(self) -> str:
        note = self.service.latest_checkpoint(witnessed=True)
        if note is None:
            raise NotFound("the log has no witnessed checkpoint yet", field="checkpoint")
        return note

    def signed_checkpoint(self) -> str:
        """The latest checkpoint the log signed (witnessed or not): what a witness pulls."""
        note = self.service.latest_checkpoint(witnessed=False)
        if note is None:
            raise NotFound("the log has not signed a checkpoint yet", field="checkpoint")
        return note

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        return self.service.inclusion_proof(index=index, size=tree_size)

    def consistency_proof(self, m: int, n: int) -> list[bytes]:
        return self.service.consistency_proof(old=m, new=n)

    def read_tiles(self, refs: Sequence[TileRef]) -> dict[TileRef, bytes]:
        out: dict[TileRef, bytes] = {}
        for ref in refs:
            out[ref] = self.service.published_tile(ref)
        return out


class HttpAccessLog(_TrustMixin):
    """:class:`AccessLog` over the tiles API (``sekisho log serve``): proofs are computed here, from tiles."""

    def __init__(
        self,
        base_url: str,
        *,
        log_vkey: Verifier,
        witness_vkeys: Sequence[Verifier],
        min_witnesses: int = 1,
        client: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base = base_url.rstrip("/") + "/"
        self.log_vkey = log_vkey
        self.witness_vkeys = tuple(witness_vkeys)
        self.min_witnesses = min_witnesses
        self._http = client or httpx.Client(timeout=timeout)
        self._tiles = TileHashSource(self)

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str) -> httpx.Response:
        try:
            resp = self._http.get(self.base + path)
        except httpx.HTTPError as exc:
            raise Unavailable("the log cannot be reached", field="log") from exc
        if resp.status_code == 404:
            raise NotFound("the log does not have that resource", field="log")
        if resp.status_code != 200:
            _refusal(resp)
            raise Unavailable(f"the log answered HTTP {resp.status_code}", field="log")
        return resp

    def append_many(self, entries: Sequence[bytes]) -> list[AppendReceipt]:
        # one request per entry: the tiles API's append endpoint takes one entry (the log batches commits)
        return [self.append(e) for e in entries]

    def resend_many(self, entries: Sequence[bytes], *, not_before: int) -> list[AppendReceipt]:
        return [self._post_append(e, {"not_before": str(not_before)}) for e in entries]

    def append(self, entry_bytes: bytes) -> AppendReceipt:
        return self._post_append(entry_bytes, None)

    def _post_append(self, entry_bytes: bytes, params: dict[str, str] | None) -> AppendReceipt:
        try:
            resp = self._http.post(
                self.base + "append",
                content=entry_bytes,
                params=params,
                headers={"content-type": "application/octet-stream"},
            )
        except httpx.HTTPError as exc:
            raise Unavailable(
                "the log cannot be reached; the append may or may not have happened", field="log"
            ) from exc
        if resp.status_code == 422:
            raise InvalidInput("the log refused the entry", field="entry")
        if resp.status_code != 200:
            _refusal(resp)
            raise Unavailable(f"the log answered HTTP {resp.status_code}", field="log")
        body = resp.json()
        return AppendReceipt(index=int(body["index"]), leaf_hash=bytes.fromhex(body["leaf_hash"]))

    def latest_witnessed_note(self) -> str:
        return self._get("checkpoint").text

    def read_tiles(self, refs: Sequence[TileRef]) -> dict[TileRef, bytes]:
        return {ref: self._get(ref.path).content for ref in refs}

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        return merkle.inclusion_proof(self._tiles, index, tree_size)

    def consistency_proof(self, m: int, n: int) -> list[bytes]:
        return merkle.consistency_proof(self._tiles, m, n)


# --- the resident's side ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccessListItem:
    """One access as the municipality's portal lists it to the resident, with its proof of inclusion."""

    index: int
    entry: bytes
    proof: tuple[bytes, ...]
    #: the nonce of a sealed entry, once the municipality reveals it (after ``sealed_until``)
    nonce: bytes | None = None


def build_access_list(
    log: AccessLog, records: Sequence[tuple[int, bytes, bytes | None]], checkpoint: Checkpoint
) -> list[AccessListItem]:
    """For the portal: (index, entry bytes, revealed nonce or None) rows with proofs against ``checkpoint``."""
    out: list[AccessListItem] = []
    for index, entry, nonce in records:
        if index >= checkpoint.size:
            continue  # not yet covered by a witnessed checkpoint; listed on the next one
        out.append(AccessListItem(index, entry, tuple(log.inclusion_proof(index, checkpoint.size)), nonce))
    return out


def verify_access_list(
    items: Sequence[AccessListItem],
    checkpoint: Checkpoint,
    previous_checkpoint: Checkpoint | None = None,
    *,
    k_res: bytes,
    consistency_proof: Sequence[bytes] = (),
) -> list[tuple[int, LogEntry]]:
    """What the resident's client checks; returns the verified entries, or raises.

    ``checkpoint`` must come from :func:`verify_witnessed_checkpoint`.  Every item must be included in it, be
    a valid entry, and carry this resident's commitment (sealed items need their revealed nonce); the
    checkpoint must extend ``previous_checkpoint``, the last one this resident saw.
    """
    if previous_checkpoint is not None:
        if previous_checkpoint.origin != checkpoint.origin:
            raise IntegrityError("the two checkpoints are from different logs", field="checkpoint")
        merkle.verify_consistency(
            previous_checkpoint.size,
            checkpoint.size,
            previous_checkpoint.root_hash,
            checkpoint.root_hash,
            consistency_proof,
        )
    seen: set[int] = set()
    out: list[tuple[int, LogEntry]] = []
    for item in items:
        if item.index in seen:
            raise InvalidInput("an access is listed twice", field="index")
        seen.add(item.index)
        merkle.verify_inclusion(
            item.index, checkpoint.size, merkle.hash_leaf(item.entry), item.proof, checkpoint.root_hash
        )
        entry = LogEntry.decode(item.entry)
        verify_subject(entry, k_res, nonce=item.nonce)
        out.append((item.index, entry))
    return out


def iter_log(reader: _TileReader, checkpoint: Checkpoint) -> Iterator[tuple[int, bytes]]:
    """Every entry of the tree of ``checkpoint``, from entry bundles, checked against the checkpoint's root.

    The entries are yielded as they are read; the root is compared at the end, so a consumer must finish the
    iteration (an exception at the end voids everything yielded).
    """
    state = TileState()
    size = checkpoint.size
    for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        ref = tile_for(ENTRIES, n, size)
        data = reader.read_tiles([ref])[ref]
        bundle = decode_bundle(data)
        if len(bundle) != ref.width:
            raise IntegrityError("an entry bundle has the wrong number of entries", field="bundle")
        state.append([merkle.hash_leaf(e) for e in bundle])
        yield from enumerate(bundle, n * TILE_WIDTH)
    if state.root() != checkpoint.root_hash:
        raise IntegrityError("the log's entries do not match the checkpoint", field="checkpoint")


class _TileReader(Protocol):
    def read_tiles(self, refs: Sequence[TileRef]) -> dict[TileRef, bytes]: ...


def find_my_entries(reader: _TileReader, checkpoint: Checkpoint, k_res: bytes) -> list[tuple[int, LogEntry]]:
    """Scan the whole log for this resident's (unsealed) entries: nothing the municipality could hide.

    Reads every entry bundle up to the witnessed ``checkpoint``, recomputes the root, and keeps the entries
    whose subject is HMAC(k_res, nonce).  Sealed entries stay invisible until their nonce is revealed.
    """
    entries = list(iter_log(reader, checkpoint))  # completes the root check before anything is returned
    return list(scan_for_subject(entries, k_res))


def verify_access_document(
    doc: dict[str, object],
    log_vkey: Verifier,
    witness_vkeys: Sequence[Verifier],
    *,
    previous_note: str | None = None,
    min_witnesses: int = 1,
) -> tuple[Checkpoint, list[tuple[int, LogEntry]]]:
    """Verify a resident's access-list document (``sekisho-access-list/1``, as the portal hands it out).

    The checkpoint must carry the log's signature and the witnesses' cosignatures; with ``previous_note`` (the
    checkpoint the resident saw last) the new one must extend it; every listed entry must be included and carry
    this resident's commitment.  Returns the verified checkpoint and entries, or raises.
    """
    if doc.get("format") != "sekisho-access-list/1":
        raise InvalidInput("is not a sekisho access list (format sekisho-access-list/1)", field="format")
    try:
        k_res = bytes.fromhex(str(doc["commitment_key"]))
        note = str(doc["checkpoint"])
        raw_items = doc["items"]
        raw_consistency = doc.get("consistency") or []
        if not isinstance(raw_items, list) or not isinstance(raw_consistency, list):
            raise TypeError
        items = [
            AccessListItem(
                index=int(it["index"]),
                entry=str(it["entry"]).encode(),
                proof=tuple(base64.b64decode(p) for p in it["proof"]),
                nonce=bytes.fromhex(it["nonce"]) if it.get("nonce") else None,
            )
            for it in raw_items
        ]
        consistency = [base64.b64decode(p) for p in raw_consistency]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("the access list document is malformed", field="document") from exc
    checkpoint = verify_witnessed_checkpoint(note, log_vkey, witness_vkeys, min_witnesses=min_witnesses)
    previous = None
    if previous_note is not None:
        previous = verify_witnessed_checkpoint(previous_note, log_vkey, witness_vkeys, min_witnesses=min_witnesses)
    verified = verify_access_list(items, checkpoint, previous, k_res=k_res, consistency_proof=consistency)
    return checkpoint, verified


def b64_proof(proof: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(p).decode() for p in proof]


__all__ = [
    "AccessListItem",
    "AccessLog",
    "AppendReceipt",
    "HttpAccessLog",
    "InProcessAccessLog",
    "b64_proof",
    "build_access_list",
    "find_my_entries",
    "iter_log",
    "verify_access_document",
    "verify_access_list",
]


def _refusal(resp: httpx.Response) -> None:
    """Raise what a refusal by the log (or the guard before it: 401, 403, 413, 429) names; return for a failure
    of the log itself, which the caller reports as unavailable."""
    if 400 <= resp.status_code < 500:
        from sekisho.problems import raise_for_problem  # here: a reader of the log needs no FastAPI

        raise_for_problem(resp)


_LOGS: dict[tuple[str, str | None, str], InProcessAccessLog] = {}
_LOGS_LOCK = threading.Lock()


def local_access_log(home: Home) -> InProcessAccessLog | None:
    """The public access log of ``home`` as an in-process client, or None when the home has no log.

    One log service per home and process: the log has a single writer (its sequencer numbers the entries), so
    every register of the process appends through the same one.
    """
    if not (home.root / LOG_PARTY / "log.json").exists():
        return None
    key = (str(home.root), home.db_url, home.namespace)
    with _LOGS_LOCK:
        client = _LOGS.get(key)
        if client is None:
            client = _LOGS[key] = InProcessAccessLog(LogService.open(home))
        return client


def close_access_logs() -> None:
    """Stop the in-process log writers (tests, the end of the demo)."""
    with _LOGS_LOCK:
        clients = list(_LOGS.values())
        _LOGS.clear()
    for client in clients:
        client.service.close()
