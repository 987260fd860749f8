"""Credentials: the issuer's status entries (which random index belongs to whom, which are set), the one-time
OpenID4VCI secrets (offers' codes, access tokens, nonces: SHA-256 only) and the cursor over the register's events.

Revision ID: vc_0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "vc_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vc_status",
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("handle", sa.String(16), nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("vc_status_handle", "vc_status", ["handle"])
    op.create_index("vc_status_revoked", "vc_status", ["revoked"])
    op.create_table(
        "vc_secret",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("handle", sa.String(16), nullable=True),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("vc_secret_expiry", "vc_secret", ["expires_at"])
    op.create_table(
        "vc_cursor",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("vc_cursor")
    op.drop_table("vc_secret")
    op.drop_table("vc_status")
