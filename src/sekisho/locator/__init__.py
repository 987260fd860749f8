"""The locator: which municipality currently holds a person, by registry pseudonym ``s_R·P`` only.

It holds the registry domain's key ``y_R`` (from the key ceremony, in ``locator/``) and one table, ``loc_entry``:
``s_R·P`` → municipality code.  No name, date or address ever reaches it.  See docs/architecture.md (flows 3, 4)
and docs/pseudonyms.md ("The registry index").
"""

from sekisho.locator.service import LocatorService

__all__ = ["LocatorService"]
