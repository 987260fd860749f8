"""What a transcryptor is asked, what it answers, and the two hooks every conversion passes through.

A :class:`ConversionRequest` carries ciphertexts and metadata only: no plaintext pseudonym, no personal data.
Before a transcryptor converts anything it calls, in this order,

1. ``PolicyHook.authorise(request) -> Grant`` — may raise :class:`~sekisho.errors.Refused`;
2. ``AccessHook.record(request, grant)`` — writes the access record; if it raises, nothing is converted.

A refused request never reaches the access hook: an access record says data was released, and none was.  The
transcryptor keeps its own journal of refusals (metadata only) for the watchdog.

When both hooks can share one transaction (:class:`RecordingPolicyHook` and :class:`JournalHook`: the policy's
database is the transcryptor's own), the recorded decision and the access record commit together — one durable
commit per hop instead of two — and the access record's public leaf is appended after that commit, still before
anything is converted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol, runtime_checkable

from sekisho.errors import InvalidInput

#: the registry network's own domain: the locator and municipalities index residents by s_R·P
REGISTRY_DOMAIN: Final = "registry"

_DOMAIN_RE: Final = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_PURPOSE_RE: Final = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_REQUEST_ID_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_REQUESTER_RE: Final = re.compile(r"^[A-Za-z0-9_./:-]{1,128}$")


#: a cross-reference's *record leg*: the same persons, A → R under the warrant, so that each municipality records
#: the cross-reference for its residents; its request id is the A → B request's id with this suffix
RECORD_LEG_SUFFIX: Final = "-record"


def record_leg_id(request_id: str) -> str:
    """The request id of the record leg of the A → B request ``request_id``."""
    return request_id + RECORD_LEG_SUFFIX


def paired_request_id(request_id: str) -> str | None:
    """The A → B request a record leg belongs to, or None if ``request_id`` is not a record leg's."""
    if not request_id.endswith(RECORD_LEG_SUFFIX) or len(request_id) == len(RECORD_LEG_SUFFIX):
        return None
    return request_id[: -len(RECORD_LEG_SUFFIX)]


def check_domain(name: object, *, field: str = "domain") -> str:
    """A domain name: the registry, or an agency's name (same alphabet as ``agency/<name>`` party names)."""
    if not isinstance(name, str) or not _DOMAIN_RE.match(name):
        raise InvalidInput("must be a domain name ([a-z][a-z0-9_-]{0,39})", field=field)
    return name


def check_purpose(purpose: object, *, field: str = "purpose") -> str:
    if not isinstance(purpose, str) or not _PURPOSE_RE.match(purpose):
        raise InvalidInput("must be a purpose code ([a-z][a-z0-9_.-]{0,63})", field=field)
    return purpose


@dataclass(frozen=True, slots=True, repr=False)
class ConversionRequest:
    """One batch to convert from one domain to another, for one purpose, under one grant.

    ``from_domain == REGISTRY_DOMAIN`` means the inputs are polymorphic pseudonyms ``Enc_Y(P)`` from the
    register; otherwise they are the source domain's pseudonyms ``s_from·P`` encrypted under ``Y``.
    ``key`` is the public key the batch is encrypted under: ``Y`` for the first transcryptor, the previous
    transcryptor's output key after that.
    """

    request_id: str
    requester: str
    from_domain: str
    to_domain: str
    purpose: str
    #: the grant (a signed grant's text form for the default policy) or a warrant id the policy resolves
    grant: str
    ciphertexts: tuple[bytes, ...]
    key: bytes

    def check(self) -> None:
        """Validate the metadata (the ciphertexts are validated by the transcryption itself)."""
        if not isinstance(self.request_id, str) or not _REQUEST_ID_RE.match(self.request_id):
            raise InvalidInput("must be 1-64 characters of [A-Za-z0-9_-]", field="request_id")
        if not isinstance(self.requester, str) or not _REQUESTER_RE.match(self.requester):
            raise InvalidInput("must be 1-128 characters of [A-Za-z0-9_./:-]", field="requester")
        check_domain(self.from_domain, field="from_domain")
        check_domain(self.to_domain, field="to_domain")
        check_purpose(self.purpose)
        if not isinstance(self.grant, str) or not 0 < len(self.grant) <= 4096:
            raise InvalidInput("must be a grant of at most 4096 characters", field="grant")
        if not isinstance(self.ciphertexts, tuple):
            raise InvalidInput("must be a tuple of ciphertexts", field="ciphertexts")
        if not isinstance(self.key, bytes):
            raise InvalidInput("must be 32 bytes", field="key")

    def __repr__(self) -> str:
        return (
            f"ConversionRequest(request_id={self.request_id!r}, requester={self.requester!r}, "
            f"from_domain={self.from_domain!r}, to_domain={self.to_domain!r}, purpose={self.purpose!r}, "
            f"ciphertexts=<{len(self.ciphertexts)}>)"
        )


