"""registry pseudonym index (rp), enrolments, delivered notices

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_LIVE = sa.text("status IN ('active', 'incoming')")


def upgrade() -> None:
    # SQLite adds a nullable column in place: no table rebuild for a register of millions
    op.add_column("reg_resident", sa.Column("rp", sa.LargeBinary(length=32), nullable=True))
    op.create_index(
        "reg_resident_one_live_rp", "reg_resident", ["rp"], unique=True, sqlite_where=_LIVE, postgresql_where=_LIVE
    )
    op.create_table(
        "reg_enrolment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("agency", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision_id", sa.String(length=64), nullable=True),
        sa.Column("items", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["resident_id"], ["reg_resident.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("resident_id", "agency", "purpose", name="reg_enrolment_once"),
    )
    op.create_table(
        "reg_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("agency", sa.String(length=40), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["reg_event.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "agency", name="reg_notice_once"),
    )


def downgrade() -> None:
    op.drop_table("reg_notice")
    op.drop_table("reg_enrolment")
    op.drop_index("reg_resident_one_live_rp", table_name="reg_resident", sqlite_where=_LIVE, postgresql_where=_LIVE)
    with op.batch_alter_table("reg_resident") as batch_op:
        batch_op.drop_column("rp")
