"""portal tables: cards enrolled for the resident portal (by their pseudonym for it), login challenges

Revision ID: ptl_0002
Revises: ptl_0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ptl_0002"
down_revision = "ptl_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ptl_card",
        sa.Column("pseudonym_hash", sa.String(length=64), nullable=False),
        sa.Column("handle", sa.String(length=32), nullable=False),
        sa.Column("enrolled_by", sa.String(length=64), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pseudonym_hash"),
    )
    op.create_index("ix_ptl_card_handle", "ptl_card", ["handle"])
    op.create_table(
        "ptl_challenge",
        sa.Column("challenge_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=96), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("challenge_hash"),
    )


def downgrade() -> None:
    op.drop_table("ptl_challenge")
    op.drop_index("ix_ptl_card_handle", table_name="ptl_card")
    op.drop_table("ptl_card")
