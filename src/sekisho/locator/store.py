"""The locator's one table: registry pseudonym → the municipality that holds the person's record.

``rp`` is the primary key, so every person is held by exactly one municipality at every instant; a move changes
the row in one conditional UPDATE (from the municipality of origin to the destination).  No history is kept: a
journal of moves by pseudonym would be a movement profile.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

entry = sa.Table(
    "loc_entry",
    metadata,
    sa.Column("rp", sa.LargeBinary(32), primary_key=True),
    sa.Column("municipality", sa.String(6), nullable=False),
    sa.Column("since", sa.DateTime(timezone=True), nullable=False),
)
