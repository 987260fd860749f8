"""Fixtures for the access log: a home with the log and witness keys, the two parties, synthetic entries."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sekisho.auditlog.service import LogService, init_parties
from sekisho.auditlog.witness import Witness
from sekisho.config import Home
from sekisho.transparency.entry import AccessRecordBuilder, derive_commitment_key

PASSPHRASE = b"correct horse battery staple"


@pytest.fixture
def log_home(home: Home) -> Home:
    init_parties(home, PASSPHRASE)  # `sekisho log init`: the keys and both parties' databases
    return home


@pytest.fixture
def log_service(log_home: Home) -> Iterator[LogService]:
    svc = LogService.open(log_home, secret=PASSPHRASE)
    yield svc
    svc.close()


@pytest.fixture
def witness(log_home: Home) -> Iterator[Witness]:
    w = Witness.open(log_home, secret=PASSPHRASE)
    yield w
    w.engine.dispose()


def make_entry(k_res: bytes | None = None, *, purpose: str = "pension.benefit") -> bytes:
    k = k_res or derive_commitment_key(os.urandom(32))
    return (
        AccessRecordBuilder()
        .actor("agency", "pension", terminal="t-1")
        .action("identity-confirmation", purpose=purpose)
        .items(["address", "name"])
        .decision("allow")
        .build(k)
        .entry_bytes()
    )


def checkpoint_and_witness(svc: LogService, w: Witness) -> str:
    """Issue a checkpoint, have the witness pull and cosign it, attach the cosignature; the witnessed note."""
    from sekisho.auditlog.client import InProcessAccessLog

    svc.issue_checkpoint()
    size, lines = w.observe(InProcessAccessLog(svc))
    return svc.add_cosignatures(size=size, lines=lines)
