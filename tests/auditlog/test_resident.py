"""A scripted scenario with synthetic residents: every access to a resident appears in their list with a valid
proof, nothing of anyone else matches, and sealed accesses stay unmatchable until their nonce is revealed."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from sekisho.auditlog.client import InProcessAccessLog
from sekisho.auditlog.service import LogService
from sekisho.auditlog.witness import Witness
from sekisho.errors import IntegrityError, InvalidInput
from sekisho.transparency.checkpoint import Checkpoint
from sekisho.transparency.entry import AccessRecordBuilder, derive_commitment_key
from sekisho.transparency.log import AccessListItem, build_access_list, find_my_entries, verify_access_list

from .conftest import checkpoint_and_witness


@dataclass
class Resident:
    root: bytes
    k_res: bytes = b""
    # what the municipality keeps (reg_access): log index, entry bytes, nonce, sealed until
    records: list[tuple[int, bytes, bytes, date | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.k_res = derive_commitment_key(self.root)

    def listing(self, today: date) -> list[tuple[int, bytes, bytes | None]]:
        """The portal's rows: sealed records only once their date has passed, with the nonce revealed."""
        out: list[tuple[int, bytes, bytes | None]] = []
        for index, data, nonce, sealed in self.records:
            if sealed is None:
                out.append((index, data, None))
            elif today >= sealed:
                out.append((index, data, nonce))
        return out


ACCESSES = [
    ("agency", "pension", "identity-confirmation", "pension.benefit", ["address", "birth_date", "name"]),
    ("agency", "tax", "identity-confirmation", "tax.assessment", ["address", "name"]),
    ("municipality", "131016", "certificate", "certificate.residence", ["address", "name", "sex"]),
    ("clerk", "131016", "register-read", "counter.enquiry", ["name"]),
    ("agency", "health", "notice", "insurance.change", ["address"]),
]
SEAL_DATE = date(2027, 6, 1)


def _scenario(svc: LogService, w: Witness, residents: list[Resident], rounds: int) -> list[str]:
    """Accesses by several actors to random residents, with a sealed warrant access; returns witnessed notes."""
    rng = random.Random(5)
    log = InProcessAccessLog(svc)
    notes = []
    at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    for r in range(rounds):
        for _ in range(30):
            who = rng.randrange(len(residents))
            kind, actor, action, purpose, items = rng.choice(ACCESSES)
            at += timedelta(minutes=7)
            rec = (
                AccessRecordBuilder()
                .actor(kind, actor, terminal=f"t-{rng.randrange(9)}")
                .action(action, purpose=purpose)
                .items(items)
                .decision(rng.choice(["allow", "allow", "deny"]))
                .at(at)
                .build(residents[who].k_res)
            )
            receipt = log.append(rec.entry_bytes())
            residents[who].records.append((receipt.index, rec.entry_bytes(), rec.nonce, None))
        # a court-ordered investigation of resident 0: logged now, sealed until a date
        sealed = (
            AccessRecordBuilder()
            .actor("agency", "police")
            .action("cross-reference", purpose="investigation", legal_basis="cpc-197", warrant=f"w-{r}")
            .items(["address"])
            .decision("allow")
            .at(at)
            .sealed_until(SEAL_DATE)
            .build(residents[0].k_res)
        )
        receipt = log.append(sealed.entry_bytes())
        residents[0].records.append((receipt.index, sealed.entry_bytes(), sealed.nonce, SEAL_DATE))
        notes.append(checkpoint_and_witness(svc, w))
    return notes


