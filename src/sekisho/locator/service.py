"""The locator as a service: index, hand-over, and routing of identity confirmations.

* :meth:`LocatorService.index` — a municipality's PPs, converted R → R by T1 and T2, arrive as
  ``Enc_{Y_R}(s_R·P)``; the locator decrypts, records ``s_R·P → municipality`` where no entry exists, and returns
  each ``s_R·P`` to that municipality (which stores it as ``rp``) with whether the entry names it.
* :meth:`LocatorService.hand_over` — at a move's hand-over the municipality of origin, the current holder, moves
  the entry to the destination (one conditional UPDATE: exactly one holder at every instant).  Only the holder
  may move an entry.  A death changes nothing: the entry keeps pointing at the last municipality.
* :meth:`LocatorService.confirm` — an agency's batch converted A → R: the locator decrypts, groups the persons by
  holder, asks each municipality, and returns the answers in the batch's order.  It never sees an agency's
  pseudonym (only ``s_R·P``) and never sees an answer's items in a form it keeps: nothing is stored.
* :meth:`LocatorService.cross_reference` — the record leg of a cross-reference (A → R under the warrant): routed
  the same way; each municipality records the cross-reference for its residents and says per person whether it
  did.  The locator learns ``s_R·P`` and the holders, as for an identity confirmation, never ``s_A·P`` or ``s_B·P``.

Log lines carry counts and municipality codes only.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from sekisho.config import Home
from sekisho.errors import Conflict, InvalidInput, Unavailable
from sekisho.locator import store
from sekisho.pep.flows import agency_decrypt
from sekisho.pep.group import check_point_bytes
from sekisho.pep.keys import DomainKey, open_registry_key
from sekisho.protocols.agency import (
    CrossReferenceQuery,
    CrossReferenceResponder,
    CrossReferenceStatus,
    IdentityAnswer,
    IdentityQuery,
    IdentityResponder,
)
from sekisho.protocols.conversion import REGISTRY_DOMAIN, HopResult
from sekisho.protocols.registry import IndexEntry
from sekisho.storage import open_party_db

log = logging.getLogger("sekisho.locator")

PARTY = "locator"
CONTEXT = "locator"
_CODE_RE = re.compile(r"^\d{6}$")


def _code(value: str, field: str) -> str:
    if not isinstance(value, str) or not _CODE_RE.match(value):
        raise InvalidInput("must be a 6-digit municipality code", field=field)
    return value


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class LocatorService:
    def __init__(self, engine: sa.Engine, *, key: DomainKey | None, clock: Callable[[], datetime] = _now) -> None:
        if key is not None and key.domain != REGISTRY_DOMAIN:
            raise InvalidInput("the locator holds the registry domain's key", field="key")
        self.engine = engine
        self._key = key
        self._clock = clock

    @classmethod
    def open(cls, home: Home, *, passphrase: bytes | None) -> LocatorService:
        """The locator of ``home``.  Without a passphrase it can hand entries over but decrypt nothing."""
        from sekisho.pep.keys import network_path

        key = open_registry_key(home, passphrase=passphrase) if passphrase else None
        # the locator is part of the network's set-up (`network init`): its table is made on first use after it
        return cls(open_party_db(home, PARTY, [CONTEXT], create=network_path(home.root).exists()), key=key)

    def _decrypt(self, result: HopResult) -> list[bytes]:
        if self._key is None:
            raise Unavailable("the locator's key is not open", field="locator")
        return self._key_decrypt(result)

    def _key_decrypt(self, result: HopResult) -> list[bytes]:
        assert self._key is not None
        return agency_decrypt(self._key, result)

    # --- index --------------------------------------------------------------------------------------------

    def index(self, result: HopResult, *, requester: str) -> list[IndexEntry]:
        _code(requester, "requester")
        rps = self._decrypt(result)
        now = self._clock()
        with self.engine.begin() as conn:
            insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(store.entry)
            conn.execute(
                insert.on_conflict_do_nothing(),
                [{"rp": rp, "municipality": requester, "since": now} for rp in dict.fromkeys(rps)],
            )
            holders = self._holders(conn, rps)
        out = [IndexEntry(rp=rp, here=holders[rp] == requester) for rp in rps]
        log.info("locator indexed n=%d for %s (held elsewhere: %d)", len(rps), requester, sum(not x.here for x in out))
        return out

    def _holders(self, conn: sa.Connection, rps: Sequence[bytes]) -> dict[bytes, str]:
        e = store.entry.c
        out: dict[bytes, str] = {}
        unique = list(dict.fromkeys(rps))
        for i in range(0, len(unique), 1000):
            for row in conn.execute(sa.select(e.rp, e.municipality).where(e.rp.in_(unique[i : i + 1000]))):
                out[bytes(row.rp)] = row.municipality
        return out

    # --- hand-over ----------------------------------------------------------------------------------------

    def hand_over(self, rp: bytes, *, requester: str, to: str) -> None:
        """Move the entry from ``requester`` (its holder) to ``to``.  Idempotent: repeating a completed move is
        fine; moving someone else's entry is a Conflict."""
        _code(requester, "requester")
        _code(to, "to")
        check_point_bytes(rp, field="rp")
        e = store.entry.c
        with self.engine.begin() as conn:
            moved = conn.execute(
                store.entry.update()
                .where(e.rp == rp, e.municipality == requester)
                .values(municipality=to, since=self._clock())
            ).rowcount
            if moved == 1:
                log.info("locator handed one entry over from %s to %s", requester, to)
                return
            holder = conn.execute(sa.select(e.municipality).where(e.rp == rp)).scalar()
            if holder == to:
                return
            if holder is None:
                # the origin indexed the person but the entry is missing (restored backup): the holder vouches
                conn.execute(store.entry.insert().values(rp=rp, municipality=to, since=self._clock()))
                return
        raise Conflict("the person is held by another municipality", field="rp")

    # --- identity confirmation ----------------------------------------------------------------------------

    def confirm(
        self,
        result: HopResult,
        query: IdentityQuery,
        *,
        municipalities: Callable[[str], IdentityResponder],
    ) -> list[IdentityAnswer]:
        rps, by_code = self._route(result)
        answers: list[IdentityAnswer] = [IdentityAnswer(status="not-found")] * len(rps)
        for code, positions in sorted(by_code.items()):
            got = municipalities(code).answer_identity([rps[i] for i in positions], query)
            if len(got) != len(positions):
                raise Conflict("a municipality answered for another number of persons", field="answers")
            for i, answer in zip(positions, got, strict=True):
                answers[i] = answer
        log.info(
            "locator routed request_id=%s requester=%s n=%d to %d municipality(ies), %d unknown",
            query.request_id,
            query.requester,
            len(rps),
            len(by_code),
            len(rps) - sum(len(p) for p in by_code.values()),
        )
        return answers

    def cross_reference(
        self,
        result: HopResult,
        query: CrossReferenceQuery,
        *,
        municipalities: Callable[[str], CrossReferenceResponder],
    ) -> list[CrossReferenceStatus]:
        """A cross-reference's record leg: each municipality records the cross-reference for its residents and
        says, per person, whether it did; returned in the batch's order.  Nothing is stored here."""
        rps, by_code = self._route(result)
        statuses: list[CrossReferenceStatus] = ["not-found"] * len(rps)
        for code, positions in sorted(by_code.items()):
            got = municipalities(code).record_cross_reference([rps[i] for i in positions], query)
            if len(got) != len(positions):
                raise Conflict("a municipality answered for another number of persons", field="answers")
            for i, status in zip(positions, got, strict=True):
                statuses[i] = status
        log.info(
            "locator routed cross-reference request_id=%s requester=%s n=%d to %d municipality(ies), %d unknown",
            query.request_id,
            query.requester,
            len(rps),
            len(by_code),
            len(rps) - sum(len(p) for p in by_code.values()),
        )
        return statuses

    def _route(self, result: HopResult) -> tuple[list[bytes], dict[str, list[int]]]:
        """Decrypt a batch converted to R and group its positions by the municipality holding each person."""
        rps = self._decrypt(result)
        with self.engine.connect() as conn:
            holders = self._holders(conn, rps)
        by_code: dict[str, list[int]] = defaultdict(list)
        for i, rp in enumerate(rps):
            code = holders.get(rp)
            if code is not None:
                by_code[code].append(i)
        return rps, by_code

    def holder(self, rp: bytes) -> str | None:
        """The municipality that holds ``rp`` (for the operator's checks; never exposed to agencies)."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(store.entry.c.municipality).where(store.entry.c.rp == rp)).scalar()
        return None if value is None else str(value)

    def __repr__(self) -> str:
        return f"LocatorService(key={'open' if self._key is not None else 'closed'})"
