"""agency: persons, receipts, notices, lookups (keyed by the agency's own pseudonym)

Revision ID: agy_0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "agy_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agy_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "agy_person",
        sa.Column("pseudonym", sa.LargeBinary(length=32), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pseudonym"),
    )
    op.create_table(
        "agy_receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.LargeBinary(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delivery_id", "position", name="agy_receipt_once"),
    )
    op.create_index("agy_receipt_pseudonym", "agy_receipt", ["pseudonym"])
    op.create_table(
        "agy_notice",
        sa.Column("notice_id", sa.String(length=64), nullable=False),
        sa.Column("pseudonym", sa.LargeBinary(length=32), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("notice_id"),
    )
    op.create_index("agy_notice_pseudonym", "agy_notice", ["pseudonym"])
    op.create_table(
        "agy_lookup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("pseudonym", sa.LargeBinary(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("agy_lookup_pseudonym", "agy_lookup", ["pseudonym"])


def downgrade() -> None:
    op.drop_table("agy_lookup")
    op.drop_table("agy_notice")
    op.drop_table("agy_receipt")
    op.drop_table("agy_person")
    op.drop_table("agy_meta")
