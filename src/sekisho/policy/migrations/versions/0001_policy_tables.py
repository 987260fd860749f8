"""policy tables: PIAs, warrants, revocations, decisions, alerts, published copies, municipality protections

Revision ID: pol_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "pol_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pol_alert",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observed", sa.BigInteger(), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "pol_consent",
        sa.Column("handle", sa.String(length=16), nullable=False),
        sa.Column("requester", sa.String(length=128), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("handle", "requester"),
    )
    op.create_table(
        "pol_decision",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("decision_id", sa.String(length=32), nullable=False),
        sa.Column("parent", sa.String(length=32), nullable=True),
        sa.Column("party", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requester", sa.String(length=128), nullable=False),
        sa.Column("requester_kind", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("terminal", sa.String(length=64), nullable=True),
        sa.Column("municipality", sa.String(length=6), nullable=True),
        sa.Column("from_domain", sa.String(length=40), nullable=True),
        sa.Column("to_domain", sa.String(length=40), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("items_requested", sa.Text(), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("allow", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.String(length=64), nullable=True),
        sa.Column("pia", sa.String(length=64), nullable=True),
        sa.Column("warrant", sa.String(length=32), nullable=True),
        sa.Column("sealed_until", sa.Date(), nullable=True),
        sa.Column("subject_ref", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("decision_id"),
    )
    with op.batch_alter_table("pol_decision", schema=None) as batch_op:
        batch_op.create_index("pol_decision_at", ["at"], unique=False)
        batch_op.create_index("pol_decision_subject", ["subject_ref"], unique=False)
        batch_op.create_index("pol_decision_terminal", ["terminal", "at"], unique=False)

    op.create_table(
        "pol_measure",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_on", sa.Date(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("lifted_on", sa.Date(), nullable=True),
        sa.Column("lift_reason", sa.String(length=32), nullable=True),
        sa.Column("origin", sa.String(length=6), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ref"),
    )
    op.create_table(
        "pol_notice_registration",
        sa.Column("handle", sa.String(length=16), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("handle"),
    )
    op.create_table(
        "pol_notification",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.String(length=32), nullable=False),
        sa.Column("handle", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("obtained_on", sa.Date(), nullable=False),
        sa.Column("certificate", sa.String(length=64), nullable=False),
        sa.Column("requester_category", sa.String(length=16), nullable=False),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.String(length=32), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notification_id"),
    )
    with op.batch_alter_table("pol_notification", schema=None) as batch_op:
        batch_op.create_index("pol_notification_handle", ["handle"], unique=False)

    op.create_table(
        "pol_optout",
        sa.Column("handle", sa.String(length=16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("handle"),
    )
    op.create_table(
        "pol_pia",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("agency", sa.String(length=40), nullable=False),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("purposes", sa.Text(), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("persons", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("supersedes", sa.String(length=64), nullable=True),
        sa.Column("superseded_by", sa.String(length=64), nullable=True),
        sa.Column("statement", sa.Text(), nullable=True),
        sa.Column("reasons", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "pol_published",
        sa.Column("pia_id", sa.String(length=64), nullable=False),
        sa.Column("agency", sa.String(length=40), nullable=False),
        sa.Column("purposes", sa.Text(), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("supersedes", sa.String(length=64), nullable=True),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pia_id"),
    )
    op.create_table(
        "pol_revocation_list",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "pol_revoked",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("kind", "id"),
    )
    op.create_table(
        "pol_setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "pol_task",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("handle", sa.String(length=16), nullable=True),
        sa.Column("decision_id", sa.String(length=32), nullable=True),
        sa.Column("reasons", sa.Text(), server_default="", nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id"),
    )
    op.create_table(
        "pol_warrant",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("requester", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("legal_basis", sa.String(length=64), nullable=False),
        sa.Column("case_reference", sa.String(length=64), nullable=False),
        sa.Column("persons", sa.BigInteger(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sealed_until", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("reasons", sa.Text(), server_default="", nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "pol_warrant_use",
        sa.Column("warrant_id", sa.String(length=32), nullable=False),
        sa.Column("max_uses", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("warrant_id"),
    )
    op.create_table(
        "pol_measure_named",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("measure_id", sa.Integer(), nullable=False),
        sa.Column("requester", sa.String(length=128), nullable=False),
        sa.Column("family_name", sa.Text(), nullable=True),
        sa.Column("given_name", sa.Text(), nullable=True),
        sa.Column("birth_date", sa.String(length=10), nullable=True),
        sa.ForeignKeyConstraint(
            ["measure_id"],
            ["pol_measure.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "pol_measure_person",
        sa.Column("measure_id", sa.Integer(), nullable=False),
        sa.Column("handle", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("added_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["measure_id"],
            ["pol_measure.id"],
        ),
        sa.PrimaryKeyConstraint("measure_id", "handle"),
    )
    with op.batch_alter_table("pol_measure_person", schema=None) as batch_op:
        batch_op.create_index("pol_measure_person_handle", ["handle"], unique=False)

    op.create_table(
        "pol_pia_purpose",
        sa.Column("pia_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("agency", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["pia_id"],
            ["pol_pia.id"],
        ),
        sa.PrimaryKeyConstraint("pia_id", "purpose"),
    )
    with op.batch_alter_table("pol_pia_purpose", schema=None) as batch_op:
        batch_op.create_index("pol_pia_purpose_lookup", ["agency", "purpose"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pol_pia_purpose", schema=None) as batch_op:
        batch_op.drop_index("pol_pia_purpose_lookup")

    op.drop_table("pol_pia_purpose")
    with op.batch_alter_table("pol_measure_person", schema=None) as batch_op:
        batch_op.drop_index("pol_measure_person_handle")

    op.drop_table("pol_measure_person")
    op.drop_table("pol_measure_named")
    op.drop_table("pol_warrant_use")
    op.drop_table("pol_warrant")
    op.drop_table("pol_task")
    op.drop_table("pol_setting")
    op.drop_table("pol_revoked")
    op.drop_table("pol_revocation_list")
    op.drop_table("pol_published")
    op.drop_table("pol_pia")
    op.drop_table("pol_optout")
    with op.batch_alter_table("pol_notification", schema=None) as batch_op:
        batch_op.drop_index("pol_notification_handle")

    op.drop_table("pol_notification")
    op.drop_table("pol_notice_registration")
    op.drop_table("pol_measure")
    with op.batch_alter_table("pol_decision", schema=None) as batch_op:
        batch_op.drop_index("pol_decision_terminal")
        batch_op.drop_index("pol_decision_subject")
        batch_op.drop_index("pol_decision_at")

    op.drop_table("pol_decision")
    op.drop_table("pol_consent")
    op.drop_table("pol_alert")
