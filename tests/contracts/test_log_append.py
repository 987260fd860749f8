"""AccessLog (append side) contract: the in-process client and the HTTP one (``HttpAccessLog`` through the log
party's real app) append, retry and refuse alike; the HTTP client maps the parties' problem documents back to
the errors they name (401, 403, 429 are not "unavailable")."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from sekisho.auditlog.client import HttpAccessLog, InProcessAccessLog
from sekisho.auditlog.service import LogService, init_parties
from sekisho.config import Home
from sekisho.errors import Forbidden, InvalidInput, Refused, SekishoError, TooManyRequests, Unauthenticated
from sekisho.node.apps import log_app
from sekisho.node.roles import Role
from sekisho.problems import problem_response
from sekisho.transparency import merkle
from sekisho.transparency.entry import AccessRecordBuilder, derive_commitment_key
from sekisho.transparency.log import AccessLog

PASSPHRASE = b"correct horse battery staple"


def make_entry() -> bytes:
    return (
        AccessRecordBuilder()
        .actor("agency", "pension", terminal="t-1")
        .action("identity-confirmation", purpose="pension.benefit")
        .items(["address", "name"])
        .decision("allow")
        .build(derive_commitment_key(os.urandom(32)))
        .entry_bytes()
    )


@pytest.fixture(params=["in-process", "http"])
def access_log(request: pytest.FixtureRequest, home: Home) -> Iterator[tuple[AccessLog, LogService]]:
    init_parties(home, PASSPHRASE)
    if request.param == "in-process":
        service = LogService.open(home)
        yield InProcessAccessLog(service), service
        service.close()
        return
    with TestClient(log_app(Role("log"), home), base_url="http://log.test") as client:
        reader = LogService.open(home)  # reads only: to check what the party's own service wrote
        yield HttpAccessLog("http://log.test/", log_vkey=reader.config.vkey, witness_vkeys=[], client=client), reader
        reader.engine.dispose()


def test_appends_are_numbered_in_order_and_a_retry_is_not_made_twice(
    access_log: tuple[AccessLog, LogService],
) -> None:
    log, service = access_log
    entries = [make_entry() for _ in range(3)]
    receipts = [log.append(entries[0]), *log.append_many(entries[1:])]
    assert [r.index for r in receipts] == [0, 1, 2]
    assert [r.leaf_hash for r in receipts] == [merkle.hash_leaf(e) for e in entries]
    assert log.resend_many([entries[1]], not_before=0) == [receipts[1]]
    new = make_entry()
    assert [r.index for r in log.resend_many([new, entries[2]], not_before=0)] == [3, 2]
    assert service.size() == 4
    assert service.entries(start=0, end=4) == [*entries, new]


def test_an_entry_that_is_not_one_is_refused_and_not_echoed(access_log: tuple[AccessLog, LogService]) -> None:
    log, service = access_log
    secret = '{"name":"山田花子","birth_date":"1990-01-31"}'.encode()
    with pytest.raises(InvalidInput) as exc:
        log.append(secret)
    assert "1990" not in str(exc.value) and "山田" not in str(exc.value)
    assert service.size() == 0


@pytest.mark.parametrize(
    "error",
    [
        Unauthenticated("the request signature does not verify", field="signature"),
        Forbidden("this role may not call this endpoint", field="role"),
        Refused("the terminal is revoked", field="terminal"),
        TooManyRequests("over the rate limit", field="terminal", retry_after=7),
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_http_client_reports_the_error_the_log_gave(error: SekishoError) -> None:
    answer = problem_response(error)

    def transport(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(answer.status_code, headers=dict(answer.headers), content=bytes(answer.body))

    client = httpx.Client(transport=httpx.MockTransport(transport))
    log = HttpAccessLog("http://log.test/", log_vkey=None, witness_vkeys=[], client=client)  # type: ignore[arg-type]
    with pytest.raises(SekishoError) as exc:
        log.append(make_entry())
    assert type(exc.value) is type(error)
    assert exc.value.field == error.field and exc.value.message == error.message
    if isinstance(error, TooManyRequests):
        assert isinstance(exc.value, TooManyRequests) and exc.value.retry_after == 7
