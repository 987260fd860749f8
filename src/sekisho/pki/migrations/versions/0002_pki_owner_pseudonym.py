"""PKI: certificates belong to the PKI's own pseudonym of the person, not to (municipality code, handle);
card applications (one issuance per enrolment) and offers of a new signature certificate.

A certificate issued under the old binding keeps its row without an owner: there is no way from a handle to the
PKI's pseudonym (that is the point), so it is revoked by serial or card, never by a notice.

Revision ID: pki_0002
Revises: pki_0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "pki_0002"
down_revision = "pki_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pki_cert", schema=None) as batch_op:
        batch_op.drop_index("pki_cert_owner")
        batch_op.drop_column("handle")
        batch_op.drop_column("municipality")
        batch_op.add_column(sa.Column("owner", sa.String(100), nullable=True))
        batch_op.add_column(sa.Column("data_as_of", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("pki_cert_owner", ["owner"])
    op.create_table(
        "pki_issuance",
        sa.Column("delivery_id", sa.String(64), primary_key=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "pki_offer",
        sa.Column("owner", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    # the owners cannot be turned back into handles: certificates lose their binding
    op.drop_table("pki_offer")
    op.drop_table("pki_issuance")
    with op.batch_alter_table("pki_cert", schema=None) as batch_op:
        batch_op.drop_index("pki_cert_owner")
        batch_op.drop_column("data_as_of")
        batch_op.drop_column("owner")
        batch_op.add_column(sa.Column("municipality", sa.String(6), nullable=True))
        batch_op.add_column(sa.Column("handle", sa.String(128), nullable=True))
        batch_op.create_index("pki_cert_owner", ["municipality", "handle"])
