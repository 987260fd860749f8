"""C2SP tlog-checkpoint: the signed tree head, and the rule that clients trust it only when witnessed.

    <origin>\\n<tree size, decimal>\\n<base64 root hash>\\n[extension lines]   (c2sp.org/tlog-checkpoint, "Note text")

signed by the log (an Ed25519 signed-note signature, key name = origin) and cosigned by witnesses
(c2sp.org/tlog-cosignature).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sekisho.errors import IntegrityError, InvalidInput
from sekisho.transparency.merkle import EMPTY_ROOT, HASH_SIZE
from sekisho.transparency.note import ALG_COSIGNATURE_V1, ALG_ED25519, Note, Verifier, b64, check_text, open_note, unb64

_SIZE_RE = re.compile(r"^(0|[1-9][0-9]{0,19})$")
#: cosignatures dated further in the future than this are refused (tlog-cosignature: verifiers MAY)
MAX_CLOCK_SKEW = 600


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or any(c.isspace() for c in self.origin):
            raise InvalidInput("the origin is a non-empty line without spaces", field="origin")
        if not (0 <= self.size < 1 << 63):
            raise InvalidInput("the tree size is out of range", field="size")
        if len(self.root_hash) != HASH_SIZE:
            raise InvalidInput("the root hash is 32 bytes", field="root_hash")
        if self.size == 0 and self.root_hash != EMPTY_ROOT:
            raise InvalidInput("the empty tree has the root SHA-256('')", field="root_hash")
        for line in self.extensions:
            if not line or "\n" in line:
                raise InvalidInput("extension lines are non-empty single lines", field="extensions")

    def body(self) -> str:
        text = f"{self.origin}\n{self.size}\n{b64(self.root_hash)}\n" + "".join(f"{e}\n" for e in self.extensions)
        check_text(text)
        return text

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (the note text, signatures already split off)."""
        if not text.endswith("\n"):
            raise InvalidInput("a checkpoint ends with a newline", field="checkpoint")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise InvalidInput("a checkpoint has at least three lines", field="checkpoint")
        origin, size, root, *ext = lines
        if not _SIZE_RE.match(size):
            raise InvalidInput("the tree size is a decimal without leading zeros", field="checkpoint")
        root_hash = unb64(root, "checkpoint")
        return cls(origin=origin, size=int(size), root_hash=root_hash, extensions=tuple(ext))


@dataclass(frozen=True, slots=True)
class WitnessedCheckpoint:
    checkpoint: Checkpoint
    note: Note
    #: witness name -> cosignature time (POSIX seconds)
    cosigned_at: dict[str, int]


def open_checkpoint(
    note_text: str | bytes,
    log_vkey: str | Verifier,
    witness_vkeys: Sequence[str | Verifier] = (),
    *,
    min_witnesses: int = 1,
    now: float | None = None,
) -> WitnessedCheckpoint:
    """Verify a checkpoint signed by the log and cosigned by at least ``min_witnesses`` distinct witnesses."""
    log = Verifier.parse(log_vkey) if isinstance(log_vkey, str) else log_vkey
    if log.alg != ALG_ED25519:
        raise InvalidInput("the log key must be an Ed25519 note key", field="log_vkey")
    witnesses = [Verifier.parse(w) if isinstance(w, str) else w for w in witness_vkeys]
    if min_witnesses < 0 or min_witnesses > len(witnesses):
        # a policy that no set of keys can meet is a configuration error, not a verification failure
        raise InvalidInput("needs at least as many trusted witnesses as required cosignatures", field="min_witnesses")
    for w in witnesses:
        if w.alg != ALG_COSIGNATURE_V1:
            raise InvalidInput("witness keys must be cosignature/v1 keys (type 0x04)", field="witness_vkeys")
        if w.public_key == log.public_key:
            raise InvalidInput("a witness must not share the log's key", field="witness_vkeys")
    note, verified = open_note(note_text, [log, *witnesses])
    if not any(v.verifier == log for v in verified):
        raise IntegrityError("the checkpoint is not signed by the log", field="checkpoint")
    checkpoint = Checkpoint.parse(note.text)
    if checkpoint.origin != log.name:
        raise IntegrityError("the checkpoint origin is not the log's key name", field="checkpoint")
    limit = (time.time() if now is None else now) + MAX_CLOCK_SKEW
    cosigned: dict[str, int] = {}
    for v in verified:
        if v.verifier.alg != ALG_COSIGNATURE_V1 or v.timestamp is None:
            continue
        if v.timestamp > limit:
            raise IntegrityError("a cosignature is dated in the future", field="checkpoint")
        cosigned[v.verifier.name] = v.timestamp
    if len(cosigned) < min_witnesses:
        raise IntegrityError("the checkpoint lacks the required witness cosignatures", field="checkpoint")
    return WitnessedCheckpoint(checkpoint, note, cosigned)


def verify_witnessed_checkpoint(
    note_text: str | bytes,
    log_vkey: str | Verifier,
    witness_vkeys: Sequence[str | Verifier],
    *,
    min_witnesses: int = 1,
    now: float | None = None,
) -> Checkpoint:
    """The checkpoint, if the log signed it and ``min_witnesses`` (≥ 1) trusted witnesses cosigned it; else raise.

    A checkpoint with only the log's signature is never trusted here: the log alone could show different
    residents different histories (a split view); a witness that checks consistency prevents that.
    """
    if min_witnesses < 1:
        raise InvalidInput("a witnessed checkpoint needs at least one witness", field="min_witnesses")
    return open_checkpoint(note_text, log_vkey, witness_vkeys, min_witnesses=min_witnesses, now=now).checkpoint
