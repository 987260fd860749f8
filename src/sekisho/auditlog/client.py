"""The log's clients: :class:`~sekisho.transparency.log.AccessLog` in-process and over HTTP, each trusting a
checkpoint only with the log's signature and its witnesses' cosignatures (the protocol and the resident's checks
are shared, in :mod:`sekisho.transparency.log`)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

import httpx

from sekisho.auditlog import batch
from sekisho.auditlog.keys import LOG_PARTY
from sekisho.auditlog.service import LogService
from sekisho.config import Home
from sekisho.errors import InvalidInput, NotFound, Unavailable
from sekisho.transparency import merkle
from sekisho.transparency.checkpoint import Checkpoint, verify_witnessed_checkpoint
from sekisho.transparency.entry import LogEntry
from sekisho.transparency.log import AppendReceipt, verify_access_document
from sekisho.transparency.note import Verifier
from sekisho.transparency.tiles import TileHashSource, TileRef


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
        self._coalescer = batch.Coalescer(self._post_batch)

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
        # POST /append/batch, with the entries of this client's other threads appending at the same time
        # (batch.Coalescer): each call's entries (up to batch.MAX_BATCH at a time) consecutive, in one transaction
        out: list[AppendReceipt] = []
        for at in range(0, len(entries), batch.MAX_BATCH):
            out.extend(self._coalescer.submit(entries[at : at + batch.MAX_BATCH]))
        return out

    def resend_many(self, entries: Sequence[bytes], *, not_before: int) -> list[AppendReceipt]:
        out: list[AppendReceipt] = []
        for at in range(0, len(entries), batch.MAX_BATCH):
            out.extend(self._post_batch(entries[at : at + batch.MAX_BATCH], {"not_before": str(not_before)}))
        return out

    def append(self, entry_bytes: bytes) -> AppendReceipt:
        [receipt] = self._coalescer.submit([entry_bytes])
        return receipt

    def _post_batch(self, entries: Sequence[bytes], params: dict[str, str] | None = None) -> list[AppendReceipt]:
        resp = self._post("append/batch", batch.encode_entries(entries), params, batch.MEDIA_TYPE)
        return batch.parse_receipts(resp.json(), entries)

    def _post(self, path: str, content: bytes, params: dict[str, str] | None, media_type: str) -> httpx.Response:
        try:
            resp = self._http.post(
                self.base + path, content=content, params=params, headers={"content-type": media_type}
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
        return resp

    def latest_witnessed_note(self) -> str:
        return self._get("checkpoint").text

    def read_tiles(self, refs: Sequence[TileRef]) -> dict[TileRef, bytes]:
        return {ref: self._get(ref.path).content for ref in refs}

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        return merkle.inclusion_proof(self._tiles, index, tree_size)

    def consistency_proof(self, m: int, n: int) -> list[bytes]:
        return merkle.consistency_proof(self._tiles, m, n)


__all__ = ["HttpAccessLog", "InProcessAccessLog"]


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
