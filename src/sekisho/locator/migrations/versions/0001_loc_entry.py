"""locator: registry pseudonym -> municipality

Revision ID: loc_0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "loc_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loc_entry",
        sa.Column("rp", sa.LargeBinary(length=32), nullable=False),
        sa.Column("municipality", sa.String(length=6), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rp"),
    )


def downgrade() -> None:
    op.drop_table("loc_entry")
