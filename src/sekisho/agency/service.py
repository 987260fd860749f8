"""An agency's system: its domain key, its own table keyed by its own pseudonym, and the calls it makes.

* :meth:`AgencyService.create` assembles the agency's key ``y_A = ỹ·κ_{A,1}·κ_{A,2}`` from one key share of each
  transcryptor (both are needed) and stores it passphrase-protected in ``agency/<name>/``.
* :meth:`receive_enrolment` / :meth:`receive_notices` (called by municipalities): decrypt ``Enc_{Y_A}(s_A·P)``
  and store what came with it, one transaction per batch; a re-sent delivery or notice is recognised.
* :meth:`lookup` (identity confirmation, A → R): encrypt its own pseudonyms under Y, ask the grant desk (policy),
  convert through T1 and T2 to the registry domain, hand the batch to the locator, store the answers.
* cross-references (design flow 6, run by :mod:`sekisho.agency.crossref`): as A, :meth:`open_cross_reference`
  and the steps after it keep the request until B has the result, so that a re-run resumes it; as B,
  :meth:`receive_cross_reference` keeps its own pseudonym of each person by A's request and position.
* :meth:`export_csv`: the whole table, its pseudonym text and the attributes it holds — no other identifier.

A party that is an agency of the network without being one of the ``agency/<name>`` parties (the PKI) runs the same
service over its own database (``engine``) with a :class:`NoticeHook`: what a notice means to it is applied in the
transaction that stores the notice, so a re-delivered notice (recognised by its id) is applied exactly once.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from sekisho.agency import store
from sekisho.agency.ordering import ACTIVE, HeldNotice, replay
from sekisho.config import Home
from sekisho.errors import Conflict, InvalidInput, NotFound, Refused
from sekisho.failpoints import failpoint
from sekisho.keyfile import DEFAULT_N
from sekisho.pep.encoding import decode_pseudonym, encode_pseudonym
from sekisho.pep.flows import agency_decrypt, conversion_request, encrypt_pseudonyms
from sekisho.pep.group import Scalar
from sekisho.pep.keys import (
    DomainKey,
    NetworkParams,
    assemble_domain_key,
    domain_key_path,
    load_domain_key,
    load_network,
    save_domain_key,
)
from sekisho.protocols.access import RequesterKind
from sekisho.protocols.agency import (
    RELEASABLE_ITEMS,
    CrossReferenceDelivery,
    CrossReferenceStatus,
    EnrolmentDelivery,
    IdentityQuery,
    LocatorRoute,
    LookupStatus,
    Notice,
    NoticeBatch,
    NoticeFeed,
    operator_of,
)
from sekisho.protocols.conversion import REGISTRY_DOMAIN, HopResult, check_domain, check_purpose
from sekisho.storage import open_party_db

log = logging.getLogger("sekisho.agency")

CONTEXT = "agency"


def party_of(name: str) -> str:
    """The party that runs agency ``name``: ``agency/<name>``, or a party of its own (the PKI)."""
    return operator_of(name)


def check_agency_name(name: str) -> str:
    check_domain(name, field="agency")
    if name == REGISTRY_DOMAIN:
        raise InvalidInput("names the registry's domain, not an agency", field="agency")
    return name


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


#: the four basic items (基本4情報), asked for where the legal-basis table has no row to go by
BASIC_ITEMS: tuple[str, ...] = ("name", "birth_date", "sex", "address")


def default_items(agency: str, purpose: str, approved: Iterable[str] | None = None) -> tuple[str, ...]:
    """What an agency asks for by default: its row of the public legal-basis table (``sekisho.policy``), as far
    as these flows release it, and within ``approved`` (the items of its PIA in force) when given — the policy
    releases basis ∩ PIA, and a request beyond that is refused whole."""
    allowed = _basis_items(agency, purpose)
    if approved is not None:
        narrowed = tuple(i for i in allowed if i in set(approved))
        return narrowed or allowed
    return allowed


def _basis_items(agency: str, purpose: str) -> tuple[str, ...]:
    try:
        from sekisho.jp.legal import default_table

        row = default_table().match(requester_kind="agency", agency=agency, purpose=purpose)
    except ImportError:
        row = None
    if row is None:
        return BASIC_ITEMS
    return tuple(i for i in RELEASABLE_ITEMS if i in row.items)


def check_items(items: Iterable[str]) -> tuple[str, ...]:
    out = tuple(sorted(set(items)))
    if not out or not set(out) <= set(RELEASABLE_ITEMS):
        raise InvalidInput(f"must name items of: {', '.join(RELEASABLE_ITEMS)}", field="items")
    return out


class AgencyNetwork(Protocol):
    """What an agency needs from the network for an identity confirmation (``sekisho.node.local``)."""

    @property
    def params(self) -> NetworkParams: ...

    def conversion_grant(
        self,
        *,
        requester: str,
        requester_kind: RequesterKind,
        from_domain: str,
        to_domain: str,
        purpose: str,
        count: int,
        municipality: str | None = None,
    ) -> str: ...

    def locator_route(self) -> LocatorRoute: ...


@dataclass(frozen=True, slots=True, repr=False)
class LookupResult:
    pseudonym: str  # the text form the agency asked with
    status: LookupStatus
    items: Mapping[str, str]

    def __repr__(self) -> str:
        return f"LookupResult(status={self.status!r}, items=<{len(self.items)}>)"


@dataclass(frozen=True, slots=True, repr=False)
class Received:
    """One person of one enrolment delivery, as the agency holds them now."""

    pseudonym: str  # text form
    purpose: str
    attributes: Mapping[str, str]
    received_at: datetime

    def __repr__(self) -> str:
        return f"Received(purpose={self.purpose!r}, attributes=<{len(self.attributes)}>)"


class NoticeHook(Protocol):
    """What a notice means to the party beyond the agency's table, applied in the transaction that stores the
    notice (``conn``), once per notice id: a re-delivery is not passed on."""

    def __call__(self, conn: sa.Connection, pseudonym: str, notice: Notice) -> None: ...


@dataclass(frozen=True, slots=True, repr=False)
class PersonRow:
    pseudonym: str
    status: str
    attributes: Mapping[str, str]

    def __repr__(self) -> str:
        return f"PersonRow(status={self.status!r})"


class AgencyService:
    def __init__(self, engine: sa.Engine, *, name: str, key: DomainKey, on_notice: NoticeHook | None = None) -> None:
        if key.domain != name:
            raise InvalidInput("is the key of another domain", field="key")
        self.engine = engine
        self.name = name
        self._key = key
        self._on_notice = on_notice
        self._items: dict[str, tuple[str, ...]] = {}  # requested items per purpose (set at creation)

    # --- opening -----------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        home: Home,
        name: str,
        *,
        purposes: Iterable[str],
        shares: Sequence[Scalar],
        passphrase: bytes,
        items: Iterable[str] | None = None,
        approved: Iterable[str] | None = None,
        scrypt_n: int = DEFAULT_N,
        engine: sa.Engine | None = None,
    ) -> AgencyService:
        """Set an agency up: its directory, its database, and its domain key from T1's and T2's shares.
        ``items``: what it asks for when enrolling residents, for every purpose (default: :func:`default_items`,
        within ``approved``, the items of its approved PIA).
        ``engine``: the database of a party that runs the agency beside its own tables (the PKI); by default the
        agency's own."""
        check_agency_name(name)
        if engine is None and party_of(name) != f"agency/{name}":
            raise InvalidInput("is the domain of another party, which sets it up itself", field="agency")
        purposes = sorted({check_purpose(p) for p in purposes})
        if not purposes:
            raise InvalidInput("an agency needs at least one purpose", field="purpose")
        approved = None if approved is None else frozenset(approved)
        asked = {p: check_items(items) if items is not None else default_items(name, p, approved) for p in purposes}
        network = load_network(home.root)
        key = assemble_domain_key(network, name, shares)
        path = domain_key_path(home.party_dir(party_of(name)), name)
        if path.exists():
            raise Conflict("this agency exists already", field="agency")
        engine = engine or open_party_db(home, party_of(name), [CONTEXT], create=True)
        with engine.begin() as conn:
            if conn.execute(sa.select(store.meta.c.value).where(store.meta.c.key == "name")).scalar() is not None:
                raise Conflict("this agency exists already", field="agency")
            conn.execute(
                store.meta.insert(),
                [
                    {"key": "name", "value": name},
                    {"key": "purposes", "value": ",".join(purposes)},
                    {"key": "public_key", "value": key.public.to_bytes().hex()},
                    {"key": "created_at", "value": _now().isoformat()},
                    *({"key": f"items:{p}", "value": ",".join(i)} for p, i in asked.items()),
                ],
            )
            # the key file last, inside the transaction: a failure leaves neither
            save_domain_key(path, key, party=party_of(name), passphrase=passphrase, n=scrypt_n)
        log.info("agency %s created", name)
        return cls(engine, name=name, key=key)

    @classmethod
    def open(
        cls,
        home: Home,
        name: str,
        *,
        passphrase: bytes,
        engine: sa.Engine | None = None,
        on_notice: NoticeHook | None = None,
    ) -> AgencyService:
        check_agency_name(name)
        path = domain_key_path(home.party_dir(party_of(name), create=False), name)
        if not path.exists():
            raise NotFound("no such agency here (run `sekisho agency create`)", field="agency")
        key = load_domain_key(path, passphrase=passphrase)
        engine = engine or open_party_db(home, party_of(name), [CONTEXT])
        with engine.connect() as conn:
            public = conn.execute(sa.select(store.meta.c.value).where(store.meta.c.key == "public_key")).scalar()
        if public != key.public.to_bytes().hex():
            raise Conflict("the key file and the database belong to different agencies", field="agency")
        return cls(engine, name=name, key=key, on_notice=on_notice)

    @property
    def purposes(self) -> list[str]:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(store.meta.c.value).where(store.meta.c.key == "purposes")).scalar()
        return [p for p in (value or "").split(",") if p]

    def requested_items(self, purpose: str) -> tuple[str, ...]:
        """The items this agency asks for, for ``purpose`` (set at creation)."""
        check_purpose(purpose)
        held = self._items.get(purpose)
        if held is not None:  # written once, at creation: read once
            return held
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(store.meta.c.value).where(store.meta.c.key == f"items:{purpose}")).scalar()
        if value is None:
            raise NotFound("the agency has no such purpose", field="purpose")
        items = self._items[purpose] = tuple(i for i in value.split(",") if i)
        return items

    def text(self, pseudonym: bytes) -> str:
        return encode_pseudonym(self.name, pseudonym)

    # --- receiving (called by municipalities) -------------------------------------------------------------

    def receive_enrolment(self, delivery: EnrolmentDelivery) -> int:
        if len(delivery.items) != len(delivery.result.ciphertexts):
            raise InvalidInput("must hold one item set per person", field="items")
        check_purpose(delivery.purpose)
        pseudonyms = agency_decrypt(self._key, delivery.result)
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(
                self._insert(conn, store.receipt).on_conflict_do_nothing(),
                [
                    {
                        "delivery_id": delivery.delivery_id[:64],
                        "position": i,
                        "pseudonym": p,
                        "purpose": delivery.purpose,
                        "received_at": now,
                    }
                    for i, p in enumerate(pseudonyms)
                ],
            )
            new = self._merge_persons(conn, pseudonyms, [dict(x) for x in delivery.items], now)
        log.info("agency %s received an enrolment of n=%d (new %d)", self.name, len(pseudonyms), new)
        return new

    def _merge_persons(
        self, conn: sa.Connection, pseudonyms: Sequence[bytes], items: Sequence[dict[str, str]], now: datetime
    ) -> int:
        p = store.person.c
        merged: dict[bytes, dict[str, str]] = {}
        for ps, it in zip(pseudonyms, items, strict=True):
            merged.setdefault(ps, {}).update(it)
        existing: dict[bytes, tuple[dict[str, str], str]] = {}
        keys = list(merged)
        for i in range(0, len(keys), 1000):
            for row in conn.execute(
                sa.select(p.pseudonym, p.attributes, p.status).where(p.pseudonym.in_(keys[i : i + 1000]))
            ):
                existing[bytes(row.pseudonym)] = (json.loads(row.attributes), row.status)
        inserts = [
            {"pseudonym": ps, "attributes": _json(it), "status": ACTIVE, "enrolled_at": now, "updated_at": now}
            for ps, it in merged.items()
            if ps not in existing
        ]
        updates = [
            {"pk": ps, "attrs": _json(existing[ps][0] | it), "ts": now} for ps, it in merged.items() if ps in existing
        ]
        if inserts:
            conn.execute(store.person.insert(), inserts)
        if updates:
            conn.execute(
                store.person.update()
                .where(p.pseudonym == sa.bindparam("pk"))
                .values(attributes=sa.bindparam("attrs"), updated_at=sa.bindparam("ts")),
                updates,
            )
        return len(inserts)

    def receive_notices(self, batch: NoticeBatch) -> int:
        """Store the notices (a re-delivered id is ignored) and bring each person's status and attributes to what
        *all* the notices held about them say, in the order of the events (:mod:`sekisho.agency.ordering`): a
        register that delivers late changes nothing that a later event already settled."""
        if len(batch.notices) != len(batch.result.ciphertexts):
            raise InvalidInput("must hold one notice per person", field="notices")
        pseudonyms = agency_decrypt(self._key, batch.result)
        now = _now()
        new = 0
        touched: set[bytes] = set()
        p, nc = store.person.c, store.notice.c
        with self.engine.begin() as conn:
            for ps, n in zip(pseudonyms, batch.notices, strict=True):
                # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT DO NOTHING
                inserted = conn.execute(
                    self._insert(conn, store.notice)
                    .on_conflict_do_nothing()
                    .returning(nc.notice_id)
                    .values(
                        notice_id=n.notice_id[:64],
                        pseudonym=ps,
                        kind=n.kind,
                        event_date=n.event_date,
                        purpose=batch.purpose,
                        items=_json(dict(n.items)),
                        received_at=now,
                        source=n.source,
                        sequence=n.sequence,
                        move=n.move,
                        recorded_at=n.recorded_at,
                    )
                ).first()
                if inserted is None:
                    continue  # a re-delivery: the first copy was applied already
                new += 1
                if self._on_notice is not None:
                    self._on_notice(conn, self.text(ps), n)
                touched.add(ps)
            keys = list(touched)
            for i in range(0, len(keys), 1000):
                chunk = keys[i : i + 1000]
                persons = {
                    bytes(r.pseudonym): r
                    for r in conn.execute(sa.select(p.pseudonym, p.attributes, p.status).where(p.pseudonym.in_(chunk)))
                }
                held: dict[bytes, list[HeldNotice]] = {}
                for r in conn.execute(sa.select(store.notice).where(nc.pseudonym.in_(list(persons)))):
                    held.setdefault(bytes(r.pseudonym), []).append(_held(r))
                for ps, row in persons.items():
                    status, attrs = replay(
                        held.get(ps, []),
                        status=row.status,
                        attributes=json.loads(row.attributes),
                    )
                    conn.execute(
                        store.person.update()
                        .where(p.pseudonym == ps)
                        .values(attributes=_json(attrs), status=status, updated_at=now)
                    )
                # a notice for someone not (or no longer) in the table is kept, not applied
        log.info("agency %s received notices n=%d (new %d)", self.name, len(pseudonyms), new)
        return new

    def feed_cursor(self, municipality: str) -> int:
        """The last outbox event of ``municipality`` whose notices this agency has applied (0: none yet)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(store.feed_cursor.c.cursor).where(store.feed_cursor.c.municipality == municipality)
            ).scalar()
        return int(found or 0)

    def pull_notices(self, feed: NoticeFeed, municipality: str, *, limit: int = 1000) -> int:
        """Pull ``municipality``'s notices for this agency from its cursor on, page by page, until the feed has
        nothing newer; returns how many notices were new here.  Each page is applied (a notice already held is
        ignored) before the cursor moves past it: killed in between, the next pull gets the page again and applies
        nothing twice — the agency's effect is exactly once."""
        new = 0
        after = self.feed_cursor(municipality)
        while True:
            page = feed.notice_feed(self.name, after=after, limit=limit)
            for batch in page.batches:
                new += self.receive_notices(batch)
            if page.cursor <= after:
                return new
            failpoint("notices.applied")
            self._move_cursor(municipality, page.cursor)
            after = page.cursor

    def _move_cursor(self, municipality: str, cursor: int) -> None:
        c = store.feed_cursor.c
        with self.engine.begin() as conn:
            conn.execute(
                self._insert(conn, store.feed_cursor)
                .values(municipality=municipality, cursor=cursor, updated_at=_now())
                .on_conflict_do_update(index_elements=[c.municipality], set_={"cursor": cursor, "updated_at": _now()})
            )

    @staticmethod
    def _insert(conn: sa.Connection, table: sa.Table) -> Any:
        return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)

    # --- identity confirmation ----------------------------------------------------------------------------

    def lookup(
        self,
        pseudonyms: Sequence[str],
        *,
        purpose: str,
        network: AgencyNetwork,
        items: Iterable[str] | None = None,
    ) -> list[LookupResult]:
        """Identity confirmation for persons this agency knows by pseudonym (its text form)."""
        check_purpose(purpose)
        if not pseudonyms:
            raise InvalidInput("names no pseudonym", field="pseudonym")
        values = [decode_pseudonym(t, domain=self.name)[1] for t in pseudonyms]
        asked = self.requested_items(purpose) if items is None else check_items(items)
        # the policy first: a refusal converts nothing
        grant = network.conversion_grant(
            requester=self.name,
            requester_kind="agency",
            from_domain=self.name,
            to_domain=REGISTRY_DOMAIN,
            purpose=purpose,
            count=len(values),
        )
        request = conversion_request(
            encrypt_pseudonyms(values, network.params.public_key),
            network=network.params,
            from_domain=self.name,
            to_domain=REGISTRY_DOMAIN,
            purpose=purpose,
            grant=grant,
            requester=party_of(self.name),
        )
        query = IdentityQuery(request_id=request.request_id, requester=self.name, purpose=purpose, items=asked)
        # through T1 and T2 to the locator, which asks the municipalities (the converted batch never comes back)
        answers = network.locator_route().confirm(request, query)
        if len(answers) != len(values):
            raise Conflict("the locator answered for another number of persons", field="answers")
        refused = sorted({r for a in answers for r in a.reasons})
        if refused:  # the request was beyond legal basis ∩ PIA: refused as a whole, like an enrolment
            raise Refused(f"the policy refused the identity confirmation ({', '.join(refused)})", field="purpose")
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(
                store.lookup.insert(),
                [
                    {
                        "request_id": request.request_id,
                        "pseudonym": v,
                        "purpose": purpose,
                        "status": a.status,
                        "items": _json(dict(a.items)),
                        "at": now,
                    }
                    for v, a in zip(values, answers, strict=True)
                ],
            )
        log.info("agency %s looked up n=%d for purpose=%s", self.name, len(values), purpose)
        return [
            LookupResult(pseudonym=self.text(v), status=a.status, items=dict(a.items))
            for v, a in zip(values, answers, strict=True)
        ]

    # --- cross-references: as A, the request until B has the result; as B, the receipt ----------------------

    def open_cross_reference(
        self,
        *,
        digest: bytes,
        warrant: str | None,
        target: str,
        purpose: str,
        batch: Callable[[], Sequence[bytes]],
    ) -> tuple[OutgoingCrossReference, bool]:
        """The unfinished cross-reference with this digest (a re-run after a crash: ``True``), or a new one whose
        batch (A's pseudonyms under Y) ``batch()`` makes — stored before anything is sent."""
        x, h = store.xref_out.c, store.xref_hop.c
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(store.xref_out)
                .where(x.digest == digest, x.state.in_(_UNFINISHED))
                .order_by(x.created_at)
                .limit(1)
            ).first()
            if row is not None:
                hops = conn.execute(sa.select(store.xref_hop).where(h.request_id == row.request_id).order_by(h.hop))
                return _outgoing(
                    row, [HopResult(r.party, r.request_id, _split64(r.ciphertexts), r.key) for r in hops]
                ), True
            now = _now()
            cts = tuple(batch())
            request_id = secrets.token_hex(16)
            conn.execute(
                store.xref_out.insert().values(
                    request_id=request_id,
                    warrant=warrant,
                    target=target,
                    purpose=purpose,
                    persons=len(cts),
                    digest=digest,
                    state="converting",
                    batch=b"".join(cts),
                    statuses=None,
                    delivered=None,
                    created_at=now,
                    updated_at=now,
                )
            )
        return (
            OutgoingCrossReference(request_id, warrant, target, purpose, "converting", cts, (), None),
            False,
        )

    def save_cross_reference_hop(self, request_id: str, hop: int, result: HopResult) -> None:
        """One transcryptor's output of the A → B conversion (after the last one: ``state`` converted)."""
        with self.engine.begin() as conn:
            conn.execute(
                store.xref_hop.insert().values(
                    request_id=request_id,
                    hop=hop,
                    party=result.party,
                    ciphertexts=b"".join(result.ciphertexts),
                    key=result.key,
                )
            )

    def cross_reference_converted(self, request_id: str) -> None:
        self._xref_state(request_id, state="converted")

    def cross_reference_recorded(self, request_id: str, statuses: Sequence[CrossReferenceStatus]) -> None:
        """What the municipalities recorded, per position (their records are committed and in the public log)."""
        self._xref_state(request_id, state="recorded", statuses="".join(_STATUS_CODE[s] for s in statuses))

    def finish_cross_reference(self, request_id: str, *, state: str, delivered: int | None = None) -> None:
        """``delivered`` (B has the result) or ``refused``; the batch and the transcryptors' outputs are dropped."""
        with self.engine.begin() as conn:
            conn.execute(store.xref_hop.delete().where(store.xref_hop.c.request_id == request_id))
            conn.execute(
                store.xref_out.update()
                .where(store.xref_out.c.request_id == request_id)
                .values(state=state, batch=None, delivered=delivered, updated_at=_now())
            )

    def _xref_state(self, request_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                store.xref_out.update()
                .where(store.xref_out.c.request_id == request_id)
                .values(updated_at=_now(), **values)
            )

    def cross_references(self) -> list[dict[str, Any]]:
        """The cross-references this agency asked for: counts and states, no pseudonym."""
        x = store.xref_out.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(store.xref_out).order_by(x.created_at, x.request_id)).all()
        return [
            {
                "request_id": r.request_id,
                "warrant": r.warrant,
                "target": r.target,
                "purpose": r.purpose,
                "persons": r.persons,
                "state": r.state,
                "recorded": (r.statuses or "").count("r"),
                "refused": (r.statuses or "").count("x"),
                "not_found": (r.statuses or "").count("n"),
                "delivered": r.delivered,
            }
            for r in rows
        ]

    def receive_cross_reference(self, delivery: CrossReferenceDelivery) -> int:
        """As B: decrypt ``Enc_{Y_B}(s_B·P)`` and keep each person's pseudonym by A's request and position.  A
        re-delivery (same request and position) is ignored; returns how many were new."""
        if len(delivery.positions) != len(delivery.result.ciphertexts):
            raise InvalidInput("must hold one position per person", field="positions")
        if len(set(delivery.positions)) != len(delivery.positions) or any(p < 0 for p in delivery.positions):
            raise InvalidInput("must be distinct positions", field="positions")
        check_domain(delivery.requester, field="requester")
        check_purpose(delivery.purpose)
        pseudonyms = agency_decrypt(self._key, delivery.result)
        now = _now()
        with self.engine.begin() as conn:
            new = conn.execute(
                self._insert(conn, store.xref_in).on_conflict_do_nothing().returning(store.xref_in.c.id),
                [
                    {
                        "request_id": delivery.request_id[:64],
                        "position": pos,
                        "pseudonym": ps,
                        "requester": delivery.requester,
                        "purpose": delivery.purpose,
                        "warrant": delivery.warrant[:32],
                        "received_at": now,
                    }
                    for pos, ps in zip(delivery.positions, pseudonyms, strict=True)
                ],
            ).all()
        log.info("agency %s received a cross-reference of n=%d (new %d)", self.name, len(pseudonyms), len(new))
        return len(new)

    def received_cross_references(self, request_id: str | None = None) -> list[ReceivedLink]:
        """As B: what cross-references brought, in request and position order."""
        c = store.xref_in.c
        q = sa.select(store.xref_in).order_by(c.received_at, c.request_id, c.position)
        if request_id is not None:
            q = q.where(c.request_id == request_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [
            ReceivedLink(
                request_id=r.request_id,
                position=r.position,
                pseudonym=self.text(bytes(r.pseudonym)),
                requester=r.requester,
                purpose=r.purpose,
                warrant=r.warrant,
                received_at=_aware(r.received_at),
            )
            for r in rows
        ]

    # --- reading its own table ----------------------------------------------------------------------------

    def persons(self, *, limit: int | None = None) -> list[PersonRow]:
        p = store.person.c
        stmt = sa.select(p.pseudonym, p.status, p.attributes).order_by(p.enrolled_at, p.pseudonym)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [PersonRow(self.text(bytes(r.pseudonym)), r.status, json.loads(r.attributes)) for r in rows]

    def delivered(self, delivery_id: str) -> list[Received]:
        """The persons of one enrolment delivery (in its order), with the attributes the agency holds for them."""
        r, p = store.receipt.c, store.person.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(r.pseudonym, r.purpose, r.received_at, p.attributes)
                .join(store.person, p.pseudonym == r.pseudonym)
                .where(r.delivery_id == delivery_id[:64])
                .order_by(r.position)
            ).all()
        return [
            Received(
                pseudonym=self.text(bytes(row.pseudonym)),
                purpose=row.purpose,
                attributes=json.loads(row.attributes),
                received_at=_aware(row.received_at),
            )
            for row in rows
        ]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(store.person)).scalar_one())

    def notices(self) -> list[dict[str, Any]]:
        n = store.notice.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(store.notice).order_by(n.received_at, n.notice_id)).all()
        return [
            {
                "notice_id": r.notice_id,
                "pseudonym": self.text(bytes(r.pseudonym)),
                "kind": r.kind,
                "event_date": r.event_date if isinstance(r.event_date, date) else str(r.event_date),
                "purpose": r.purpose,
                "items": json.loads(r.items),
            }
            for r in rows
        ]

    def export_csv(self, out: Path) -> int:
        """Write the whole table: pseudonym text, status, then one column per attribute held.  Returns rows."""
        rows = self.persons()
        columns = sorted({k for r in rows for k in r.attributes})
        try:
            f = out.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise InvalidInput("cannot be written", field="out") from exc
        with f:
            w = csv.writer(f)
            w.writerow(["pseudonym", "status", *columns])
            for r in rows:
                w.writerow([r.pseudonym, r.status, *(r.attributes.get(c, "") for c in columns)])
        return len(rows)

    def __repr__(self) -> str:
        return f"AgencyService(name={self.name!r})"


