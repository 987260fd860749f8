"""agency: the cursor of each municipality's notice feed

Revision ID: agy_0004
Revises: agy_0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "agy_0004"
down_revision = "agy_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agy_feed_cursor",
        sa.Column("municipality", sa.String(length=6), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("municipality"),
    )


def downgrade() -> None:
    op.drop_table("agy_feed_cursor")
