"""Transcryptor: its journal of served conversions (metadata only).

Revision ID: pep_0002
Revises: pep_0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "pep_0002"
down_revision = "pep_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pep_access",
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


def downgrade() -> None:
    op.drop_table("pep_access")