#: cross-references of this agency not yet finished: a re-run with the same warrant, B, purpose and pseudonyms
#: resumes them
_UNFINISHED = ("converting", "converted", "recorded")
_STATUS_CODE: Mapping[str, str] = {"recorded": "r", "refused": "x", "not-found": "n"}
_CODE_STATUS: Mapping[str, CrossReferenceStatus] = {"r": "recorded", "x": "refused", "n": "not-found"}


@dataclass(frozen=True, slots=True, repr=False)
class OutgoingCrossReference:
    """A cross-reference agency A asked for, as far as it got (``state``)."""

    request_id: str
    warrant: str | None
    target: str
    purpose: str
    state: str
    batch: tuple[bytes, ...]  # A's pseudonyms under Y, as first sent
    hops: tuple[HopResult, ...]  # the transcryptors' outputs of the A → B conversion so far
    statuses: tuple[CrossReferenceStatus, ...] | None

    def __repr__(self) -> str:
        return f"OutgoingCrossReference(request_id={self.request_id!r}, state={self.state!r}, n={len(self.batch)})"


@dataclass(frozen=True, slots=True, repr=False)
class ReceivedLink:
    """As B: one person of a cross-reference, under B's own pseudonym."""

    request_id: str
    position: int
    pseudonym: str  # text form, B's domain
    requester: str
    purpose: str
    warrant: str
    received_at: datetime

    def __repr__(self) -> str:
        return f"ReceivedLink(request_id={self.request_id!r}, position={self.position})"


