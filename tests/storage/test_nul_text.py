"""Text PostgreSQL cannot store (a NUL character) is the caller's bad input, never a server error (schemathesis
found it through the hand-over's token)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sekisho.config import Home
from sekisho.errors import InvalidInput
from sekisho.storage import open_party_db


def test_a_nul_in_a_query_parameter_is_invalid_input_on_postgresql(home: Home) -> None:
    engine = open_party_db(home, "log", ["auditlog"], create=True)
    try:
        with engine.connect() as conn:
            if not home.db_url:  # SQLite stores any text: only PostgreSQL refuses it
                assert conn.execute(sa.text("SELECT :t"), {"t": "a\x00b"}).scalar() == "a\x00b"
                return
            with pytest.raises(InvalidInput) as refused:
                conn.execute(sa.text("SELECT :t"), {"t": "a\x00b"}).scalar()
        assert refused.value.field == "text"
        assert "\x00" not in str(refused.value)
    finally:
        engine.dispose()