def test_every_access_is_listed_with_a_proof_and_nothing_else_matches(
    log_service: LogService, witness: Witness
) -> None:
    residents = [Resident(os.urandom(32)) for _ in range(6)]
    _scenario(log_service, witness, residents, rounds=3)
    log = InProcessAccessLog(log_service)
    cp = log.latest_witnessed_checkpoint()
    today = date(2026, 12, 1)
    for res in residents:
        items = build_access_list(log, res.listing(today), cp)
        verified = verify_access_list(items, cp, k_res=res.k_res)
        # the resident's own scan of the whole log finds exactly the unsealed records: nothing was hidden
        found = find_my_entries(log, cp, res.k_res)
        expected = sorted(i for i, _, _, sealed in res.records if sealed is None)
        assert [i for i, _ in found] == expected
        assert sorted(i for i, _ in verified) == expected
    # another resident's entries never match
    others = [(i, d, None) for i, d, _, _ in residents[1].records]
    with pytest.raises(IntegrityError):
        verify_access_list(build_access_list(log, others, cp), cp, k_res=residents[2].k_res)


def test_sealed_entries_appear_only_after_the_date(log_service: LogService, witness: Witness) -> None:
    residents = [Resident(os.urandom(32)) for _ in range(2)]
    _scenario(log_service, witness, residents, rounds=2)
    log = InProcessAccessLog(log_service)
    cp = log.latest_witnessed_checkpoint()
    res = residents[0]
    sealed = [(i, d, n) for i, d, n, s in res.records if s is not None]
    assert len(sealed) == 2
    # in the log now, but no scan matches them, and without the nonce they cannot be attributed
    found = {i for i, _ in find_my_entries(log, cp, res.k_res)}
    assert not found & {i for i, _, _ in sealed}
    with pytest.raises(InvalidInput):
        verify_access_list(build_access_list(log, [(i, d, None) for i, d, _ in sealed], cp), cp, k_res=res.k_res)
    before = res.listing(SEAL_DATE - timedelta(days=1))
    after = res.listing(SEAL_DATE)
    assert len(after) == len(before) + 2
    verified = verify_access_list(build_access_list(log, after, cp), cp, k_res=res.k_res)
    assert {i for i, _, _ in sealed} <= {i for i, _ in verified}
    # a revealed nonce does not let another resident claim the entry
    with pytest.raises(IntegrityError):
        verify_access_list(build_access_list(log, sealed, cp), cp, k_res=residents[1].k_res)


def test_the_resident_checks_consistency_with_the_checkpoint_last_seen(
    log_service: LogService, witness: Witness
) -> None:
    residents = [Resident(os.urandom(32)) for _ in range(3)]
    _scenario(log_service, witness, residents, rounds=1)
    log = InProcessAccessLog(log_service)
    first = log.latest_witnessed_checkpoint()
    _scenario(log_service, witness, residents, rounds=1)
    second = log.latest_witnessed_checkpoint()
    assert second.size > first.size
    res = residents[1]
    items = build_access_list(log, res.listing(date(2026, 12, 1)), second)
    proof = log.consistency_proof(first.size, second.size)
    verify_access_list(items, second, first, k_res=res.k_res, consistency_proof=proof)
    # a checkpoint that does not extend the one seen (a fork shown to this resident) is refused
    forked = Checkpoint(origin=second.origin, size=second.size, root_hash=b"\x09" * 32)
    with pytest.raises(IntegrityError):
        verify_access_list([], forked, first, k_res=res.k_res, consistency_proof=proof)


def test_forged_or_misplaced_proofs_are_refused(log_service: LogService, witness: Witness) -> None:
    residents = [Resident(os.urandom(32)) for _ in range(2)]
    _scenario(log_service, witness, residents, rounds=1)
    log = InProcessAccessLog(log_service)
    cp = log.latest_witnessed_checkpoint()
    res = residents[0]
    item = build_access_list(log, res.listing(date(2026, 12, 1)), cp)[0]
    for bad in (
        AccessListItem(item.index + 1, item.entry, item.proof),
        AccessListItem(item.index, item.entry, item.proof[:-1]),
        AccessListItem(item.index, item.entry + b" ", item.proof),
    ):
        with pytest.raises((IntegrityError, InvalidInput)):
            verify_access_list([bad], cp, k_res=res.k_res)
    with pytest.raises(InvalidInput):
        verify_access_list([item, item], cp, k_res=res.k_res)
