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
    # where the notice stands in the person's history (``sekisho.agency.ordering``): the sending register and its
    # outbox sequence, the move both ends of a hand-over name, and the register's clock when it recorded the change
    sa.Column("source", sa.String(16), nullable=True),
    sa.Column("sequence", sa.BigInteger, nullable=True),
    sa.Column("move", sa.String(64), nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
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

# --- cross-references (design flow 6) ------------------------------------------------------------------------------

# as agency A: the cross-references it asked for under a warrant, until B has its result.  ``digest`` (SHA-256 over
# the warrant, B, the purpose and A's own pseudonyms) recognises a re-run of an unfinished one; ``batch`` is A's
# pseudonyms encrypted under Y as first sent, kept so that a retry sends the same bytes (the transcryptors then
# count nothing twice); ``statuses`` holds, per position, what the municipalities recorded (r: recorded,
# x: refused, n: not found).  The batch and the hops are dropped once the request is finished.
xref_out = sa.Table(
    "agy_xref_out",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("warrant", sa.String(32), nullable=True),
    sa.Column("target", sa.String(40), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("persons", sa.Integer, nullable=False),
    sa.Column("digest", sa.LargeBinary(32), nullable=False),
    # converting | converted | recorded | delivered | refused
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("batch", sa.LargeBinary, nullable=True),
    sa.Column("statuses", sa.Text, nullable=True),
    sa.Column("delivered", sa.Integer, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("agy_xref_out_digest", xref_out.c.digest)

# each transcryptor's output of the A → B conversion, as it came back: ciphertexts under keys A holds no secret
# of (after T2: B's key); kept until B has the result, so that a crash never costs a second conversion
xref_hop = sa.Table(
    "agy_xref_hop",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("hop", sa.Integer, primary_key=True),
    sa.Column("party", sa.String(16), nullable=False),
    sa.Column("ciphertexts", sa.LargeBinary, nullable=False),
    sa.Column("key", sa.LargeBinary(32), nullable=False),
)

# as agency B: what it received from cross-references — its own pseudonym of each person, by A's request and the
# person's position in it (B answers A out of band by position); a re-delivery is recognised
xref_in = sa.Table(
    "agy_xref_in",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("pseudonym", sa.LargeBinary(32), nullable=False),
    sa.Column("requester", sa.String(40), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("warrant", sa.String(32), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("request_id", "position", name="agy_xref_in_once"),
)
sa.Index("agy_xref_in_pseudonym", xref_in.c.pseudonym)

# where the agency stands in each municipality's notice feed: the last outbox event it has applied
feed_cursor = sa.Table(
    "agy_feed_cursor",
    metadata,
    sa.Column("municipality", sa.String(6), primary_key=True),
    sa.Column("cursor", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
