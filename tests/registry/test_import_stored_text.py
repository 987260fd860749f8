"""What a bulk import stores is what the register's other writes store for the same values."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sekisho.registry.service import RegisterService
from sekisho.synth.residents import generate_file

from .conftest import GIFU


def test_imported_instants_and_dates_are_stored_as_sqlalchemy_stores_them(
    gifu: RegisterService, tmp_path: Path
) -> None:
    """The import wrote its rows' instants through sqlite3's default adapter ('2026-12-05 22:04:07+00:00') while
    the history rows of the same import, written by SQLAlchemy, held '2026-12-05 22:04:07.000000': the same instant
    as two texts, which SQLite compares as text."""
    path = tmp_path / "gifu.csv"
    generate_file(path, municipality=GIFU, count=50, seed=3, as_of=date(2026, 11, 1))
    gifu.import_file(path, parts=1)
    with gifu.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT r.created_at, r.updated_at, h.recorded_at, r.became_resident_on, h.event_date, "
            "r.filed_on, h.filed_on FROM reg_resident r JOIN reg_history h ON h.resident_id = r.id"
        ).all()
        household = conn.exec_driver_sql("SELECT created_at FROM reg_household").scalars().first()
    assert len(rows) == 50
    for created, updated, recorded, became, event, filed, history_filed in rows:
        assert created == updated == recorded == household  # the very same value, stored the very same way
        assert became == event
        assert filed == history_filed
