"""Is a party's database there and answering?  Asked by ``GET /health``; never creates anything.

Opening a party the usual way (:func:`sekisho.storage.open_party_db`) creates its SQLite file or PostgreSQL schema
and migrates it: right for a party starting up, wrong for a probe, which must not make a missing database look
present.  So the probe opens SQLite read-only (``mode=ro``) and asks PostgreSQL's catalogue, and in both asks for
the version table of the party's first context (the party's tables were set up, not merely an empty file).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sekisho.config import Home
from sekisho.errors import Unavailable
from sekisho.node.roles import Role

#: seconds a probe waits for the database
TIMEOUT = 3


class DatabaseProbe:
    """One party's database check; keeps a small engine for PostgreSQL between probes."""

    def __init__(self, home: Home, role: Role) -> None:
        self.home = home
        self.role = role
        self.version_table = f"alembic_version_{role.contexts[0]}"
        self._engine: Any = None

    def check(self) -> None:
        """Return if the database answers and holds the party's tables; raise :class:`Unavailable` if not."""
        url = self.home.db_url
        if url is None:
            self._check_sqlite(self.home.root / self.role.party / "party.db")
            return
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            self._check_sqlite(Path(parsed.database or ""))
        else:
            self._check_postgres(url)

    def _check_sqlite(self, path: Path) -> None:
        if not path.is_file():
            raise Unavailable("the party's database does not exist", field="database")
        try:
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=TIMEOUT)
            try:
                row = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (self.version_table,)
                ).fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise Unavailable("the party's database does not answer", field="database") from exc
        if row is None:
            raise Unavailable("the party's database has no tables yet", field="database")

    def _check_postgres(self, url: str) -> None:
        import sqlalchemy as sa

        if self._engine is None:
            from sqlalchemy.engine import make_url

            parsed = make_url(url)
            if parsed.drivername in ("postgresql", "postgres"):
                parsed = parsed.set(drivername="postgresql+psycopg")
            # no schema in the connect options, and no CREATE SCHEMA: the probe only looks
            self._engine = sa.create_engine(
                parsed, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": TIMEOUT}
            )
        schema = self.home.party_schema(self.role.party)
        try:
            with self._engine.connect() as conn:
                found = conn.execute(
                    sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f'"{schema}"."{self.version_table}"'}
                ).scalar()
        except sa.exc.SQLAlchemyError as exc:
            raise Unavailable("the party's database does not answer", field="database") from exc
        if not found:
            raise Unavailable("the party's database has no tables yet", field="database")

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