def cross_reference_digest(pseudonyms: Sequence[bytes], *, warrant: str | None, target: str, purpose: str) -> bytes:
    """What recognises a re-run of a cross-reference at A: the warrant, B, the purpose and A's own pseudonyms."""
    h = hashlib.sha256(b"sekisho/agency/cross-reference/v1\0")
    h.update(f"{warrant or ''}\0{target}\0{purpose}\0".encode())
    for p in pseudonyms:
        h.update(p)
    return h.digest()


def _outgoing(row: Any, hops: Sequence[HopResult]) -> OutgoingCrossReference:
    return OutgoingCrossReference(
        request_id=row.request_id,
        warrant=row.warrant,
        target=row.target,
        purpose=row.purpose,
        state=row.state,
        batch=_split64(row.batch or b""),
        hops=tuple(hops),
        statuses=None if row.statuses is None else tuple(_CODE_STATUS[c] for c in row.statuses),
    )


def _split64(blob: bytes) -> tuple[bytes, ...]:
    blob = bytes(blob)
    return tuple(blob[i : i + 64] for i in range(0, len(blob), 64))


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every time here is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _held(row: Any) -> HeldNotice:
    return HeldNotice(
        notice_id=row.notice_id,
        kind=row.kind,
        event_date=row.event_date if isinstance(row.event_date, date) else date.fromisoformat(str(row.event_date)),
        items=json.loads(row.items),
        source=row.source,
        sequence=row.sequence,
        move=row.move,
        recorded_at=None if row.recorded_at is None else _aware(row.recorded_at),
    )


def _json(value: dict[str, str]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
