"""Every access reaches the public log before the data leaves, and each resident's list is complete and provable."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from sekisho.auditlog import store as log_store
from sekisho.auditlog.client import close_access_logs
from sekisho.auditlog.keys import LogConfig
from sekisho.auditlog.service import LogService, init_parties
from sekisho.auditlog.witness import Witness
from sekisho.cli import app
from sekisho.config import Home
from sekisho.errors import IntegrityError, InvalidInput, NotFound, Unavailable
from sekisho.registry import store as st
from sekisho.registry.service import RegisterService, access_list_json
from sekisho.transparency.entry import LogEntry, derive_commitment_key, scan_for_subject
from sekisho.transparency.log import verify_access_document
from sekisho.transparency.merkle import hash_leaf

from .conftest import GIFU, TODAY, person

SECRET = b"test-log-passphrase"


@pytest.fixture
def logged(home: Home, open_register: Callable[..., RegisterService]) -> Iterator[RegisterService]:
    init_parties(home, SECRET, origin="log.sekisho.test", witness_name="watchdog.sekisho.test")
    svc = open_register(GIFU)
    assert svc.access_log is not None
    yield svc
    close_access_logs()


def _witness(home: Home) -> None:
    """The log signs a checkpoint and the watchdog cosigns it (what a scheduler does every few minutes)."""
    log = LogService.open(home, secret=SECRET)
    witness = Witness.open(home, secret=SECRET)
    try:
        log.issue_checkpoint()
        log.request_cosignatures(witness)
    finally:
        witness.engine.dispose()
        log.close()


def _access_rows(svc: RegisterService) -> list[sa.Row]:  # type: ignore[type-arg]
    with svc.engine.connect() as conn:
        return list(conn.execute(sa.select(st.access, st.resident.c.root).join(st.resident)).all())


def test_every_read_is_in_the_log_with_the_residents_commitment(home: Home, logged: RegisterService) -> None:
    r = logged.add(person())
    logged.show(r.handle, purpose="certificate-issuance")
    logged.search("高橋")
    [row] = [x for x in _access_rows(logged) if x.purpose == "certificate-issuance"]
    assert row.log_index is not None
    entry_bytes = row.entry.encode()
    assert hash_leaf(entry_bytes).hex() == row.leaf_hash
    entry = LogEntry.decode(entry_bytes)
    assert (entry.actor, entry.terminal, entry.action, entry.purpose) == (
        GIFU,
        "clerk-7",
        "register-read",
        "certificate-issuance",
    )
    # the public entry holds no personal data, and only this resident's key recognises it
    for value in ("髙橋", "タカハシ", "1975", "青柳町", r.handle):
        assert value not in entry_bytes.decode()
    k_res = derive_commitment_key(bytes(row.root))
    served = LogService.open(home)
    try:
        found = [i for i, _ in scan_for_subject(enumerate(served.entries(start=0, end=served.size())), k_res)]
    finally:
        served.close()
    assert found == sorted(x.log_index for x in _access_rows(logged))


def test_nothing_leaves_when_the_log_does_not_take_the_record(
    logged: RegisterService, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = logged.add(person())
    log = logged.access_log
    assert log is not None

    def down(entries: object) -> object:
        raise ConnectionError("log unreachable")

    monkeypatch.setattr(log, "append_many", down)
    with pytest.raises(Unavailable) as exc:
        logged.show(r.handle)
    assert exc.value.field == "log"
    [row] = _access_rows(logged)
    assert row.log_index is None  # kept with the resident, waiting
    monkeypatch.undo()
    assert logged.publish_pending() == 1
    [row] = _access_rows(logged)
    assert row.log_index is not None
    assert logged.publish_pending() == 0


def test_a_retry_after_a_lost_answer_does_not_append_the_record_twice(
    home: Home, logged: RegisterService, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = logged.add(person())
    b = logged.add(person(household="h2", given_name="花子", given_name_kana="ハナコ", sex="女"))
    logged.show(a.handle)  # the log has entries before the lost one: the retry must find it, not the first
    log = logged.access_log
    assert log is not None
    append_many = log.append_many

    def lost_answer(entries: list[bytes]) -> object:
        append_many(entries)  # the log took the entries...
        raise ConnectionError("connection reset")  # ...and the answer never came back

    monkeypatch.setattr(log, "append_many", lost_answer)
    with pytest.raises(Unavailable):
        logged.show(b.handle)
    monkeypatch.undo()
    served = LogService.open(home)
    try:
        size = served.size()
        [row] = [x for x in _access_rows(logged) if x.log_index is None]
        assert row.log_floor is not None and row.log_floor <= size - 1
        assert logged.publish_pending() == 1
        assert served.size() == size  # found where the lost append put it, not appended again
        [again] = [x for x in _access_rows(logged) if x.id == row.id]
        assert again.log_index == size - 1
        assert served.entries(start=size - 1, end=size) == [row.entry.encode()]
        # a record whose first append never happened is still appended by the same retry path
        monkeypatch.setattr(log, "append_many", lambda entries: (_ for _ in ()).throw(ConnectionError("down")))
        with pytest.raises(Unavailable):
            logged.show(a.handle)
        monkeypatch.undo()
        assert logged.publish_pending() == 1
        assert served.size() == size + 1
    finally:
        served.close()
    # every entry in the log exactly once
    indexes = [x.log_index for x in _access_rows(logged)]
    assert None not in indexes and len(set(indexes)) == len(indexes)


def test_a_residents_list_is_complete_and_verifies(home: Home, logged: RegisterService) -> None:
    a = logged.add(person())
    b = logged.add(person(household="h2", given_name="花子", given_name_kana="ハナコ", sex="女"))
    logged.show(a.handle)
    logged.show(b.handle)
    logged.history(a.handle, purpose="certificate-issuance")
    logged.search("高橋")  # both
    _witness(home)
    listing = logged.access_list(a.handle)
    doc = access_list_json(listing)
    config = LogConfig.load(home)
    checkpoint, verified = verify_access_document(doc, config.vkey, config.witnesses)
    mine = sorted(x.log_index for x in _access_rows(logged) if x.log_index is not None and x.resident_id == 1)
    assert [i for i, _ in verified] == [i for i in mine if i < checkpoint.size]
    assert {e.action for _, e in verified} == {"register-read", "register-search"}
    # no entry about the other resident carries this resident's commitment
    assert all(i in mine for i, _ in verified)
    # a changed entry no longer verifies
    doc["items"][0]["entry"] = doc["items"][0]["entry"].replace("register-read", "register-sear")
    with pytest.raises(IntegrityError):
        verify_access_document(doc, config.vkey, config.witnesses)


def test_the_list_extends_the_checkpoint_the_resident_saw(home: Home, logged: RegisterService) -> None:
    a = logged.add(person())
    logged.show(a.handle)
    _witness(home)
    first = access_list_json(logged.access_list(a.handle))
    logged.show(a.handle)
    _witness(home)
    config = LogConfig.load(home)
    old_size = int(first["checkpoint"].splitlines()[1])
    second = access_list_json(logged.access_list(a.handle, since_size=old_size))
    checkpoint, verified = verify_access_document(
        second, config.vkey, config.witnesses, previous_note=first["checkpoint"]
    )
    assert checkpoint.size > old_size
    assert len(verified) > len(first["items"])


def test_sealed_entries_are_committed_now_and_listed_from_their_date(home: Home, logged: RegisterService) -> None:
    a = logged.add(person())
    until = TODAY + timedelta(days=30)
    with logged.transaction() as conn:
        logged.record_release(
            conn,
            [1],
            action="cross-reference",
            purpose="tax.criminal-investigation",
            items=["name"],
            requester="tax",
            warrant="w-2026-0001",
            sealed_until=until,
        )
    [sealed] = [x for x in _access_rows(logged) if x.action == "cross-reference"]
    assert sealed.log_index is not None
    entry = LogEntry.decode(sealed.entry.encode())
    assert entry.nonce is None and entry.sealed_until == until  # in the log now, unmatchable
    _witness(home)
    config = LogConfig.load(home)
    before = access_list_json(logged.access_list(a.handle))
    assert before["sealed_hidden"] == 1
    assert all(LogEntry.decode(it["entry"].encode()).action != "cross-reference" for it in before["items"])
    logged._today = lambda: until
    after = access_list_json(logged.access_list(a.handle))
    _, verified = verify_access_document(after, config.vkey, config.witnesses)
    assert "cross-reference" in {e.action for _, e in verified}
    assert after["sealed_hidden"] == 0


def test_cli_access_list_and_offline_verification(home: Home, logged: RegisterService, tmp_path: Path) -> None:
    a = logged.add(person())
    logged.show(a.handle)
    _witness(home)
    env = {"SEKISHO_HOME": str(home.root)}
    if home.db_url:
        env |= {"SEKISHO_DB": home.db_url, "SEKISHO_DB_NAMESPACE": home.namespace}
    runner = CliRunner()
    out = tmp_path / "mine.json"
    result = runner.invoke(app, ["registry", "access-list", a.handle, "-m", GIFU, "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["log", "verify-list", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "OK: 1 accesses" in result.output
    doc = json.loads(out.read_text())
    doc["commitment_key"] = "00" * 32  # someone else's key: the entries are not theirs
    out.write_text(json.dumps(doc))
    result = runner.invoke(app, ["log", "verify-list", str(out)], env=env)
    assert result.exit_code == 4


def _cli_env(home: Home) -> dict[str, str]:
    env = {"SEKISHO_HOME": str(home.root)}
    if home.db_url:
        env |= {"SEKISHO_DB": home.db_url, "SEKISHO_DB_NAMESPACE": home.namespace}
    return env


def test_an_access_list_that_cannot_be_built_records_nothing(home: Home, logged: RegisterService) -> None:
    a = logged.add(person())
    logged.show(a.handle)
    before = len(_access_rows(logged))
    with pytest.raises(NotFound):  # no witnessed checkpoint yet: nothing can be proved, nothing is released
        logged.access_list(a.handle)
    assert len(_access_rows(logged)) == before
    _witness(home)
    with pytest.raises(InvalidInput):
        logged.access_list(a.handle, since_size=10_000)
    assert len(_access_rows(logged)) == before
    logged.access_list(a.handle)
    assert [x.action for x in _access_rows(logged)][before:] == ["access-list"]
    # the CLI: one line, and no record either
    env = _cli_env(home)
    result = CliRunner().invoke(app, ["registry", "access-list", a.handle, "-m", GIFU, "--since-size", "0"], env=env)
    assert result.exit_code == 2 and "since_size" in result.stderr
    assert len(_access_rows(logged)) == before + 1


def test_access_list_on_a_rewritten_log_fails_verification_and_records_nothing(
    home: Home, logged: RegisterService, tmp_path: Path
) -> None:
    a = logged.add(person())
    b = logged.add(person(household="h2", given_name="花子", given_name_kana="ハナコ", sex="女"))
    logged.show(b.handle)  # entry 0: someone else's
    logged.show(a.handle)
    _witness(home)
    # the log is rewritten after the watchdog cosigned it: entry 0 replaced (its leaf and hash)
    served = LogService.open(home)
    try:
        forged = served.entries(start=0, end=1)[0].replace(b"register-read", b"register-sear")
        with served.engine.begin() as conn:
            conn.execute(
                log_store.leaf.update()
                .where(log_store.leaf.c.idx == 0)
                .values(entry=forged, leaf_hash=hash_leaf(forged))
            )
    finally:
        served.close()
    close_access_logs()
    before = len(_access_rows(logged))
    out = tmp_path / "mine.json"
    result = CliRunner().invoke(
        app, ["registry", "access-list", a.handle, "-m", GIFU, "--out", str(out)], env=_cli_env(home)
    )
    assert result.exit_code == 4, result.output
    assert result.stderr.count("\n") == 1 and "log:" in result.stderr
    assert not out.exists()  # no proofs handed out
    assert len(_access_rows(logged)) == before  # and no record of a release that did not happen
