"""The policy context's tables (prefix ``pol_``).  One ``MetaData`` for the context; each party that runs the
context migrates all of it and uses the tables of its role:

* watchdog: ``pol_pia``, ``pol_pia_purpose``, ``pol_warrant``, ``pol_revoked``, ``pol_revocation_list``,
  ``pol_warrant_use``, ``pol_decision``, ``pol_alert``;
* transcryptor T1 / T2: ``pol_published`` (verified copies of PIA decisions), ``pol_revoked`` and
  ``pol_revocation_list`` (verified copies), ``pol_decision`` (its own decisions; its warrant counts are in its
  ``pep_grant_use``);
* municipality: ``pol_measure``, ``pol_measure_person``, ``pol_measure_named``, ``pol_task``,
  ``pol_notice_registration``, ``pol_notification``, ``pol_consent``, ``pol_optout``, ``pol_setting``.

No table outside the municipality's holds anything about a person.  ``pol_measure_named`` holds the name and birth
date of a person a support measure names as the one to refuse (so that the measure can follow the protected person
to another municipality); it lives only in the municipality's database, beside the register.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

metadata = sa.MetaData()

_TS = sa.DateTime(timezone=True)

# --- watchdog -------------------------------------------------------------------------------------------------

pia = sa.Table(
    "pol_pia",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("agency", sa.String(40), nullable=False),
    sa.Column("system", sa.Text, nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("purposes", sa.Text, nullable=False),  # space-separated codes
    sa.Column("items", sa.Text, nullable=False),
    sa.Column("events", sa.Text, nullable=False),
    sa.Column("persons", sa.BigInteger, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("document", sa.Text, nullable=False),  # canonical JSON (public)
    # submitted | approved | rejected | superseded | revoked
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("submitted_at", _TS, nullable=False),
    sa.Column("submitted_by", sa.String(64), nullable=False),
    sa.Column("decided_at", _TS, nullable=True),
    sa.Column("decided_by", sa.String(64), nullable=True),
    sa.Column("not_after", _TS, nullable=True),
    sa.Column("supersedes", sa.String(64), nullable=True),
    sa.Column("superseded_by", sa.String(64), nullable=True),
    sa.Column("statement", sa.Text, nullable=True),  # the watchdog's signed decision
    sa.Column("reasons", sa.Text, nullable=False, server_default=""),
)

pia_purpose = sa.Table(
    "pol_pia_purpose",
    metadata,
    sa.Column("pia_id", sa.String(64), sa.ForeignKey("pol_pia.id"), primary_key=True),
    sa.Column("purpose", sa.String(64), primary_key=True),
    sa.Column("agency", sa.String(40), nullable=False),
)
sa.Index("pol_pia_purpose_lookup", pia_purpose.c.agency, pia_purpose.c.purpose)

warrant = sa.Table(
    "pol_warrant",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("requester", sa.String(40), nullable=False),
    sa.Column("target", sa.String(40), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("legal_basis", sa.String(64), nullable=False),
    sa.Column("case_reference", sa.String(64), nullable=False),
    sa.Column("persons", sa.BigInteger, nullable=False),
    sa.Column("not_before", _TS, nullable=False),
    sa.Column("not_after", _TS, nullable=False),
    sa.Column("sealed_until", sa.Date, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # requested | approved | refused | revoked
    sa.Column("requested_at", _TS, nullable=False),
    sa.Column("requested_by", sa.String(64), nullable=False),
    sa.Column("decided_at", _TS, nullable=True),
    sa.Column("decided_by", sa.String(64), nullable=True),
    sa.Column("token", sa.Text, nullable=True),
    sa.Column("reasons", sa.Text, nullable=False, server_default=""),
    sa.Column("revoked_at", _TS, nullable=True),
    sa.Column("revocation_reason", sa.String(64), nullable=True),
)

warrant_use = sa.Table(
    "pol_warrant_use",
    metadata,
    sa.Column("warrant_id", sa.String(32), primary_key=True),
    sa.Column("max_uses", sa.BigInteger, nullable=False),
    sa.Column("used", sa.BigInteger, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
)

# the watchdog's revocations (source of truth there; a verified copy of the newest list elsewhere)
revoked = sa.Table(
    "pol_revoked",
    metadata,
    sa.Column("kind", sa.String(8), primary_key=True),  # warrant | pia
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("revoked_at", _TS, nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
)

revocation_list = sa.Table(
    "pol_revocation_list",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("issued_at", _TS, nullable=False),
    sa.Column("next_update", _TS, nullable=False),
    sa.Column("token", sa.Text, nullable=False),
)

# every decision of this party's decision point: metadata and reason codes only
decision = sa.Table(
    "pol_decision",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("decision_id", sa.String(32), nullable=False, unique=True),
    sa.Column("parent", sa.String(32), nullable=True),
    sa.Column("party", sa.String(64), nullable=False),
    sa.Column("at", _TS, nullable=False),
    sa.Column("requested_at", _TS, nullable=False),
    sa.Column("requester", sa.String(128), nullable=False),
    sa.Column("requester_kind", sa.String(16), nullable=False),
    sa.Column("action", sa.String(24), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("terminal", sa.String(64), nullable=True),
    sa.Column("municipality", sa.String(6), nullable=True),
    sa.Column("from_domain", sa.String(40), nullable=True),
    sa.Column("to_domain", sa.String(40), nullable=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("items_requested", sa.Text, nullable=False),
    sa.Column("items", sa.Text, nullable=False),
    sa.Column("events", sa.Text, nullable=False),
    sa.Column("allow", sa.Boolean, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("legal_basis", sa.String(64), nullable=True),
    sa.Column("pia", sa.String(64), nullable=True),
    sa.Column("warrant", sa.String(32), nullable=True),
    sa.Column("sealed_until", sa.Date, nullable=True),
    sa.Column("subject_ref", sa.String(32), nullable=True),
)
sa.Index("pol_decision_at", decision.c.at)
sa.Index("pol_decision_terminal", decision.c.terminal, decision.c.at)
sa.Index("pol_decision_subject", decision.c.subject_ref)

alert = sa.Table(
    "pol_alert",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(32), nullable=False, unique=True),
    # rule + scope + subject + window start: the same finding is stored once however often detection runs
    sa.Column("key", sa.String(255), nullable=False, unique=True),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),  # terminal | agency | subject
    sa.Column("subject", sa.String(128), nullable=False),  # a terminal id, an agency id, or a subject_ref
    sa.Column("window_start", _TS, nullable=False),
    sa.Column("window_end", _TS, nullable=False),
    sa.Column("observed", sa.BigInteger, nullable=False),
    sa.Column("threshold", sa.BigInteger, nullable=False),
    sa.Column("details", sa.Text, nullable=False),  # codes
    sa.Column("status", sa.String(16), nullable=False),  # open | acknowledged | closed
)

# --- transcryptors (and any party deciding on published data) --------------------------------------------------

published = sa.Table(
    "pol_published",
    metadata,
    sa.Column("pia_id", sa.String(64), primary_key=True),
    sa.Column("agency", sa.String(40), nullable=False),
    sa.Column("purposes", sa.Text, nullable=False),
    sa.Column("items", sa.Text, nullable=False),
    sa.Column("events", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # approved | superseded
    sa.Column("approved_at", _TS, nullable=False),
    sa.Column("not_after", _TS, nullable=False),
    sa.Column("supersedes", sa.String(64), nullable=True),
    sa.Column("statement", sa.Text, nullable=False),
    sa.Column("fetched_at", _TS, nullable=False),
)

# --- municipality ------------------------------------------------------------------------------------------------

setting = sa.Table(
    "pol_setting",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

measure = sa.Table(
    "pol_measure",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # travels with the person: family members moving separately join the same measure at the destination
    sa.Column("ref", sa.String(32), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),  # dv | stalking | child-abuse | other
    sa.Column("state", sa.String(16), nullable=False),  # provisional | active | lifted
    sa.Column("requested_on", sa.Date, nullable=False),
    sa.Column("starts_on", sa.Date, nullable=True),
    sa.Column("expires_on", sa.Date, nullable=True),
    sa.Column("lifted_on", sa.Date, nullable=True),
    sa.Column("lift_reason", sa.String(32), nullable=True),
    sa.Column("origin", sa.String(6), nullable=True),  # the municipality it came from, when carried
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
)

measure_person = sa.Table(
    "pol_measure_person",
    metadata,
    sa.Column("measure_id", sa.Integer, sa.ForeignKey("pol_measure.id"), primary_key=True),
    sa.Column("handle", sa.String(16), primary_key=True),
    sa.Column("role", sa.String(8), nullable=False),  # subject | member (co-resident family)
    sa.Column("added_on", sa.Date, nullable=False),
)
sa.Index("pol_measure_person_handle", measure_person.c.handle)

measure_named = sa.Table(
    "pol_measure_named",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("measure_id", sa.Integer, sa.ForeignKey("pol_measure.id"), nullable=False),
    # what an AccessRequest from that person or body carries as requester (a keyed digest for a person)
    sa.Column("requester", sa.String(128), nullable=False),
    # for a person: what the municipality recomputes the digest from after a move (kept here only)
    sa.Column("family_name", sa.Text, nullable=True),
    sa.Column("given_name", sa.Text, nullable=True),
    sa.Column("birth_date", sa.String(10), nullable=True),
)

task = sa.Table(
    "pol_task",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.String(32), nullable=False, unique=True),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("handle", sa.String(16), nullable=True),
    sa.Column("decision_id", sa.String(32), nullable=True),
    sa.Column("reasons", sa.Text, nullable=False, server_default=""),
    sa.Column("state", sa.String(8), nullable=False),  # open | done
    sa.Column("closed_at", _TS, nullable=True),
    sa.Column("closed_by", sa.String(64), nullable=True),
)

notice_registration = sa.Table(
    "pol_notice_registration",
    metadata,
    sa.Column("handle", sa.String(16), primary_key=True),
    sa.Column("registered_at", _TS, nullable=False),
)

notification = sa.Table(
    "pol_notification",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("notification_id", sa.String(32), nullable=False, unique=True),
    sa.Column("handle", sa.String(16), nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("obtained_on", sa.Date, nullable=False),
    sa.Column("certificate", sa.String(64), nullable=False),  # the purpose code: certificate.third-party, …
    sa.Column("requester_category", sa.String(16), nullable=False),  # proxy | third-party
    sa.Column("copies", sa.Integer, nullable=False),
    sa.Column("decision_id", sa.String(32), nullable=False),
    sa.Column("read_at", _TS, nullable=True),
)
sa.Index("pol_notification_handle", notification.c.handle)

consent = sa.Table(
    "pol_consent",
    metadata,
    sa.Column("handle", sa.String(16), primary_key=True),
    sa.Column("requester", sa.String(128), primary_key=True),
    sa.Column("given_at", _TS, nullable=False),
    sa.Column("withdrawn_at", _TS, nullable=True),
)

optout = sa.Table(
    "pol_optout",
    metadata,
    sa.Column("handle", sa.String(16), primary_key=True),
    sa.Column("since", _TS, nullable=False),
)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def codes(values: Iterable[str] | object) -> str:
    """A set or sequence of codes as stored: space-separated, sets sorted."""
    if isinstance(values, (set, frozenset)):
        return " ".join(sorted(str(v) for v in values))
    if isinstance(values, (list, tuple)):
        return " ".join(str(v) for v in values)
    raise TypeError("codes are a set, list or tuple")


def uncodes(text: str | None) -> tuple[str, ...]:
    return tuple(text.split()) if text else ()
