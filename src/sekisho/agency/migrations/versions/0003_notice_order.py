"""agency: where each notice stands in the person's history (register, sequence, move, recorded_at)

Revision ID: agy_0003
Revises: agy_0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "agy_0003"
down_revision = "agy_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agy_notice") as batch:
        batch.add_column(sa.Column("source", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("sequence", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("move", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agy_notice") as batch:
        batch.drop_column("recorded_at")
        batch.drop_column("move")
        batch.drop_column("sequence")
        batch.drop_column("source")
