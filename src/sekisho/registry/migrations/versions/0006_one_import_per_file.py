"""a file is imported once: one import batch per SHA-256 of its source file

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_IMPORTS = "kind = 'import'"


def upgrade() -> None:
    # a register that already imported a file twice (before this rule) cannot take the index: say which batches,
    # so that the doubled records can be closed (除票) by a clerk; nothing is deleted here
    twice = (
        op.get_bind()
        .execute(
            sa.text(
                f"SELECT min(id), max(id) FROM reg_batch WHERE {_IMPORTS} "  # noqa: S608 - a constant
                "GROUP BY source_sha256 HAVING count(*) > 1"
            )
        )
        .all()
    )
    if twice:
        pairs = ", ".join(f"{a} and {b}" for a, b in twice)
        raise RuntimeError(f"reg_batch: batches {pairs} imported the same file; resolve before upgrading")
    with op.batch_alter_table("reg_batch") as batch:
        batch.create_index(
            "reg_batch_one_import_per_file",
            ["source_sha256"],
            unique=True,
            sqlite_where=sa.text(_IMPORTS),
            postgresql_where=sa.text(_IMPORTS),
        )


def downgrade() -> None:
    with op.batch_alter_table("reg_batch") as batch:
        batch.drop_index("reg_batch_one_import_per_file")
