"""The portal's tables (prefix ``ptl_``), kept in the database of the party that serves the portal (a
municipality's for its clerks and residents, the watchdog's for its officers), so that sessions survive a
restart, are shared by every worker of the party and end with the party's own data.

Nothing here holds personal data: users are clerks' and officers' ids; a resident's session names the resident
by their register handle (which means nothing outside that register); session ids, one-time codes and passwords
are stored only as hashes.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_TS = sa.DateTime(timezone=True)

user = sa.Table(
    "ptl_user",
    metadata,
    sa.Column("login", sa.String(64), primary_key=True),
    # clerk | watchdog
    sa.Column("kind", sa.String(16), nullable=False),
    # the terminal a clerk's work is recorded under (municipality/212016/counter-1); empty for the watchdog
    sa.Column("terminal", sa.String(64), nullable=False, server_default=""),
    # hashlib.scrypt, "scrypt$n$r$p$salt-hex$hash-hex"
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
)

session = sa.Table(
    "ptl_session",
    metadata,
    # SHA-256 of the cookie's value: a copy of this table does not let anyone in
    sa.Column("id_hash", sa.String(64), primary_key=True),
    # clerk | watchdog | resident
    sa.Column("kind", sa.String(16), nullable=False),
    # a user's login, or a resident's handle
    sa.Column("subject", sa.String(64), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("last_seen", _TS, nullable=False),
)

code = sa.Table(
    "ptl_code",
    metadata,
    # SHA-256 of a one-time login code a clerk handed to a resident
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("handle", sa.String(32), nullable=False),
    sa.Column("issued_by", sa.String(64), nullable=False),
    sa.Column("expires_at", _TS, nullable=False),
    sa.Column("used_at", _TS, nullable=True),
)

attempt = sa.Table(
    "ptl_attempt",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # what is being limited: "login" (every failed login of this portal counts against one budget per key)
    sa.Column("key", sa.String(64), nullable=False, index=True),
    sa.Column("at", _TS, nullable=False),
)

card = sa.Table(
    "ptl_card",
    metadata,
    # SHA-256 of the card's pseudonym for this portal (sekisho.login: sk·H(rp), rp = this portal): the portal's
    # key for the card holder, bound to their handle once, at the counter; it means nothing at any other party
    sa.Column("pseudonym_hash", sa.String(64), primary_key=True),
    sa.Column("handle", sa.String(32), nullable=False, index=True),
    sa.Column("enrolled_by", sa.String(64), nullable=False),
    sa.Column("enrolled_at", _TS, nullable=False),
)

challenge = sa.Table(
    "ptl_challenge",
    metadata,
    # SHA-256 of a login challenge the portal issued (its canonical JSON): answered once, before it expires
    sa.Column("challenge_hash", sa.String(64), primary_key=True),
    # "login", or "enrol:<clerk login>" (a challenge shown to a clerk enrols only through that clerk's session)
    sa.Column("purpose", sa.String(96), nullable=False),
    sa.Column("expires_at", _TS, nullable=False),
)
