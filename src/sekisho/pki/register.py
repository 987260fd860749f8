"""The seam between the PKI and the register: where the four basic items of a signature certificate come from.

The PKI must never invent or keep a person's data: a signature certificate carries the name, birth date, sex
and address *as the register holds them* at issuance.  :func:`basic_items_source` reaches the resident's
municipality through the network (``sekisho.network.local`` in one process), whose register answers with a
purpose-limited read that writes the resident's access record before the items leave.  The clerk's CLI may
instead pass the items they read from the record in front of them (:class:`GivenItems`).
"""

from __future__ import annotations

from typing import Protocol

from sekisho.config import Home
from sekisho.pki.profiles import BasicItems


class BasicItemsSource(Protocol):
    def basic_items(self, *, municipality: str, handle: str) -> BasicItems: ...


class GivenItems:
    """Items a clerk entered from the resident's record in front of them (the CLI's --name/--birth-date/...)."""

    def __init__(self, items: BasicItems) -> None:
        self._items = items

    def basic_items(self, *, municipality: str, handle: str) -> BasicItems:
        return self._items


PURPOSE = "pki.signature-certificate"


def basic_items_source(home: Home) -> BasicItemsSource:
    """The municipalities' registers, reached through the network."""
    from sekisho.network.local import RegisterBasicItems

    return RegisterBasicItems(home, purpose=PURPOSE)
