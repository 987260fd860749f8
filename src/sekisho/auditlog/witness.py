"""The watchdog's witness: cosigns a log checkpoint only if it extends the last one it cosigned.

Checks and answers follow c2sp.org/tlog-witness (``add-checkpoint``): an unknown origin is 404, a missing or
bad log signature 403, an old size above the new size 400, an old size other than the one on record 409 (with
the recorded size), a consistency proof that does not verify (or the same size with another root) 422.  The
check and the update of the recorded checkpoint happen in one transaction, so racing requests cannot roll the
record back.  Cosignatures are tlog-cosignature/v1 (Ed25519, timestamped).

Misbehaviour — a fork (another root for a size already cosigned, or a failing consistency proof), a rollback
(a signed checkpoint smaller than one already cosigned) or a bad signature under a trusted key name — is
refused *and* written to ``log_alert`` with the offending note as evidence.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx
from sqlalchemy.engine import Engine

from sekisho.auditlog import store
from sekisho.auditlog.keys import WITNESS_PARTY, WitnessConfig, load_witness_signer
from sekisho.config import Home
from sekisho.errors import Conflict, IntegrityError, InvalidInput, NotFound, Refused, SekishoError, Unavailable
from sekisho.storage import open_party_db
from sekisho.transparency.checkpoint import Checkpoint, open_checkpoint
from sekisho.transparency.merkle import EMPTY_ROOT, verify_consistency
from sekisho.transparency.note import ALG_COSIGNATURE_V1, Signer, Verifier, b64, parse_note, unb64

MAX_PROOF_LINES = 63  # tlog-witness: a client MUST NOT send more
_OLD_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}")


class InconsistentCheckpoint(IntegrityError):
    """The checkpoint does not extend the one the witness cosigned (tlog-witness answers 422)."""

    kind = "inconsistent-checkpoint"
    status = 422


class StaleOldSize(Conflict):
    """The caller's old size is not the witness's (tlog-witness answers 409 with ``size``)."""

    def __init__(self, size: int) -> None:
        super().__init__("the old size is not the size of the latest cosigned checkpoint", field="old")
        self.size = size


class WitnessClient(Protocol):
    """A witness as a log reaches it (tlog-witness add-checkpoint): :class:`Witness` or :class:`HttpWitness`."""

    def add_checkpoint(self, *, old_size: int, proof: Sequence[bytes], note: str) -> str: ...


class HttpWitness:
    """A witness over HTTP: ``POST <prefix>/add-checkpoint`` (c2sp.org/tlog-witness)."""

    def __init__(self, prefix: str, *, client: httpx.Client | None = None, timeout: float = 30.0) -> None:
        self.url = prefix.rstrip("/") + "/add-checkpoint"
        self._http = client or httpx.Client(timeout=timeout)

    def add_checkpoint(self, *, old_size: int, proof: Sequence[bytes], note: str) -> str:
        body = f"old {old_size}\n" + "".join(b64(p) + "\n" for p in proof) + "\n" + note
        try:
            resp = self._http.post(self.url, content=body.encode())
        except httpx.HTTPError as exc:
            raise Unavailable("the witness cannot be reached", field="witness") from exc
        if resp.status_code == 200:
            return resp.text
        if resp.status_code == 409 and resp.text.strip().isdigit():
            raise StaleOldSize(int(resp.text))
        if resp.status_code == 422:
            raise InconsistentCheckpoint("the witness found the checkpoint inconsistent", field="checkpoint")
        if resp.status_code in (403, 404):
            raise Refused("the witness does not accept this log's checkpoint", field="witness")
        raise Unavailable(f"the witness answered HTTP {resp.status_code}", field="witness")


class CheckpointSource(Protocol):
    """What the witness needs from a log to pull: its latest signed checkpoint and consistency proofs."""

    def signed_checkpoint(self) -> str: ...

    def consistency_proof(self, old: int, new: int) -> list[bytes]: ...


@dataclass(frozen=True, slots=True)
class Alert:
    at: str
    origin: str
    kind: str
    detail: str
    size: int | None


def alerts_of(home: Home, *, limit: int = 100) -> list[Alert]:
    """The watchdog's alerts, newest first (no key needed to read them)."""
    engine = open_party_db(home, WITNESS_PARTY, ["auditlog"])
    try:
        with engine.connect() as conn:
            rows = store.alerts(conn, limit=limit)
    finally:
        engine.dispose()
    return [Alert(r.at.isoformat(), r.origin, r.kind, r.detail, r.size) for r in rows]


