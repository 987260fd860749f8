"""The register's import format (docs/import-format.md): what ``sekisho synth`` writes and a register imports."""

from __future__ import annotations

from typing import Final

#: the columns of the import format (docs/import-format.md), in the order ``sekisho synth`` writes them; the
#: one list every reader and writer of the format uses
IMPORT_COLUMNS: Final = (
    "household", "relationship", "family_name", "given_name", "family_name_kana", "given_name_kana",
    "kana_confirmed", "former_family_name", "former_family_name_kana", "alias_name", "alias_name_kana",
    "alphabet_name", "birth_date", "sex", "nationality", "foreign_category", "residence_status", "period_of_stay",
    "stay_expiry", "residence_card_number", "special_permanent_certificate_number", "became_foreign_resident_on",
    "postal_code", "town", "block", "katagaki", "became_resident_on", "address_set_on", "filed_on",
    "previous_address", "honseki", "hittousha", "benefits",
)  # fmt: skip
