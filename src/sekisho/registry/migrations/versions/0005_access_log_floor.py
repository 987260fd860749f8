"""access records remember a lower bound on their log index, so that a retried append is not made twice

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reg_access") as batch:
        batch.add_column(sa.Column("log_floor", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reg_access") as batch:
        batch.drop_column("log_floor")