class Witness:
    def __init__(
        self,
        engine: Engine,
        *,
        signer: Signer,
        logs: Mapping[str, Sequence[Verifier]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        if signer.verifier.alg != ALG_COSIGNATURE_V1:
            raise InvalidInput("a witness signs cosignature/v1 (type 0x04)", field="key")
        self.engine = engine
        self.signer = signer
        self.logs = {origin: tuple(keys) for origin, keys in logs.items()}
        self._clock = clock

    @classmethod
    def open(cls, home: Home, *, secret: bytes) -> Witness:
        config = WitnessConfig.load(home)
        engine = open_party_db(home, WITNESS_PARTY, ["auditlog"])
        return cls(engine, signer=load_witness_signer(home, secret), logs=config.logs)

    @property
    def vkey(self) -> Verifier:
        return self.signer.verifier

    # --- the protocol ---

    def add_checkpoint(self, *, old_size: int, proof: Sequence[bytes], note: str) -> str:
        """Cosign ``note`` if it is consistent with the last checkpoint cosigned; return the cosignature line(s)."""
        origin, checkpoint = self._authenticate(note)
        if old_size < 0 or len(proof) > MAX_PROOF_LINES:
            raise InvalidInput("bad old size or proof", field="old")
        if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
            raise InconsistentCheckpoint("the empty tree has another root", field="checkpoint")
        alert: tuple[str, str] | None = None
        try:
            with self.engine.begin() as conn:
                state = store.witness_state_for_update(conn, origin)
                have = 0 if state is None else int(state.size)
                if state is not None and checkpoint.size < have:
                    alert = ("rollback", f"a checkpoint of size {checkpoint.size} after cosigning size {have}")
                if old_size > checkpoint.size:
                    raise InvalidInput("the old size exceeds the checkpoint size", field="old")
                if old_size != have:
                    raise StaleOldSize(have)
                if state is None:
                    if proof:
                        raise InconsistentCheckpoint("a proof from the empty tree must be empty", field="proof")
                else:
                    try:
                        verify_consistency(have, checkpoint.size, bytes(state.root_hash), checkpoint.root_hash, proof)
                    except IntegrityError as exc:
                        kind = "fork" if have == checkpoint.size else "inconsistent"
                        alert = (kind, f"size {have} -> {checkpoint.size}: {exc.message}")
                        raise InconsistentCheckpoint(
                            "the checkpoint is not consistent with the last one cosigned", field="checkpoint"
                        ) from None
                store.save_witness_state(
                    conn,
                    origin=origin,
                    size=checkpoint.size,
                    root_hash=checkpoint.root_hash,
                    note=note,
                    new=state is None,
                )
                # signed before the commit, returned only after it: a cosignature never outruns the record
                line = self.signer.sign(parse_note(note).text, timestamp=int(self._clock()))
        except SekishoError:
            if alert is not None:
                self._alert(origin, alert[0], alert[1], checkpoint.size, note)
            raise
        return line

    def add_checkpoint_request(self, body: str) -> str:
        """The tlog-witness ``add-checkpoint`` request body: ``old N``, proof lines, an empty line, the note."""
        head, sep, note = body.partition("\n\n")
        if not sep:
            raise InvalidInput("the request has an old size line, proof lines, an empty line and a note", field="body")
        lines = head.split("\n")
        if not lines[0].startswith("old "):
            raise InvalidInput("the request starts with 'old <size>'", field="body")
        size_text = lines[0][4:]
        # ASCII digits only, at most 20 (a uint64): str.isdigit() also takes "²" and "٣", and int() of thousands of
        # digits raises ValueError; either was an unexpected error (HTTP 500) rather than a refusal
        if not _OLD_SIZE_RE.fullmatch(size_text):
            raise InvalidInput("the old size is a decimal without leading zeros", field="body")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise InvalidInput("too many consistency proof lines", field="body")
        proof = [unb64(line, "body") for line in lines[1:]]
        return self.add_checkpoint(old_size=int(size_text), proof=proof, note=note)

    def observe(self, log: CheckpointSource) -> tuple[int, str]:
        """Pull the log's latest signed checkpoint, check it against the record and cosign it.

        Returns (size, cosignature lines) for the log to attach.  A checkpoint smaller than the one on record
        is a rollback: refused and alerted.
        """
        note = log.signed_checkpoint()
        origin, checkpoint = self._authenticate(note)
        with self.engine.connect() as conn:
            state = store.witness_state_for_update(conn, origin)
        have = 0 if state is None else int(state.size)
        if checkpoint.size < have:
            self._alert(origin, "rollback", f"latest is {checkpoint.size}, cosigned {have}", checkpoint.size, note)
            raise InconsistentCheckpoint("the log's latest checkpoint is older than one cosigned", field="checkpoint")
        proof = log.consistency_proof(have, checkpoint.size) if state is not None else []
        return checkpoint.size, self.add_checkpoint(old_size=have, proof=proof, note=note)

    def last_cosigned(self, origin: str) -> Checkpoint | None:
        with self.engine.connect() as conn:
            state = store.witness_state_for_update(conn, origin)
        return None if state is None else Checkpoint.parse(parse_note(str(state.note)).text)

    def alerts(self, *, limit: int = 100) -> list[Alert]:
        with self.engine.connect() as conn:
            rows = store.alerts(conn, limit=limit)
        return [Alert(r.at.isoformat(), r.origin, r.kind, r.detail, r.size) for r in rows]

    # --- helpers ---

    def _authenticate(self, note: str) -> tuple[str, Checkpoint]:
        parsed = parse_note(note)
        checkpoint = Checkpoint.parse(parsed.text)
        keys = self.logs.get(checkpoint.origin)
        if not keys:
            raise NotFound("this witness does not follow that log", field="origin")
        failure: IntegrityError | None = None
        for key in keys:  # several keys while the log rotates its key
            try:
                return checkpoint.origin, open_checkpoint(note, key, (), min_witnesses=0).checkpoint
            except IntegrityError as exc:
                failure = exc
        trusted = {(k.name, k.key_id) for k in keys}
        if failure is not None and any((s.name, s.key_id) in trusted for s in parsed.signatures):
            # a line that claims to be the log's key but does not verify: forged or corrupted
            self._alert(checkpoint.origin, "bad-signature", failure.message, checkpoint.size, note)
        raise Refused("the checkpoint is not signed by the log", field="checkpoint")

    def _alert(self, origin: str, kind: str, detail: str, size: int | None, evidence: str) -> None:
        with self.engine.begin() as conn:
            store.insert_alert(conn, origin=origin, kind=kind, detail=detail, size=size, evidence=evidence)
