"""Tables of one municipal register (SQLAlchemy Core), and the mapping between rows and domain objects.

One database (or PostgreSQL schema) holds exactly one municipality's register: ``reg_meta`` names it, and the
service refuses to open it as any other.  The invariants the database itself enforces:

* at most one active (or incoming) record per person: a partial unique index on the secret root;
* at most one active head per household: a partial unique index on (household, 世帯主);
* history rows are numbered per resident, (resident, version) unique;
* closed records (除票) stay: nothing in the service deletes from ``reg_resident``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from sekisho.jp.address import Address
from sekisho.jp.wareki import PartialDate
from sekisho.registry.model import (
    HEAD,
    ClosedReason,
    Closure,
    EventKind,
    ForeignItems,
    HistoryEntry,
    Resident,
    Status,
)

metadata = sa.MetaData()

meta = sa.Table(
    "reg_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

household = sa.Table(
    "reg_household",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("handle", sa.String(16), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

resident = sa.Table(
    "reg_resident",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("handle", sa.String(16), nullable=False, unique=True),
    # the person's secret root (32 random bytes): never leaves the register, moves with the person
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    # polymorphic pseudonym Enc_Y(P) (64 bytes), set when the network keys exist
    sa.Column("pp", sa.LargeBinary(64), nullable=True),
    # the registry-domain pseudonym s_R·P, as the locator returned it: how an identity confirmation routed by
    # the locator finds the resident (NULL until the record is indexed)
    sa.Column("rp", sa.LargeBinary(32), nullable=True),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("household_id", sa.Integer, sa.ForeignKey("reg_household.id"), nullable=False),
    sa.Column("relationship", sa.String(32), nullable=False),
    sa.Column("family_name", sa.Text, nullable=False),
    sa.Column("given_name", sa.Text, nullable=False),
    sa.Column("family_name_kana", sa.Text, nullable=False),
    sa.Column("given_name_kana", sa.Text, nullable=False),
    sa.Column("kana_confirmed", sa.Boolean, nullable=False),
    sa.Column("former_family_name", sa.Text, nullable=False),
    sa.Column("former_family_name_kana", sa.Text, nullable=False),
    sa.Column("alias_name", sa.Text, nullable=False),
    sa.Column("alias_name_kana", sa.Text, nullable=False),
    sa.Column("alphabet_name", sa.Text, nullable=False),
    # lossless PartialDate text form: 1990-05-01, 1990-05, 1990, "" (unknown), "~" suffix = approximate
    sa.Column("birth_date", sa.String(16), nullable=False),
    sa.Column("sex", sa.String(1), nullable=False),
    sa.Column("nationality", sa.String(8), nullable=False),
    sa.Column("foreign_items", sa.Text, nullable=True),
    sa.Column("postal_code", sa.String(7), nullable=True),
    # the code the address lies in: the register's own, or a ward's in a designated city
    sa.Column("address_code", sa.String(6), nullable=False),
    sa.Column("town", sa.Text, nullable=False),
    sa.Column("block", sa.Text, nullable=False),
    sa.Column("katagaki", sa.Text, nullable=False),
    sa.Column("became_resident_on", sa.Date, nullable=False),
    sa.Column("address_set_on", sa.Date, nullable=False),
    sa.Column("filed_on", sa.Date, nullable=False),
    sa.Column("previous_address", sa.Text, nullable=False),
    sa.Column("honseki", sa.Text, nullable=False),
    sa.Column("hittousha", sa.Text, nullable=False),
    sa.Column("benefits", sa.Text, nullable=False),
    sa.Column("closed_reason", sa.String(16), nullable=True),
    sa.Column("closed_on", sa.Date, nullable=True),
    sa.Column("closed_filed_on", sa.Date, nullable=True),
    sa.Column("destination_planned", sa.Text, nullable=True),
    sa.Column("destination_confirmed", sa.Text, nullable=True),
    sa.Column("moving_out", sa.Boolean, nullable=False),
    # the hand-over that created this record (move-in from another municipality): makes move-in idempotent
    sa.Column("transfer_token", sa.String(64), nullable=True, unique=True),
    # normalised search keys (names are stored exactly as given; only these are folded)
    sa.Column("name_key", sa.Text, nullable=False),
    sa.Column("kana_key", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("batch_id", sa.Integer, nullable=True),
)
_LIVE = resident.c.status.in_([Status.ACTIVE.value, Status.INCOMING.value])
sa.Index(
    "reg_resident_one_live_record",
    resident.c.root,
    unique=True,
    sqlite_where=_LIVE,
    postgresql_where=_LIVE,
)
# a person's live record is found by its registry pseudonym: at most one per s_R·P
sa.Index(
    "reg_resident_one_live_rp",
    resident.c.rp,
    unique=True,
    sqlite_where=_LIVE,
    postgresql_where=_LIVE,
)
_ACTIVE_HEAD = sa.and_(resident.c.relationship == HEAD, resident.c.status == Status.ACTIVE.value)
sa.Index(
    "reg_resident_one_head",
    resident.c.household_id,
    unique=True,
    sqlite_where=_ACTIVE_HEAD,
    postgresql_where=_ACTIVE_HEAD,
)
sa.Index("reg_resident_household", resident.c.household_id)
sa.Index("reg_resident_name_key", resident.c.name_key)
sa.Index("reg_resident_kana_key", resident.c.kana_key)

history = sa.Table(
    "reg_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("resident_id", sa.Integer, sa.ForeignKey("reg_resident.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("event_date", sa.Date, nullable=False),
    sa.Column("filed_on", sa.Date, nullable=False),
    sa.Column("late", sa.Boolean, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("batch_id", sa.Integer, nullable=True),
    # {"field": [old, new]}; NULL for the registration that created the record
    sa.Column("changes", sa.Text, nullable=True),
    sa.Column("note", sa.Text, nullable=False),
    sa.UniqueConstraint("resident_id", "version", name="reg_history_version"),
)

batch = sa.Table(
    "reg_batch",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("source_sha256", sa.String(64), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)
# a file is imported once (its SHA-256): re-running an import that committed must not double the register
_IMPORT = batch.c.kind == "import"
sa.Index(
    "reg_batch_one_import_per_file",
    batch.c.source_sha256,
    unique=True,
    sqlite_where=_IMPORT,
    postgresql_where=_IMPORT,
)

# the outbox: events for other parties (agencies' change notices, the PKI's revocations), written in the same
# transaction as the change, delivered afterwards and marked; a crash between the two re-delivers, never loses
event = sa.Table(
    "reg_event",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("resident_id", sa.Integer, sa.ForeignKey("reg_resident.id"), nullable=False),
    sa.Column("event_date", sa.Date, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
)
sa.Index("reg_event_pending", event.c.delivered_at, event.c.id)

# which agencies enrolled a resident here, for which purpose: whom the change notices go to.  Carried to the next
# register on a move (the hand-over package), kept with the closed record here.
enrolment = sa.Table(
    "reg_enrolment",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("resident_id", sa.Integer, sa.ForeignKey("reg_resident.id"), nullable=False),
    sa.Column("agency", sa.String(40), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
    # the policy decision that allowed it (NULL when carried over from the previous register)
    sa.Column("decision_id", sa.String(64), nullable=True),
    # the items released at enrolment (comma-separated): the attributes the agency holds, which notices update
    sa.Column("items", sa.Text, nullable=False),
    sa.UniqueConstraint("resident_id", "agency", "purpose", name="reg_enrolment_once"),
)

# one row per (outbox event, agency) once that agency accepted the notice: a re-run after a crash skips it
notice = sa.Table(
    "reg_notice",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("event_id", sa.Integer, sa.ForeignKey("reg_event.id"), nullable=False),
    sa.Column("agency", sa.String(40), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("event_id", "agency", name="reg_notice_once"),
)

# 転出証明書情報: the hand-over record a move-out creates and the destination's move-in consumes
transfer = sa.Table(
    "reg_transfer",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token", sa.String(64), nullable=False, unique=True),
    sa.Column("resident_id", sa.Integer, sa.ForeignKey("reg_resident.id"), nullable=False),
    sa.Column("destination_code", sa.String(6), nullable=True),
    sa.Column("destination_line", sa.Text, nullable=False),
    sa.Column("planned_on", sa.Date, nullable=False),
    sa.Column("filed_on", sa.Date, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # issued | handed-over | cancelled
    sa.Column("handed_over_to", sa.String(6), nullable=True),
    sa.Column("handed_over_on", sa.Date, nullable=True),
)

# the full access records of this register's residents (who read what, when, why); the public log holds a
# commitment to each
access = sa.Table(
    "reg_access",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("record_id", sa.String(32), nullable=False, unique=True),
    sa.Column("resident_id", sa.Integer, sa.ForeignKey("reg_resident.id"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_kind", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("terminal", sa.String(64), nullable=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("legal_basis", sa.String(64), nullable=True),
    sa.Column("warrant", sa.String(64), nullable=True),
    sa.Column("items", sa.Text, nullable=False),
    sa.Column("decision", sa.String(8), nullable=False),
    sa.Column("reason_codes", sa.Text, nullable=False),
    sa.Column("nonce", sa.String(32), nullable=False),
    sa.Column("sealed_until", sa.Date, nullable=True),
    sa.Column("log_index", sa.BigInteger, nullable=True),
    # a lower bound on log_index, known when the record was written: a retry whose first append's answer was
    # lost looks for the entry from here on instead of appending it twice (RegisterService.publish_pending)
    sa.Column("log_floor", sa.BigInteger, nullable=True),
    sa.Column("leaf_hash", sa.String(64), nullable=True),
    # the public log entry exactly as appended (canonical JSON, sekisho.transparency.entry): its hash is the leaf
    sa.Column("entry", sa.Text, nullable=True),
)
sa.Index("reg_access_resident", access.c.resident_id, access.c.at)
sa.Index("reg_access_unpublished", access.c.log_index)

# the cross-references recorded here: one row per (request, resident), written with the access record, so that the
# record leg of a re-run request (after a crash before agency B received it) records nobody twice
cross_reference = sa.Table(
    "reg_cross_reference",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("resident_id", sa.Integer, sa.ForeignKey("reg_resident.id"), nullable=False),
    sa.Column("decision", sa.String(8), nullable=False),  # allow | deny, as the access record says
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("request_id", "resident_id", name="reg_cross_reference_once"),
)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- row <-> domain ----------------------------------------------------------------------------------------


def resident_from_row(row: Any, household_handle: str) -> Resident:
    m = row._mapping
    closed = None
    if m["closed_reason"]:
        closed = Closure(
            reason=ClosedReason(m["closed_reason"]),
            event_date=m["closed_on"],
            filed_on=m["closed_filed_on"],
            destination_planned=m["destination_planned"] or "",
            destination_confirmed=m["destination_confirmed"] or "",
        )
    foreign = ForeignItems.from_dict(json.loads(m["foreign_items"])) if m["foreign_items"] else None
    return Resident(
        handle=m["handle"],
        household=household_handle,
        relationship=m["relationship"],
        family_name=m["family_name"],
        given_name=m["given_name"],
        family_name_kana=m["family_name_kana"],
        given_name_kana=m["given_name_kana"],
        kana_confirmed=bool(m["kana_confirmed"]),
        birth_date=PartialDate.from_iso(m["birth_date"]),
        sex=m["sex"],
        nationality=m["nationality"],
        address=Address(
            municipality_code=m["address_code"],
            town=m["town"],
            block=m["block"],
            katagaki=m["katagaki"],
            postal_code=m["postal_code"],
        ),
        became_resident_on=m["became_resident_on"],
        address_set_on=m["address_set_on"],
        filed_on=m["filed_on"],
        status=Status(m["status"]),
        version=m["version"],
        former_family_name=m["former_family_name"],
        former_family_name_kana=m["former_family_name_kana"],
        alias_name=m["alias_name"],
        alias_name_kana=m["alias_name_kana"],
        alphabet_name=m["alphabet_name"],
        foreign=foreign,
        previous_address=m["previous_address"],
        honseki=m["honseki"],
        hittousha=m["hittousha"],
        benefits=frozenset(b for b in m["benefits"].split(",") if b),
        closed=closed,
        moving_out=bool(m["moving_out"]),
    )


def history_from_row(row: Any) -> HistoryEntry:
    m = row._mapping
    return HistoryEntry(
        version=m["version"],
        kind=EventKind(m["kind"]),
        event_date=m["event_date"],
        filed_on=m["filed_on"],
        recorded_at=m["recorded_at"],
        late=bool(m["late"]),
        actor=m["actor"],
        changes=json.loads(m["changes"]) if m["changes"] else {},
        note=m["note"],
    )


def item_columns(r: Resident) -> dict[str, Any]:
    """The columns that hold a resident's items (what a correction or procedure may change)."""
    return {
        "relationship": r.relationship,
        "family_name": r.family_name,
        "given_name": r.given_name,
        "family_name_kana": r.family_name_kana,
        "given_name_kana": r.given_name_kana,
        "kana_confirmed": r.kana_confirmed,
        "former_family_name": r.former_family_name,
        "former_family_name_kana": r.former_family_name_kana,
        "alias_name": r.alias_name,
        "alias_name_kana": r.alias_name_kana,
        "alphabet_name": r.alphabet_name,
        "birth_date": r.birth_date.iso(),
        "sex": r.sex,
        "nationality": r.nationality,
        "foreign_items": json.dumps(r.foreign.as_dict(), ensure_ascii=False) if r.foreign else None,
        "postal_code": r.address.postal_code,
        "address_code": r.address.municipality_code,
        "town": r.address.town,
        "block": r.address.block,
        "katagaki": r.address.katagaki,
        "became_resident_on": r.became_resident_on,
        "address_set_on": r.address_set_on,
        "filed_on": r.filed_on,
        "previous_address": r.previous_address,
        "honseki": r.honseki,
        "hittousha": r.hittousha,
        "benefits": ",".join(sorted(r.benefits)),
        "closed_reason": r.closed.reason.value if r.closed else None,
        "closed_on": r.closed.event_date if r.closed else None,
        "closed_filed_on": r.closed.filed_on if r.closed else None,
        "destination_planned": r.closed.destination_planned if r.closed else None,
        "destination_confirmed": r.closed.destination_confirmed if r.closed else None,
        "moving_out": r.moving_out,
        "status": r.status.value,
        "version": r.version,
    }
