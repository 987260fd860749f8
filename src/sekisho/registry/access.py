"""Access publishing: the access record of every read and release, and its append to the public access log."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sekisho.errors import IntegrityError, InvalidInput, SekishoError, Unavailable
from sekisho.protocols.handles import parse_handle
from sekisho.registry import store as st
from sekisho.registry.core import RegisterCore
from sekisho.registry.views import access_list_json
from sekisho.transparency.entry import AccessRecordBuilder, derive_commitment_key
from sekisho.transparency.merkle import hash_leaf

if TYPE_CHECKING:
    from sekisho.transparency.log import AccessListItem


log = logging.getLogger("sekisho.registry")


@dataclass(frozen=True, slots=True)
class _Unpublished:
    row_id: int
    entry: bytes


#: the access records of the running transaction, to be appended to the public log once it commits
_UNPUBLISHED: ContextVar[list[_Unpublished] | None] = ContextVar("sekisho_unpublished_access", default=None)


@dataclass(frozen=True, slots=True)
class AccessListing:
    """A resident's access list as the portal hands it over: everything needed to verify it offline."""

    handle: str
    #: the resident's commitment key: with it they recognise their entries (and can scan the whole log)
    k_res: bytes
    #: the latest checkpoint signed by the log and cosigned by the watchdog (signed note text)
    checkpoint: str
    items: list[AccessListItem]
    #: entries sealed until a later date: committed to the log now, listed from that date
    sealed_hidden: int
    #: accesses not yet covered by a witnessed checkpoint (listed with the next one)
    pending: int
    since_size: int | None
    consistency: list[bytes]

    def __repr__(self) -> str:  # never print the key
        return f"AccessListing(handle={self.handle!r}, items={len(self.items)}, pending={self.pending})"


