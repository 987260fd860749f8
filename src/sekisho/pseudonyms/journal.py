"""The transcryptors' production access hook: a journal of every conversion served, in the transcryptor's own
database, written before the conversion runs (``Transcryptor.convert`` calls it after the policy and before any
multiplication; if the write fails, nothing is converted).

It holds request metadata only — requester, request id, grant, domains, purpose, batch size, time — never a
ciphertext: a transcryptor knows no person, so the per-resident access records are written by the party that
knows the resident (the municipality, before it sends or answers).  The public log leaf for a conversion
belongs here, next to this journal row (the audit log's ``actor_kind`` "transcryptor").
"""

from __future__ import annotations

import sqlalchemy as sa

from sekisho.pseudonyms import store
from sekisho.pseudonyms.grants import Clock, utcnow
from sekisho.pseudonyms.interfaces import ConversionRequest, Grant


class JournalAccessHook:
    """:class:`~sekisho.pseudonyms.interfaces.AccessHook` writing ``pep_access`` in the transcryptor's database."""

    def __init__(self, engine: sa.Engine, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._clock = clock

    def record(self, request: ConversionRequest, grant: Grant) -> None:
        with self._engine.begin() as conn:
            store.record_access(conn, request=request, grant=grant, now=self._clock())

    def __repr__(self) -> str:
        return "JournalAccessHook()"
