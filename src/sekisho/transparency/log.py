"""The log as its users see it: the :class:`AccessLog` protocol a municipality appends through and a resident's
portal proves with, the receipt of an append, and what a resident's client verifies (an access list against a
witnessed checkpoint, or a scan of the whole log).  The log *service* and its in-process and HTTP clients are
in :mod:`sekisho.auditlog`.

Verification works on checkpoints, proofs and entry bytes, never on HTTP responses: a client trusts a checkpoint
only with the log's signature and a witness's cosignature (:func:`verify_witnessed_checkpoint`), then checks
every inclusion proof against it and the consistency proof from the checkpoint it saw last.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from sekisho.errors import IntegrityError, InvalidInput
from sekisho.transparency import merkle
from sekisho.transparency.checkpoint import Checkpoint, verify_witnessed_checkpoint
from sekisho.transparency.entry import LogEntry, scan_for_subject, verify_subject
from sekisho.transparency.note import Verifier
from sekisho.transparency.tiles import ENTRIES, TILE_WIDTH, TileRef, TileState, decode_bundle, tile_for


@dataclass(frozen=True, slots=True)
class AppendReceipt:
    """Where an entry went: its index and leaf hash, given only after the entry is durable."""

    index: int
    leaf_hash: bytes


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
