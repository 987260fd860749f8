"""The public, witnessed, tamper-evident access log (RFC 9162 Merkle tree, C2SP checkpoints, tiles, witnesses).

Public surface:

* :mod:`~sekisho.auditlog.entry` — the public entry, per-resident commitments, the access-record builder;
* :mod:`~sekisho.auditlog.client` — the :class:`AccessLog` protocol, its implementations, the resident's checks;
* :mod:`~sekisho.auditlog.checkpoint` — :func:`verify_witnessed_checkpoint`;
* :mod:`~sekisho.auditlog.merkle` — RFC 9162 proofs and their verification;
* :mod:`~sekisho.auditlog.service` / :mod:`~sekisho.auditlog.witness` — the log and witness parties.

See docs/auditlog.md.
"""

from __future__ import annotations

from sekisho.auditlog.checkpoint import Checkpoint, verify_witnessed_checkpoint
from sekisho.auditlog.client import (
    AccessListItem,
    AccessLog,
    HttpAccessLog,
    InProcessAccessLog,
    build_access_list,
    find_my_entries,
    verify_access_list,
)
from sekisho.auditlog.entry import (
    AccessRecord,
    AccessRecordBuilder,
    LogEntry,
    commit_subject,
    derive_commitment_key,
    scan_for_subject,
    verify_subject,
)
from sekisho.auditlog.sequencer import AppendReceipt

__all__ = [
    "AccessListItem",
    "AccessLog",
    "AccessRecord",
    "AccessRecordBuilder",
    "AppendReceipt",
    "Checkpoint",
    "HttpAccessLog",
    "InProcessAccessLog",
    "LogEntry",
    "build_access_list",
    "commit_subject",
    "derive_commitment_key",
    "find_my_entries",
    "scan_for_subject",
    "verify_access_list",
    "verify_subject",
    "verify_witnessed_checkpoint",
]
