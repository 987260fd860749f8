"""What the register needs from other parties, as protocols (implemented in ``sekisho.node``, in-process and HTTP)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    #: the registry pseudonym s_R·P the origin was indexed under (the locator entry moves with it)
    rp: bytes | None = None
    #: (agency, purpose, items held) of every enrolment: the destination sends the person's notices from now on
    enrolments: tuple[tuple[str, str, str], ...] = ()
    #: a DV support measure (支援措置) in force for the person, carried to the destination, which must put it in force
    #: in the same transaction that creates the incoming record (``sekisho.policy.municipality``: export_measure /
    #: honour_measure; payload format "sekisho-support-measure/1").  None: no measure.  Never printed or logged.
    support_measure: Mapping[str, Any] | None = None

    def __repr__(self) -> str:  # never print the root
        return f"TransferPackage(source={self.source!r}, planned_on={self.planned_on!r})"


class TransferAnnex(Protocol):
    """What the same municipality's policy context adds to a hand-over — a DV support measure (支援措置) — written
    in the register's own transactions, so that a protected person is never active anywhere unprotected
    (implemented by ``sekisho.policy.municipality.MunicipalityPolicy``)."""

    def export_measure(self, conn: Any, *, handle: str) -> Mapping[str, Any] | None: ...

    def honour_measure(self, conn: Any, *, handle: str, payload: Mapping[str, Any]) -> None: ...


class TransferSource(Protocol):
    """The municipality of origin, as the destination's register sees it."""

    def fetch_transfer(self, token: str, *, requester: str) -> TransferPackage: ...

    def complete_transfer(self, token: str, *, requester: str, moved_on: date, destination_line: str) -> None: ...


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """What the locator answers for one indexed PP: the person's registry pseudonym ``s_R·P``, and whether the
    locator's entry names this municipality (False: another municipality holds the person's live record)."""

    rp: bytes
    here: bool

    def __repr__(self) -> str:  # a pseudonym is never printed
        return f"IndexEntry(here={self.here!r})"


class RegistryIndex(Protocol):
    """The registry pseudonym index as one municipality sees it: T1, T2 and the locator behind one client that
    acts as this municipality (an authenticated channel in production)."""

    def index(self, pps: Sequence[bytes]) -> list[IndexEntry]:
        """Convert PPs R→R through both transcryptors; the locator decrypts ``s_R·P``, maps each to this
        municipality unless another holds it, and returns them (in order)."""
        ...

    def hand_over(self, rp: bytes, *, to: str) -> None:
        """Move the locator's entry from this municipality to ``to`` (the destination of a completed move)."""
        ...


class Directory(Protocol):
    """How one municipality reaches another (in-process in the demo, HTTP between nodes)."""

    def municipality(self, code: str) -> TransferSource: ...


class EventSink(Protocol):
    """Receives the register's outbox events (agency notices, PKI revocations) after they commit."""

    def deliver(
        self, *, kind: str, municipality: str, handle: str, event_date: date, extra: dict[str, Any]
    ) -> None: ...
