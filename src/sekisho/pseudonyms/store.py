"""A transcryptor's own tables: how much of each grant it has used, which requests it served, which it refused.

Metadata only.  No table holds a pseudonym, a ciphertext or anything about a person: a request's batch is
remembered by a SHA-256 digest of its (re-randomised) ciphertexts, so that a retry of the same request is
recognised and not counted twice, and a different batch under a used request id is refused.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from sekisho.errors import Conflict, Refused
from sekisho.protocols.conversion import ConversionRequest, Grant, Redemption

metadata = sa.MetaData()

grant_use = sa.Table(
    "pep_grant_use",
    metadata,
    sa.Column("grant_id", sa.String(32), primary_key=True),
    sa.Column("issuer", sa.String(32), nullable=False),
    sa.Column("from_domain", sa.String(40), nullable=False),
    sa.Column("to_domain", sa.String(40), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("max_uses", sa.BigInteger, nullable=False),
    sa.Column("used", sa.BigInteger, nullable=False),
    sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
    sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
)

redemption = sa.Table(
    "pep_redemption",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("requester", sa.String(128), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("grant_id", sa.String(32), sa.ForeignKey("pep_grant_use.grant_id"), nullable=False),
    sa.Column("batch_size", sa.Integer, nullable=False),
    sa.Column("batch_digest", sa.LargeBinary(32), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("requester", "request_id", name="uq_pep_redemption_request"),
)

refusal = sa.Table(
    "pep_refusal",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("requester", sa.String(128), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("from_domain", sa.String(40), nullable=False),
    sa.Column("to_domain", sa.String(40), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("batch_size", sa.Integer, nullable=False),
    # the rule that refused it (an error message: never a value)
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

# the transcryptor's own record of every conversion it served (written by JournalAccessHook before converting):
# request metadata only, as pep_refusal keeps for refusals
access = sa.Table(
    "pep_access",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("requester", sa.String(128), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("grant_id", sa.String(32), nullable=False),
    sa.Column("from_domain", sa.String(40), nullable=False),
    sa.Column("to_domain", sa.String(40), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("batch_size", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)


def _insert(conn: sa.Connection, table: sa.Table) -> sa.Insert:
    # INSERT ... ON CONFLICT DO NOTHING exists in both dialects; SQLAlchemy spells it per dialect
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def redeem(conn: sa.Connection, *, grant: Grant, request: ConversionRequest, digest: bytes, now: datetime) -> int:
    """Count ``len(request.ciphertexts)`` uses of ``grant``, atomically, or raise Refused if that would pass its cap.

    Returns the number of uses counted: 0 for a retry of a request already redeemed with the same batch."""
    n = len(request.ciphertexts)
    previous = conn.execute(
        sa.select(redemption.c.grant_id, redemption.c.batch_digest).where(
            redemption.c.requester == request.requester, redemption.c.request_id == request.request_id
        )
    ).first()
    if previous is not None:
        if previous.grant_id != grant.grant_id or bytes(previous.batch_digest) != digest:
            raise Conflict("was already used for another batch", field="request_id")
        return 0
    conn.execute(
        _insert(conn, grant_use).values(
            grant_id=grant.grant_id,
            issuer=grant.issuer,
            from_domain=grant.from_domain,
            to_domain=grant.to_domain,
            purpose=grant.purpose,
            max_uses=grant.max_uses,
            used=0,
            not_after=grant.not_after,
            first_used_at=now,
            last_used_at=now,
        )
    )
    # one conditional UPDATE: the row lock makes concurrent requests see each other's counts (PostgreSQL), and
    # SQLite's BEGIN IMMEDIATE serialises writers anyway
    counted = conn.execute(
        sa.update(grant_use)
        .where(grant_use.c.grant_id == grant.grant_id, grant_use.c.used + n <= grant_use.c.max_uses)
        .values(used=grant_use.c.used + n, last_used_at=now)
    ).rowcount
    if counted != 1:
        raise Refused("has no uses left for this batch", field="grant")
    conn.execute(
        redemption.insert().values(
            requester=request.requester,
            request_id=request.request_id,
            grant_id=grant.grant_id,
            batch_size=n,
            batch_digest=digest,
            at=now,
        )
    )
    return n


def record_refusal(conn: sa.Connection, *, request: ConversionRequest, reason: str, now: datetime) -> None:
    conn.execute(
        refusal.insert().values(
            requester=request.requester[:128],
            request_id=request.request_id[:64],
            from_domain=request.from_domain[:40],
            to_domain=request.to_domain[:40],
            purpose=request.purpose[:64],
            batch_size=len(request.ciphertexts),
            reason=reason[:200],
            at=now,
        )
    )


def record_access(conn: sa.Connection, *, request: ConversionRequest, grant: Grant, now: datetime) -> None:
    conn.execute(
        access.insert().values(
            requester=request.requester,
            request_id=request.request_id,
            grant_id=grant.grant_id,
            from_domain=request.from_domain,
            to_domain=request.to_domain,
            purpose=request.purpose,
            batch_size=len(request.ciphertexts),
            at=now,
        )
    )


def uses(conn: sa.Connection, grant_id: str) -> int:
    """How many uses of a grant this transcryptor has counted (0 if none)."""
    value = conn.execute(sa.select(grant_use.c.used).where(grant_use.c.grant_id == grant_id)).scalar()
    return int(value or 0)


class Ledger:
    """:class:`~sekisho.protocols.conversion.GrantLedger` over this store's ``pep_grant_use`` and
    ``pep_redemption``: what the composition root hands a transcryptor's policy hook."""

    def redemption(self, conn: sa.Connection, *, requester: str, request_id: str) -> Redemption | None:
        row = conn.execute(
            sa.select(redemption.c.grant_id, redemption.c.batch_size, redemption.c.batch_digest).where(
                redemption.c.requester == requester, redemption.c.request_id == request_id
            )
        ).first()
        if row is None:
            return None
        return Redemption(grant_id=row.grant_id, batch_size=row.batch_size, batch_digest=bytes(row.batch_digest))

    def uses(self, conn: sa.Connection, grant_id: str) -> int:
        return uses(conn, grant_id)

    def redeem(
        self, conn: sa.Connection, *, grant: Grant, request: ConversionRequest, digest: bytes, now: datetime
    ) -> int:
        return redeem(conn, grant=grant, request=request, digest=digest, now=now)
