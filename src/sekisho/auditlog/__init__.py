"""The public, witnessed, tamper-evident access log: the log and witness parties.

Public surface:

* :mod:`~sekisho.auditlog.service` / :mod:`~sekisho.auditlog.witness` — the log and witness parties;
* :mod:`~sekisho.auditlog.client` — :class:`~sekisho.transparency.log.AccessLog` in-process and over HTTP;
* :mod:`~sekisho.auditlog.api` — the log's HTTP face (append, tiles, checkpoints).

The formats and checks every party shares (Merkle tree, notes, checkpoints, tiles, entries, the ``AccessLog``
protocol and the resident's verification) are in :mod:`sekisho.transparency`.  See docs/auditlog.md.
"""

from __future__ import annotations

from sekisho.auditlog.client import HttpAccessLog, InProcessAccessLog

__all__ = ["HttpAccessLog", "InProcessAccessLog"]
