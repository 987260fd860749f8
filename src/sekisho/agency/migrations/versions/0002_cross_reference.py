"""agency: cross-references asked (as A, until B has the result) and received (as B)

Revision ID: agy_0002
Revises: agy_0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "agy_0002"
down_revision = "agy_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agy_xref_out",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("warrant", sa.String(length=32), nullable=True),
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("batch", sa.LargeBinary(), nullable=True),
        sa.Column("statuses", sa.Text(), nullable=True),
        sa.Column("delivered", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("agy_xref_out_digest", "agy_xref_out", ["digest"])
    op.create_table(
        "agy_xref_hop",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("hop", sa.Integer(), nullable=False),
        sa.Column("party", sa.String(length=16), nullable=False),
        sa.Column("ciphertexts", sa.LargeBinary(), nullable=False),
        sa.Column("key", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "hop"),
    )
    op.create_table(
        "agy_xref_in",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.LargeBinary(length=32), nullable=False),
        sa.Column("requester", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("warrant", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "position", name="agy_xref_in_once"),
    )
    op.create_index("agy_xref_in_pseudonym", "agy_xref_in", ["pseudonym"])


def downgrade() -> None:
    op.drop_table("agy_xref_in")
    op.drop_table("agy_xref_hop")
    op.drop_index("agy_xref_out_digest", table_name="agy_xref_out")
    op.drop_table("agy_xref_out")
