"""The body every context's ``migrations/env.py`` calls: one version table per context."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import sqlalchemy as sa
from alembic import context


def run_migrations(metadata: sa.MetaData, name: str) -> None:
    config = context.config
    connection = config.attributes.get("connection")
    own_tables = set(metadata.tables)

    def include_name(obj_name: str | None, type_: str, _parent: MutableMapping[Any, Any]) -> bool:
        # another context's tables may share this database: leave them alone
        return type_ != "table" or obj_name in own_tables

    def configure(conn: sa.Connection) -> None:
        context.configure(
            connection=conn,
            target_metadata=metadata,
            version_table=f"alembic_version_{name}",
            render_as_batch=True,  # SQLite cannot ALTER most things in place
            include_name=include_name,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    if connection is None:  # `alembic revision --autogenerate` from the command line
        url = config.get_main_option("sqlalchemy.url") or "sqlite://"
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            configure(conn)
        return
    configure(connection)
