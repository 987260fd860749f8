"""The transcryptors' production access hook: a journal of every conversion served, in the transcryptor's own
database, written before the conversion runs (``Transcryptor.convert`` calls it after the policy and before any
multiplication; if the write fails, nothing is converted).

It holds request metadata only — requester, request id, grant, domains, purpose, batch size, time — never a
ciphertext: a transcryptor knows no person, so the per-resident access records are written by the party that
knows the resident (the municipality, before it sends or answers).

With a public access log, every served batch also gets a leaf there, appended before the conversion runs: who
converted (``t1``/``t2``), for which purpose, on which legal basis or warrant, from which domain to which, and how
many ciphertexts (in ``reason_codes`` as ``from:…``, ``to:…``, ``count:…``).  Its subject commits to the batch
(HMAC keyed with the batch's digest), so the transcryptor can later show which request a leaf records, and no
resident's key matches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from sekisho.protocols.conversion import REGISTRY_DOMAIN, ConversionRequest, Grant, batch_digest
from sekisho.pseudonyms import store
from sekisho.pseudonyms.grants import Clock, utcnow
from sekisho.transparency.entry import AccessRecordBuilder

if TYPE_CHECKING:
    from sekisho.transparency.log import AccessLog


@dataclass(frozen=True, slots=True)
class _Written:
    request: ConversionRequest
    grant: Grant
    now: datetime


class JournalAccessHook:
    """:class:`~sekisho.protocols.conversion.AccessHook` writing ``pep_access`` in the transcryptor's database
    (and, given ``access_log``, the conversion's public leaf)."""

    def __init__(
        self, engine: sa.Engine, *, clock: Clock = utcnow, party: str = "", access_log: AccessLog | None = None
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._party = party
        self._log = access_log

    def record(self, request: ConversionRequest, grant: Grant) -> None:
        with self._engine.begin() as conn:
            written = self.record_in(conn, request, grant)
        self.publish(written)

    def record_in(self, conn: sa.Connection, request: ConversionRequest, grant: Grant) -> _Written:
        """The journal row in ``conn``'s transaction (the policy's recorded decision shares it)."""
        now = self._clock()
        store.record_access(conn, request=request, grant=grant, now=now)
        return _Written(request, grant, now)

    def publish(self, written: _Written) -> None:
        """The conversion's public leaf, after the journal row committed and before anything is converted."""
        if self._log is not None:
            self._log.append(conversion_entry(self._party, written.request, written.grant, written.now))

    def __repr__(self) -> str:
        return "JournalAccessHook()"


def conversion_entry(party: str, request: ConversionRequest, grant: Grant, now: datetime) -> bytes:
    """The public log entry of one served conversion (no person in it; see the module docstring)."""
    # A → B, and the record leg of a cross-reference (A → R under the same warrant), name the warrant
    warranted = grant.under_warrant or (request.from_domain != REGISTRY_DOMAIN and request.to_domain != REGISTRY_DOMAIN)
    builder = (
        AccessRecordBuilder()
        .actor("transcryptor", party)
        .action(
            "conversion",
            purpose=request.purpose,
            legal_basis=None if warranted or not grant.legal_basis else grant.legal_basis,
            warrant=grant.grant_id if warranted else None,
        )
        .decision(
            "allow",
            [f"from:{request.from_domain}", f"to:{request.to_domain}", f"count:{len(request.ciphertexts)}"],
        )
        .at(now if now.tzinfo else now.replace(tzinfo=UTC))
    )
    return builder.build(batch_digest(request)).entry_bytes()
