"""The access log: leaves, full tiles, checkpoints; the witness's state and alerts.

Revision ID: log0001
Revises:
Create Date: 2026-11-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "log0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_leaf",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "log_tile",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "log_checkpoint",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("witnessed_note", sa.Text, nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("witnessed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "log_witness_state",
        sa.Column("origin", sa.String(255), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "log_alert",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("evidence", sa.Text, nullable=True),
    )
    op.create_index("log_alert_at", "log_alert", ["at"])


def downgrade() -> None:
    op.drop_index("log_alert_at", table_name="log_alert")
    for name in ("log_alert", "log_witness_state", "log_checkpoint", "log_tile", "log_leaf"):
        op.drop_table(name)
