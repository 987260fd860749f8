"""PKI: CAs, issued certificates, login challenges.

Revision ID: pki_0001
Revises:
Create Date: 2026-11-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "pki_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pki_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "pki_ca",
        sa.Column("ca_id", sa.String(16), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("cert_der", sa.LargeBinary, nullable=True),
        sa.Column("public_key_der", sa.LargeBinary, nullable=False),
        sa.Column("subject_der", sa.LargeBinary, nullable=False),
        sa.Column("name_sha1", sa.LargeBinary(20), nullable=False),
        sa.Column("key_sha1", sa.LargeBinary(20), nullable=False, unique=True),
        sa.Column("name_sha256", sa.LargeBinary(32), nullable=False),
        sa.Column("key_sha256", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("ocsp_cert_der", sa.LargeBinary, nullable=False),
        sa.Column("crl_number", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "pki_cert",
        sa.Column("ca_id", sa.String(16), sa.ForeignKey("pki_ca.ca_id"), primary_key=True),
        sa.Column("serial", sa.String(42), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("municipality", sa.String(6), nullable=True),
        sa.Column("handle", sa.String(128), nullable=True),
        sa.Column("subject_id", sa.String(64), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("der", sa.LargeBinary, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
    )
    op.create_index("pki_cert_owner", "pki_cert", ["municipality", "handle"])
    op.create_index("pki_cert_subject", "pki_cert", ["subject_id"])
    op.create_table(
        "pki_login_challenge",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("audience", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("pki_login_challenge")
    op.drop_index("pki_cert_subject", "pki_cert")
    op.drop_index("pki_cert_owner", "pki_cert")
    op.drop_table("pki_cert")
    op.drop_table("pki_ca")
    op.drop_table("pki_meta")
