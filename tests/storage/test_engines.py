"""What every party's database session starts with, whatever the server's settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sekisho.config import Home
from sekisho.storage import create_engine_for


@pytest.fixture
def far_zone(home: Home) -> Iterator[None]:
    """On PostgreSQL: the server's default zone set far from UTC (as a server configured for local time is)."""
    if not home.db_url:
        pytest.skip("a PostgreSQL server's zone: SQLite has no server and stores what it is given")
    admin = create_engine_for(home.db_url)
    with admin.begin() as conn:
        db = conn.exec_driver_sql("SELECT current_database()").scalar_one()
        conn.exec_driver_sql(f"ALTER DATABASE \"{db}\" SET timezone = 'Pacific/Kiritimati'")
    try:
        yield
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{db}" RESET timezone')
        admin.dispose()


@pytest.mark.usefixtures("far_zone")
def test_timestamps_come_back_in_utc_whatever_the_servers_zone(home: Home) -> None:
    # a party's output and signatures must not depend on the zone its database server runs in
    engine = create_engine_for(home.party_db_url("log"), schema=home.party_schema("log"))
    at = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE stamp (at TIMESTAMP WITH TIME ZONE)"))
            conn.execute(sa.text("INSERT INTO stamp VALUES (:at)"), {"at": at})
            back = conn.execute(sa.text("SELECT at FROM stamp")).scalar_one()
            assert conn.exec_driver_sql("SHOW timezone").scalar() == "UTC"
        assert isinstance(back, datetime)
        assert back.utcoffset() == timedelta(0)
        assert back.isoformat() == at.isoformat()
    finally:
        engine.dispose()
