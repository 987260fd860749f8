"""The seam between the PKI and the register: where the four basic items of a signature certificate come from.

The PKI must never invent or keep a person's data: a signature certificate carries the name, birth date, sex
and address *as the register holds them* at issuance.  Until the registry service offers a read of those
items for (municipality code, handle), :func:`basic_items_source` returns :class:`RegisterNotConnected`, which
refuses; the clerk's CLI may instead pass the items they read from the resident's record (:class:`GivenItems`).

To connect the register (lead): implement :class:`BasicItemsSource` on top of the registry's service, a
purpose-limited read that writes the resident's access record ("PKI: signature certificate issuance") before
returning the four items, and return it from :func:`basic_items_source`.
"""

from __future__ import annotations

from typing import Protocol

from sekisho.config import Home
from sekisho.errors import Unavailable
from sekisho.pki.profiles import BasicItems


class BasicItemsSource(Protocol):
    def basic_items(self, *, municipality: str, handle: str) -> BasicItems: ...


class RegisterNotConnected:
    """Refuses every read: the PKI is not wired to the register yet."""

    def basic_items(self, *, municipality: str, handle: str) -> BasicItems:
        raise Unavailable(
            "the register is not connected to the PKI yet: pass the four basic items explicitly",
            field="register",
        )


class GivenItems:
    """Items a clerk entered from the resident's record in front of them (the CLI's --name/--birth-date/...)."""

    def __init__(self, items: BasicItems) -> None:
        self._items = items

    def basic_items(self, *, municipality: str, handle: str) -> BasicItems:
        return self._items


def basic_items_source(home: Home) -> BasicItemsSource:
    """THE SEAM: return a source backed by the registry service here once it offers the read."""
    return RegisterNotConnected()
