"""The portal's step of `sekisho demo`: a resident logs in with a code over real HTTP and sees their accesses."""

from __future__ import annotations

from rich.console import Console

from sekisho.auditlog.client import close_access_logs
from sekisho.auditlog.service import LogService, init_parties
from sekisho.auditlog.witness import Witness
from sekisho.config import Home
from sekisho.node.registers import create_register
from sekisho.portal.demo import run_portal
from sekisho.registry.service import Actor

from .conftest import GIFU, PASSPHRASE, ROW


def test_the_demo_resident_sees_their_verified_accesses(home: Home) -> None:
    init_parties(home, PASSPHRASE.encode())
    register = create_register(home, GIFU, actor=Actor(clerk="demo-clerk"))
    handle = register.add(ROW).handle
    register.show(handle)  # an access, before the checkpoint
    register.engine.dispose()
    log = LogService.open(home, secret=PASSPHRASE.encode())
    witness = Witness.open(home, secret=PASSPHRASE.encode())
    try:
        log.issue_checkpoint()
        log.request_cosignatures(witness)
    finally:
        witness.engine.dispose()
        log.close()
    console = Console(record=True, width=200)
    try:
        verified = run_portal(home, GIFU, handle, console)
        # a rerun on the same home keeps the accounts and hands out a new code
        assert run_portal(home, GIFU, handle, console) >= verified
    finally:
        close_access_logs()
    assert verified >= 1
    text = console.export_text()
    assert "demo-clerk" in text and "each inclusion proof and commitment checked" in text
