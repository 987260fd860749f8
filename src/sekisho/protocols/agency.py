"""What travels between a municipality, the locator and an agency, and the protocols each side calls.

No message carries a plaintext pseudonym: the person travels as a ciphertext in a
:class:`~sekisho.protocols.conversion.HopResult` that only the receiving domain can open, and the items beside it
are exactly what the policy released for that person.  ``__repr__`` prints counts, never values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

from sekisho.protocols.conversion import ConversionRequest
from sekisho.protocols.conversion import HopResult as HopResult

#: the items a municipality releases to agencies through these flows, named as in the policy's vocabulary
#: (``sekisho.jp.legal.ITEMS``); the policy picks a subset per agency and purpose
RELEASABLE_ITEMS: tuple[str, ...] = (
    "name",
    "kana",
    "birth_date",
    "sex",
    "address",
    "resident_since",
    "nationality",
    "death",  # the date of death, for a closed record (消除事由 死亡)
    "moved",  # the date of a move out, for a record closed by one
)

#: domains whose operator is a party of its own rather than ``agency/<domain>``: the PKI is an agency of the network
#: (it knows card holders by its own pseudonym), but its system is the ``pki`` party
PARTY_DOMAINS: Mapping[str, str] = {"pki": "pki"}


def operator_of(domain: str) -> str:
    """The party that runs domain ``domain`` and alone may receive its key shares."""
    return PARTY_DOMAINS.get(domain, f"agency/{domain}")


#: outcome of an identity confirmation for one pseudonym
LookupStatus = Literal["found", "died", "moved", "pending", "not-found", "refused"]

#: outcome of a cross-reference for one person, as the municipality holding them reports it: ``recorded`` (the
#: allowed access record committed and reached the public log: B may have the person), ``refused`` (a refusal was
#: recorded: B may not), ``not-found`` (no register holds the person: nothing recorded, B may not)
CrossReferenceStatus = Literal["recorded", "refused", "not-found"]


@dataclass(frozen=True, slots=True, repr=False)
class EnrolmentDelivery:
    """Municipality → agency: residents newly enrolled, as ``Enc_{Y_A}(s_A·P)`` plus the released items of each
    (``items[i]`` belongs to ``result.ciphertexts[i]``)."""

    delivery_id: str
    purpose: str
    result: HopResult
    items: tuple[Mapping[str, str], ...]
    #: the item names the policy released for this purpose (a person's mapping holds those that have a value)
    released: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"EnrolmentDelivery(delivery_id={self.delivery_id!r}, purpose={self.purpose!r}, n={len(self.items)})"


@dataclass(frozen=True, slots=True, repr=False)
class Notice:
    """One change notice (design flow 4).  ``notice_id`` is unique network-wide (municipality code and outbox
    event id): the agency keeps the first copy and ignores a re-delivery."""

    notice_id: str
    kind: str  # died | moved_out | moved_in | moved_within | name_changed
    event_date: date
    items: Mapping[str, str] = field(default_factory=dict)
    #: when the register recorded the change (its clock, UTC): what a receiver holds from before that is stale,
    #: what it received after already reflects the change (the PKI keeps a certificate issued after it)
    recorded_at: datetime | None = None
    #: the register that sent it and its outbox sequence there: the order of one register's notices about a person
    source: str | None = None
    sequence: int | None = None
    #: the same id at both ends of a hand-over (the origin's moved_out, the destination's moved_in): the move-out
    #: comes first, whatever the two registers' clocks say (``sekisho.agency.ordering``)
    move: str | None = None

    def __repr__(self) -> str:
        return f"Notice(notice_id={self.notice_id!r}, kind={self.kind!r})"


@dataclass(frozen=True, slots=True, repr=False)
class NoticeBatch:
    """Municipality → agency: notices, ``notices[i]`` about the person in ``result.ciphertexts[i]``."""

    purpose: str
    result: HopResult
    notices: tuple[Notice, ...]

    def __repr__(self) -> str:
        return f"NoticeBatch(purpose={self.purpose!r}, n={len(self.notices)})"


@dataclass(frozen=True, slots=True, repr=False)
class NoticeFeedPage:
    """One page of a municipality's notice feed for one agency: the batches (one per purpose) and the cursor to
    ask after next time (the last outbox event the page looked at, whether or not it made a notice)."""

    batches: tuple[NoticeBatch, ...]
    cursor: int

    def __repr__(self) -> str:
        return f"NoticeFeedPage(batches={len(self.batches)}, cursor={self.cursor})"


class NoticeFeed(Protocol):
    """A municipality's change notices as an agency pulls them (in-process, or ``POST /notices/feed`` on the
    municipality's node)."""

    def notice_feed(self, agency: str, *, after: int = 0, limit: int = 1000) -> NoticeFeedPage: ...


