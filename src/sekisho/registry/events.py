"""The register's events as a query for the credential issuer (``sekisho.credentials.issuer.RegisterEvents``).

The issuer does not consume the outbox (``reg_event.delivered_at`` belongs to the change notices): it reads the
events after its own cursor, so the notices and the status list each see every event once, whatever order they
run in.  What leaves is the event's position and the resident's handle — the issuer already holds the handle of
everyone it issued to — nothing of the record.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sekisho.protocols.handles import parse_handle
from sekisho.registry import procedures as proc
from sekisho.registry import store as st

#: outbox kinds after which a credential's claims are no longer true: the person died, left (the move's
#: completion, a move abroad), moved within the municipality (the address), a record was closed (職権消除), or an
#: item was corrected or the name changed.  A move-out filed but not completed emits nothing: the person still
#: lives here and the credentials stay valid.
REVOKING = frozenset({proc.DIED, proc.MOVED_OUT, proc.MOVED_WITHIN, proc.CLOSED, proc.NAME_CHANGED, proc.CORRECTED})
#: events read per call: a status list waits for at most one page; the next call reads on
PAGE = 5000


class CredentialEvents:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def canonical(self, handle: str) -> str:
        """The register's spelling of a handle (as typed at the counter: hyphens, lower case, full width)."""
        return parse_handle(handle)

    def revoking_since(self, after: int) -> list[tuple[int, str, datetime]]:
        """``(event id, handle, recorded at)`` of the revoking events after ``after``, oldest first."""
        ev, r = st.event.c, st.resident.c
        query = (
            sa.select(ev.id, r.handle, ev.created_at)
            .join(st.resident, st.resident.c.id == ev.resident_id)
            .where(ev.id > after, ev.kind.in_(sorted(REVOKING)))
            .order_by(ev.id)
            .limit(PAGE)
        )
        with self.engine.connect() as conn:
            return [(int(i), str(h), _aware(at)) for i, h, at in conn.execute(query)]


def _aware(at: datetime) -> datetime:
    # SQLite gives back the naive UTC time it was given; PostgreSQL an aware one
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
