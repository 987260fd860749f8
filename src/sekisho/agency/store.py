"""An agency's own tables, keyed only by its own pseudonym ``s_A·P`` (32 bytes).

No table holds a handle, a root, a PP, another domain's pseudonym or a municipality's record number: what the
agency knows about a person is what the policy released to it, under the one identifier that is meaningless
everywhere else.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

meta = sa.Table(
    "agy_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# the persons the agency knows and the attributes it may hold (JSON object of released items)
person = sa.Table(
    "agy_person",
    metadata,
    sa.Column("pseudonym", sa.LargeBinary(32), primary_key=True),
    sa.Column("attributes", sa.Text, nullable=False),
    # active | died | moved-out: from the notices received
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# one receipt per person per enrolment delivery: a re-sent delivery is recognised and counted once
receipt = sa.Table(
    "agy_receipt",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("delivery_id", sa.String(64), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("pseudonym", sa.LargeBinary(32), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("delivery_id", "position", name="agy_receipt_once"),
)
sa.Index("agy_receipt_pseudonym", receipt.c.pseudonym)

# change notices received; notice_id is unique network-wide, so a re-delivery is a no-op
notice = sa.Table(
    "agy_notice",
    metadata,
    sa.Column("notice_id", sa.String(64), primary_key=True),
    sa.Column("pseudonym", sa.LargeBinary(32), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("event_date", sa.Date, nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("items", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("agy_notice_pseudonym", notice.c.pseudonym)

# identity confirmations asked and their outcome
lookup = sa.Table(
    "agy_lookup",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("pseudonym", sa.LargeBinary(32), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("items", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("agy_lookup_pseudonym", lookup.c.pseudonym)
