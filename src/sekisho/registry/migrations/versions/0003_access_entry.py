"""access records keep their public log entry (canonical bytes) beside the full record

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reg_access") as batch:
        batch.add_column(sa.Column("entry", sa.Text(), nullable=True))
    op.create_index("reg_access_unpublished", "reg_access", ["log_index"])


def downgrade() -> None:
    op.drop_index("reg_access_unpublished", table_name="reg_access")
    with op.batch_alter_table("reg_access") as batch:
        batch.drop_column("entry")