@dataclass(frozen=True, slots=True)
class Grant:
    """What the policy allowed: ``from_domain`` may convert to ``to_domain`` for ``purpose`` until
    ``not_after``, at most ``max_uses`` ciphertexts in all (counted by each transcryptor on its own)."""

    grant_id: str
    issuer: str
    from_domain: str
    to_domain: str
    purpose: str
    not_before: datetime
    not_after: datetime
    max_uses: int
    legal_basis: str = ""
    #: the grant is a warrant (its id is ``grant_id``): the conversion's public leaf names it
    under_warrant: bool = False


#: the most ciphertexts one grant may allow
MAX_USES: Final = 1_000_000_000


def batch_digest(request: ConversionRequest) -> bytes:
    """What a transcryptor remembers of a counted batch: a retry of the same request with the same batch costs
    nothing, the same request id with another batch is a conflict."""
    h = hashlib.sha256(b"sekisho/pep/v1/batch\x00" + request.key)
    for ct in request.ciphertexts:
        h.update(ct)
    return h.digest()


@dataclass(frozen=True, slots=True)
class Redemption:
    """A request a transcryptor counted under a grant."""

    grant_id: str
    batch_size: int
    batch_digest: bytes


class GrantLedger(Protocol):
    """A transcryptor's count of the ciphertexts it converted under each grant, read and written in the caller's
    transaction.  The transcryptor keeps it (``sekisho.pseudonyms``); its policy hook is handed one and counts a
    warrant's persons in it without knowing how it is stored.  ``conn`` is that transaction's SQLAlchemy
    connection, typed ``Any`` so that the protocol modules stay free of the database library."""

    def redemption(self, conn: Any, *, requester: str, request_id: str) -> Redemption | None:
        """The request ``request_id`` of ``requester`` as counted, or None if it was not."""
        ...

    def uses(self, conn: Any, grant_id: str) -> int:
        """How many ciphertexts were counted under ``grant_id`` (0 if none)."""
        ...

    def redeem(self, conn: Any, *, grant: Grant, request: ConversionRequest, digest: bytes, now: datetime) -> int:
        """Count the request's ciphertexts under ``grant`` or raise Refused past its cap; 0 for a retry."""
        ...


@dataclass(frozen=True, slots=True, repr=False)
class HopResult:
    """One transcryptor's output: the converted batch and the public key it is now under."""

    party: str
    request_id: str
    ciphertexts: tuple[bytes, ...]
    key: bytes

    def __repr__(self) -> str:
        return f"HopResult(party={self.party!r}, request_id={self.request_id!r}, ciphertexts=<{len(self.ciphertexts)}>)"


@runtime_checkable
class PolicyHook(Protocol):
    def authorise(self, request: ConversionRequest) -> Grant:
        """Return the grant that allows this request, or raise :class:`~sekisho.errors.Refused`."""
        ...


@runtime_checkable
class AccessHook(Protocol):
    def record(self, request: ConversionRequest, grant: Grant) -> None:
        """Write the access record for an authorised request before anything is converted; raise to stop it."""
        ...


@runtime_checkable
class RecordingPolicyHook(Protocol):
    """A policy hook that can write the caller's access record in the transaction of its recorded decision."""

    def authorise_recording(self, request: ConversionRequest, record: Callable[[Any, Grant], None]) -> Grant:
        """:meth:`PolicyHook.authorise`, calling ``record(conn, grant)`` for an allowed request inside the
        transaction that records the decision (``conn``: its SQLAlchemy connection); if ``record`` raises,
        neither is kept and the error propagates."""
        ...


@runtime_checkable
class JournalHook(Protocol):
    """An access hook in two steps: the record in a given transaction, then (after its commit) its publication."""

    def record_in(self, conn: Any, request: ConversionRequest, grant: Grant) -> Any:
        """Write the access record in ``conn``'s transaction; returns what :meth:`publish` needs."""
        ...

    def publish(self, written: Any) -> None:
        """After the commit: make the record public (the access log), or raise to stop the conversion."""
        ...


class Hop(Protocol):
    """A transcryptor as the network sees it (in-process or over HTTP: the clients ``sekisho.node`` hands out)."""

    def convert(self, request: ConversionRequest) -> HopResult: ...


class Relay(Protocol):
    """Both transcryptors in one call: the first converts and hands its result on to the second itself.

    Over HTTP a caller reaches T1 only (T2 hears from T1 alone), so a conversion is one request to T1's
    ``/relay``; in-process the hops are called one after the other (:func:`sekisho.pseudonyms.convert_batch`
    accepts either).  The result is the last transcryptor's."""

    def relay(self, request: ConversionRequest) -> HopResult: ...


#: what a conversion passes through: the hops one by one, or a relay through them
Hops = Sequence[Hop] | Relay