@dataclass(frozen=True, slots=True)
class IdentityQuery:
    """Agency → locator → municipality: what the agency asks about the persons in one converted batch."""

    request_id: str
    requester: str  # the agency's name (its domain)
    purpose: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True, repr=False)
class IdentityAnswer:
    """Municipality → agency: the outcome for one person and only the items the policy released."""

    status: LookupStatus
    items: Mapping[str, str] = field(default_factory=dict)
    #: the decision point's reasons when the request as a whole was refused (beyond legal basis ∩ PIA); empty for
    #: a refusal that concerns this person alone (a support measure: the reason is not told)
    reasons: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"IdentityAnswer(status={self.status!r}, items=<{len(self.items)}>)"


class AgencyEndpoint(Protocol):
    """An agency as a municipality reaches it (in-process in the demo, HTTP between nodes)."""

    def requested_items(self, purpose: str) -> tuple[str, ...]:
        """The items the agency asks for when it enrols residents for ``purpose`` (the policy may refuse)."""
        ...

    def receive_enrolment(self, delivery: EnrolmentDelivery) -> int:
        """Decrypt and store; returns how many persons were new to the agency.  Idempotent per delivery id."""
        ...

    def receive_notices(self, batch: NoticeBatch) -> int:
        """Decrypt and store; returns how many notices were new (a re-delivered notice id is ignored)."""
        ...


class IdentityResponder(Protocol):
    """A municipality as the locator reaches it: answers for persons it found by their registry pseudonym."""

    def answer_identity(self, rps: Sequence[bytes], query: IdentityQuery) -> list[IdentityAnswer]: ...


class Locator(Protocol):
    """The locator as an agency reaches it: routes a batch converted to the registry domain."""

    def confirm(self, result: HopResult, query: IdentityQuery) -> list[IdentityAnswer]: ...


@dataclass(frozen=True, slots=True)
class CrossReferenceQuery:
    """Agency A → locator → municipality, beside the record leg of a cross-reference (A → R under the warrant):
    which request, who asks, for whom (B), why, and the warrant token the municipality decides on."""

    request_id: str  # the A → B request's id: a municipality records each resident once per request
    requester: str  # agency A (its domain)
    target: str  # agency B
    purpose: str
    warrant: str  # the watchdog-signed warrant token

    def __repr__(self) -> str:
        return (
            f"CrossReferenceQuery(request_id={self.request_id!r}, requester={self.requester!r}, "
            f"target={self.target!r}, purpose={self.purpose!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class CrossReferenceDelivery:
    """A's cross-reference → agency B: ``result`` is ``Enc_{Y_B}(s_B·P)`` of the persons whose municipality
    recorded the cross-reference, ``positions[i]`` the place of ``result.ciphertexts[i]`` in A's request (B answers
    A out of band by position; Sekisho moves none of B's data)."""

    request_id: str
    requester: str  # agency A
    purpose: str
    warrant: str  # the warrant's id
    positions: tuple[int, ...]
    result: HopResult

    def __repr__(self) -> str:
        return f"CrossReferenceDelivery(request_id={self.request_id!r}, n={len(self.positions)})"


class CrossReferenceResponder(Protocol):
    """A municipality as the locator reaches it with a cross-reference's record leg."""

    def record_cross_reference(
        self, rps: Sequence[bytes], query: CrossReferenceQuery
    ) -> list[CrossReferenceStatus]: ...


class CrossReferenceLocator(Protocol):
    """The locator as a cross-reference reaches it: routes the record leg to the municipalities."""

    def cross_reference(self, result: HopResult, query: CrossReferenceQuery) -> list[CrossReferenceStatus]: ...


class CrossReferenceReceiver(Protocol):
    """Agency B as a cross-reference reaches it."""

    def receive_cross_reference(self, delivery: CrossReferenceDelivery) -> int:
        """Decrypt and store; returns how many persons were new.  Idempotent per (request id, position)."""
        ...


class LocatorRoute(Protocol):
    """The locator as an agency reaches it: the agency's batch, still under its own domain, converted A → R on the
    way.  Over HTTP an agency never calls the locator: T1's ``/relay`` converts, hands on to T2, and T2 hands the
    result to the locator, whose answer comes back the same way; in-process the same three calls are made in turn."""

    def confirm(self, request: ConversionRequest, query: IdentityQuery) -> list[IdentityAnswer]: ...

    def cross_reference(self, request: ConversionRequest, query: CrossReferenceQuery) -> list[CrossReferenceStatus]: ...
