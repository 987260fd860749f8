"""Transcryptor: grant use counters, redeemed requests, refusals.

Revision ID: pep_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "pep_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pep_grant_use",
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
    op.create_table(
        "pep_redemption",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("requester", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("grant_id", sa.String(32), sa.ForeignKey("pep_grant_use.grant_id"), nullable=False),
        sa.Column("batch_size", sa.Integer, nullable=False),
        sa.Column("batch_digest", sa.LargeBinary(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("requester", "request_id", name="uq_pep_redemption_request"),
    )
    op.create_table(
        "pep_refusal",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("requester", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("from_domain", sa.String(40), nullable=False),
        sa.Column("to_domain", sa.String(40), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("batch_size", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pep_refusal")
    op.drop_table("pep_redemption")
    op.drop_table("pep_grant_use")
