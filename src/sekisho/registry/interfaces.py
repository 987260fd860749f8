"""What the register needs from other parties, as protocols (implemented by ``sekisho.network``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TransferPackage:
    """転出証明書情報: what the municipality of origin hands to the destination on move-in.

    It carries the person's secret root and polymorphic pseudonym, so it travels only between the two
    registers, over the network's authenticated channel, and is never shown or logged.
    """

    token: str
    source: str  # municipality code of origin
    items: dict[str, str]  # the resident's items in import-format text (docs/import-format.md)
    root: bytes
    pp: bytes | None
    previous_address: str  # the full address line at the origin: the destination's 従前の住所
    destination_planned: str
    planned_on: date
    #: a DV support measure (支援措置) in force for the person, carried to the destination, which must put it in force
    #: in the same transaction that creates the incoming record (``sekisho.policy.municipality``: export_measure /
    #: honour_measure; payload format "sekisho-support-measure/1").  None: no measure.  Never printed or logged.
    support_measure: Mapping[str, Any] | None = None

    def __repr__(self) -> str:  # never print the root
        return f"TransferPackage(source={self.source!r}, planned_on={self.planned_on!r})"


class TransferSource(Protocol):
    """The municipality of origin, as the destination's register sees it."""

    def fetch_transfer(self, token: str, *, requester: str) -> TransferPackage: ...

    def complete_transfer(self, token: str, *, requester: str, moved_on: date, destination_line: str) -> None: ...


class Directory(Protocol):
    """How one municipality reaches another (in-process in the demo, HTTP between nodes)."""

    def municipality(self, code: str) -> TransferSource: ...


class EventSink(Protocol):
    """Receives the register's outbox events (agency notices, PKI revocations) after they commit."""

    def deliver(
        self, *, kind: str, municipality: str, handle: str, event_date: date, extra: dict[str, Any]
    ) -> None: ...
