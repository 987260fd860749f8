"""JSON and text views of records: what the CLI's --json, the API and a transfer show (never a root or pseudonym)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sekisho.registry.model import HistoryEntry, Resident

if TYPE_CHECKING:
    from sekisho.registry.access import AccessListing


def items_text(r: Resident) -> dict[str, str]:
    """A record's items in import-format text (what a transfer carries and a correction starts from)."""
    f = r.foreign
    return {
        "relationship": r.relationship,
        "family_name": r.family_name,
        "given_name": r.given_name,
        "family_name_kana": r.family_name_kana,
        "given_name_kana": r.given_name_kana,
        "kana_confirmed": "true" if r.kana_confirmed else "false",
        "former_family_name": r.former_family_name,
        "former_family_name_kana": r.former_family_name_kana,
        "alias_name": r.alias_name,
        "alias_name_kana": r.alias_name_kana,
        "alphabet_name": r.alphabet_name,
        "birth_date": r.birth_date.gregorian() if r.is_foreign else r.birth_date.wareki(),
        "sex": r.sex,
        "nationality": r.nationality,
        "foreign_category": f.category.value if f else "",
        "residence_status": f.residence_status if f else "",
        "period_of_stay": f.period_of_stay if f else "",
        "stay_expiry": f.stay_expiry.isoformat() if f and f.stay_expiry else "",
        "residence_card_number": f.residence_card_number if f else "",
        "special_permanent_certificate_number": f.special_permanent_certificate_number if f else "",
        "became_foreign_resident_on": f.became_foreign_resident_on.isoformat() if f else "",
        "postal_code": r.address.postal_code or "",
        "town": r.address.town,
        "block": r.address.block,
        "katagaki": r.address.katagaki,
        "became_resident_on": r.became_resident_on.isoformat(),
        "address_set_on": r.address_set_on.isoformat(),
        "filed_on": r.filed_on.isoformat(),
        "previous_address": r.previous_address,
        "honseki": r.honseki,
        "hittousha": r.hittousha,
        "benefits": ",".join(sorted(r.benefits)),
    }


def resident_json(r: Resident) -> dict[str, Any]:
    """The record as the CLI's --json and the API show it (no root, no pseudonym: they never leave)."""
    return {
        "handle": r.handle,
        "household": r.household,
        "relationship": r.relationship,
        "status": r.status.value,
        "version": r.version,
        "name": r.display_name,
        "kana": r.display_kana,
        "kana_confirmed": r.kana_confirmed,
        "family_name": r.family_name,
        "given_name": r.given_name,
        "family_name_kana": r.family_name_kana,
        "given_name_kana": r.given_name_kana,
        "former_family_name": r.former_family_name,
        "former_family_name_kana": r.former_family_name_kana,
        "alias_name": r.alias_name,
        "alias_name_kana": r.alias_name_kana,
        "alphabet_name": r.alphabet_name,
        "birth_date": r.birth_date.iso(),
        "birth_date_display": r.birth_date_display(),
        "sex": r.sex,
        "nationality": r.nationality,
        "foreign": r.foreign.as_dict() if r.foreign else None,
        "address": r.address.line(),
        "town": r.address.town,
        "block": r.address.block,
        "katagaki": r.address.katagaki,
        "postal_code": r.address.postal_code,
        "became_resident_on": r.became_resident_on.isoformat(),
        "address_set_on": r.address_set_on.isoformat(),
        "filed_on": r.filed_on.isoformat(),
        "previous_address": r.previous_address,
        "honseki": r.honseki,
        "hittousha": r.hittousha,
        "benefits": sorted(r.benefits),
        "moving_out": r.moving_out,
        "closed": None
        if r.closed is None
        else {
            "reason": r.closed.reason.value,
            "event_date": r.closed.event_date.isoformat(),
            "filed_on": r.closed.filed_on.isoformat(),
            "destination_planned": r.closed.destination_planned,
            "destination_confirmed": r.closed.destination_confirmed,
        },
    }


def access_list_json(listing: AccessListing) -> dict[str, Any]:
    """The resident's access list as a document they can keep and verify offline (`sekisho log verify-list`)."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {
        "format": "sekisho-access-list/1",
        "handle": listing.handle,
        "commitment_key": listing.k_res.hex(),
        "checkpoint": listing.checkpoint,
        "since_size": listing.since_size,
        "consistency": [b64(p) for p in listing.consistency],
        "sealed_hidden": listing.sealed_hidden,
        "pending": listing.pending,
        "items": [
            {
                "index": item.index,
                "entry": item.entry.decode(),
                "proof": [b64(p) for p in item.proof],
                "nonce": item.nonce.hex() if item.nonce is not None else None,
            }
            for item in listing.items
        ],
    }


def history_json(h: HistoryEntry) -> dict[str, Any]:
    return {
        "version": h.version,
        "kind": h.kind.value,
        "event_date": h.event_date.isoformat(),
        "filed_on": h.filed_on.isoformat(),
        "late": h.late,
        "recorded_at": h.recorded_at.isoformat() if isinstance(h.recorded_at, datetime) else str(h.recorded_at),
        "actor": h.actor,
        "changes": h.changes,
        "note": h.note,
    }