class AccessRecords(RegisterCore):
    """Access records and their publication: every read writes its record in the read's transaction, and the
    records reach the public access log after the transaction commits and before the data leaves."""

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One procedure's transaction; the access records it wrote reach the public log after it commits and
        before this returns — so the caller hands out nothing whose access is not in the log."""
        pending: list[_Unpublished] = []
        token = _UNPUBLISHED.set(pending)
        try:
            with self.engine.begin() as conn:
                yield conn
        finally:
            _UNPUBLISHED.reset(token)
        self._publish(pending)

    def _publish(self, pending: Sequence[_Unpublished], *, not_before: int | None = None) -> None:
        """Append the records' entries; ``not_before`` marks a retry (the entries may be in the log already,
        at that index or later) so that an append whose answer was lost is not made twice."""
        if not pending or self.access_log is None:
            return
        entries = [p.entry for p in pending]
        try:
            if not_before is None:
                receipts = self.access_log.append_many(entries)
            else:
                receipts = self.access_log.resend_many(entries, not_before=not_before)
        except SekishoError:
            raise
        except Exception as exc:
            # the records stay here, unpublished; `publish_pending` sends them when the log is back
            log.warning("municipality %s: access log append failed: %s", self.code, type(exc).__name__)
            raise Unavailable(
                "the public access log did not take the access records; nothing is released", field="log"
            ) from exc
        with self.engine.begin() as conn:
            conn.execute(
                st.access.update()
                .where(st.access.c.id == sa.bindparam("row_id"), st.access.c.log_index.is_(None))
                .values(log_index=sa.bindparam("index")),
                [{"row_id": p.row_id, "index": r.index} for p, r in zip(pending, receipts, strict=True)],
            )
        top = max(r.index for r in receipts) + 1
        self._log_floor = top if self._log_floor is None else max(self._log_floor, top)

    def publish_pending(self, *, limit: int = 10_000) -> int:
        """Append access records that a failed append left unpublished (oldest first); how many were sent."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(st.access.c.id, st.access.c.entry, st.access.c.log_floor)
                .where(st.access.c.log_index.is_(None), st.access.c.entry.is_not(None))
                .order_by(st.access.c.id)
                .limit(limit)
            ).all()
        pending = [_Unpublished(row.id, row.entry.encode()) for row in rows]
        # the first append may have reached the log and only its answer been lost: look before appending again
        self._publish(pending, not_before=min((row.log_floor or 0 for row in rows), default=0))
        return len(pending)

    def _floor(self, conn: Connection) -> int:
        if self._log_floor is None:
            top = conn.execute(sa.select(sa.func.max(st.access.c.log_index))).scalar()
            self._log_floor = 0 if top is None else int(top) + 1
        return self._log_floor

    def _record_access(
        self,
        conn: Connection,
        resident_ids: Sequence[int],
        *,
        action: str,
        purpose: str,
        items: Sequence[str],
        actor_kind: str = "clerk",
        actor: str | None = None,
        terminal: str | None = "",
        legal_basis: str | None = None,
        warrant: str | None = None,
        decision: str = "allow",
        reason_codes: Sequence[str] = (),
        sealed_until: date | None = None,
    ) -> None:
        """THE access record: every read and every release of a resident's data passes here, inside the
        transaction of the read, before anything leaves.

        Each record is kept in full with the resident and gets its public log entry: non-personal metadata and
        a commitment HMAC(k_res, nonce) that only this resident (holding k_res, derived from the root) can
        match.  The entries reach the log when the transaction commits (:meth:`transaction`); a sealed record
        (a court-ordered investigation) publishes no nonce until ``sealed_until``.
        """
        if not resident_ids:
            return
        roots = dict(
            conn.execute(
                sa.select(st.resident.c.id, st.resident.c.root).where(st.resident.c.id.in_(resident_ids))
            ).all()
        )
        rows = self._access_rows(
            roots,
            resident_ids,
            floor=self._floor(conn),
            action=action,
            purpose=purpose,
            items=items,
            actor_kind=actor_kind,
            actor=actor,
            terminal=terminal,
            legal_basis=legal_basis,
            warrant=warrant,
            decision=decision,
            reason_codes=reason_codes,
            sealed_until=sealed_until,
        )
        ids = conn.execute(st.access.insert().returning(st.access.c.id, sort_by_parameter_order=True), rows).scalars()
        pending = _UNPUBLISHED.get()
        if pending is not None:
            pending.extend(
                _Unpublished(row_id, str(row["entry"]).encode()) for row_id, row in zip(ids, rows, strict=True)
            )
        elif self.access_log is not None:
            # written outside `transaction()`: published by the next publish_pending, never silently dropped
            log.warning("municipality %s: access records written outside a publishing transaction", self.code)

    def _access_rows(
        self,
        roots: Mapping[int, bytes],
        resident_ids: Sequence[int],
        *,
        floor: int,
        action: str,
        purpose: str,
        items: Sequence[str],
        actor_kind: str,
        actor: str | None,
        terminal: str | None,
        legal_basis: str | None,
        warrant: str | None,
        decision: str,
        reason_codes: Sequence[str],
        sealed_until: date | None,
    ) -> list[dict[str, Any]]:
        """The ``reg_access`` rows of one access to ``resident_ids`` (``roots``: each one's root), each with its
        public log entry, not yet published (``log_index`` None)."""
        now = datetime.now(UTC).replace(microsecond=0)
        who = actor or self.code
        where = (self.actor.terminal or self.actor.clerk) if terminal == "" else terminal
        builder = (
            AccessRecordBuilder()
            .actor(actor_kind, who, terminal=where)
            .action(action, purpose=purpose, legal_basis=legal_basis, warrant=warrant)
            .items(sorted(set(items)))
            .decision(decision, reason_codes)
            .at(now)
        )
        if sealed_until is not None:
            builder = builder.sealed_until(sealed_until)
        rows: list[dict[str, Any]] = []
        for rid in resident_ids:
            record = builder.build(derive_commitment_key(bytes(roots[rid])))
            entry = record.entry_bytes()
            rows.append(
                {
                    "record_id": record.entry.record_id,
                    "resident_id": rid,
                    "at": now,
                    "actor_kind": actor_kind,
                    "actor": who,
                    "terminal": where,
                    "action": action,
                    "purpose": purpose,
                    "legal_basis": legal_basis,
                    "warrant": warrant,
                    "items": ",".join(sorted(set(items))),
                    "decision": decision,
                    "reason_codes": ",".join(sorted(set(reason_codes))),
                    "nonce": record.nonce.hex(),
                    "sealed_until": sealed_until,
                    "log_index": None,
                    "log_floor": floor,
                    "leaf_hash": hash_leaf(entry).hex(),
                    "entry": entry.decode(),
                }
            )
        return rows

    def release_rows(
        self,
        roots: Mapping[int, bytes],
        resident_ids: Sequence[int],
        *,
        action: str,
        purpose: str,
        items: Sequence[str],
        requester: str,
        requester_kind: str = "agency",
        legal_basis: str | None = None,
        warrant: str | None = None,
        decision: str = "allow",
        reason_codes: Sequence[str] = (),
        sealed_until: date | None = None,
    ) -> list[dict[str, Any]]:
        """The access records of a release, built and not yet written: :meth:`store_published` writes them."""
        if not resident_ids:
            return []
        return self._access_rows(
            roots,
            resident_ids,
            floor=self._floor_now(),
            action=action,
            purpose=purpose,
            items=items,
            actor_kind=requester_kind,
            actor=requester,
            terminal=None,
            legal_basis=legal_basis,
            warrant=warrant,
            decision=decision,
            reason_codes=reason_codes,
            sealed_until=sealed_until,
        )

    def store_published(self, rows: Sequence[dict[str, Any]]) -> None:
        """Publish access records, then store them with their log indexes: one transaction, one commit.

        The entries are appended to the public log *first* and the records written after, so that a release
        costs one commit here instead of two (the record, then its index).  Nothing has left yet either way: the
        caller hands out the data only when this returns.  If the log does not take the entries, the records
        are stored unpublished (``publish_pending`` sends them later) and the release fails, as
        :meth:`transaction` does; if this party dies between the append and its commit, the log holds entries
        for a release that never happened here (it says more than happened, never less)."""
        if not rows:
            return
        if self.access_log is not None:
            entries = [str(r["entry"]).encode() for r in rows]
            try:
                receipts = self.access_log.append_many(entries)
            except Exception as exc:
                with self.engine.begin() as conn:
                    conn.execute(st.access.insert(), list(rows))
                if isinstance(exc, SekishoError):
                    raise
                log.warning("municipality %s: access log append failed: %s", self.code, type(exc).__name__)
                raise Unavailable(
                    "the public access log did not take the access records; nothing is released", field="log"
                ) from exc
            rows = [{**r, "log_index": rc.index} for r, rc in zip(rows, receipts, strict=True)]
        with self.engine.begin() as conn:
            conn.execute(st.access.insert(), list(rows))
        if self.access_log is not None:
            top = max(int(r["log_index"]) for r in rows) + 1
            self._log_floor = top if self._log_floor is None else max(self._log_floor, top)

    def _floor_now(self) -> int:
        if self._log_floor is None:
            with self.engine.connect() as conn:
                return self._floor(conn)
        return self._log_floor

    def record_release(
        self,
        conn: Connection,
        resident_ids: Sequence[int],
        *,
        action: str,
        purpose: str,
        items: Sequence[str],
        requester: str,
        requester_kind: str = "agency",
        legal_basis: str | None = None,
        warrant: str | None = None,
        decision: str = "allow",
        reason_codes: Sequence[str] = (),
        sealed_until: date | None = None,
    ) -> None:
        """The access record of a release to another party (enrolment, identity confirmation, change notice),
        written in the caller's transaction before the data leaves (``sekisho.registry.release``)."""
        self._record_access(
            conn,
            resident_ids,
            action=action,
            purpose=purpose,
            items=items,
            actor_kind=requester_kind,
            actor=requester,
            terminal=None,
            legal_basis=legal_basis,
            warrant=warrant,
            decision=decision,
            reason_codes=reason_codes,
            sealed_until=sealed_until,
        )

    def access_list(self, handle: str, *, since_size: int | None = None) -> AccessListing:
        """Every access to this resident's data, each with its inclusion proof against the latest witnessed
        checkpoint (and the consistency proof from the checkpoint of ``since_size`` the resident saw last).

        Sealed entries (a court-ordered investigation) are listed from their ``sealed_until`` date, with the
        nonce revealed so that the resident can match them.  Looking at the list is itself an access, recorded
        like any other.

        Nothing is recorded unless the list is handed out: the list is built and verified first — exactly as the
        resident's verifier (``sekisho log verify-list``) will — and its access record is written only then.  A
        list that cannot be built (no witnessed checkpoint yet) or does not verify (a rewritten log, a changed
        record) fails with nothing released and nothing recorded (:class:`IntegrityError` for the latter).
        """
        access_log = self.access_log
        if access_log is None:
            raise Unavailable("this register is not connected to a public access log", field="log")
        h = parse_handle(handle)
        today = self.today()
        from sekisho.transparency.log import build_access_list

        note, checkpoint = access_log.latest_witnessed()
        if since_size is not None and not 0 < since_size <= checkpoint.size:
            raise InvalidInput("must be the size of an earlier checkpoint of this log", field="since_size")
        with self.engine.connect() as conn:
            rid, _ = self._load(conn, h)
            root = bytes(conn.execute(sa.select(st.resident.c.root).where(st.resident.c.id == rid)).scalar_one())
            rows = conn.execute(
                sa.select(st.access).where(st.access.c.resident_id == rid).order_by(st.access.c.id)
            ).all()
        visible = [row for row in rows if row.sealed_until is None or row.sealed_until <= today]
        proved = build_access_list(
            access_log,
            [
                (row.log_index, row.entry.encode(), bytes.fromhex(row.nonce) if row.sealed_until else None)
                for row in visible
                if row.log_index is not None and row.entry is not None
            ],
            checkpoint,
        )
        consistency = access_log.consistency_proof(since_size, checkpoint.size) if since_size is not None else []
        listing = AccessListing(
            handle=h,
            k_res=derive_commitment_key(root),
            checkpoint=note,
            items=proved,
            sealed_hidden=sum(1 for row in rows if row.sealed_until is not None and row.sealed_until > today),
            pending=sum(1 for row in visible if row.log_index is None or row.log_index >= checkpoint.size),
            since_size=since_size,
            consistency=consistency,
        )
        try:
            access_log.verify_document(access_list_json(listing))
        except (IntegrityError, InvalidInput) as exc:
            # a proof that fails, an entry that does not decode or is not this resident's: never hand it out
            log.warning("municipality %s: an access list failed verification: %s", self.code, exc.kind)
            raise IntegrityError(
                "the access list does not verify against the witnessed checkpoint; nothing is released",
                field="log",
            ) from exc
        with self.transaction() as conn:
            self._record_access(
                conn,
                [rid],
                action="access-list",
                purpose="resident.access-list",
                items=("access_records",),
                actor_kind="resident",
                terminal=None,
            )
        return listing
