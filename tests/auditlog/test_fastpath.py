"""``POST /append``'s fast path answers exactly what the route answers, and every process serving the log has it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sekisho import problems
from sekisho.auditlog import batch
from sekisho.auditlog.api import create_app, log_router
from sekisho.auditlog.client import HttpAccessLog
from sekisho.auditlog.fastpath import AppendFastPath
from sekisho.auditlog.service import LogService
from sekisho.config import Home
from sekisho.transparency import merkle

from .conftest import make_entry


def _route_only(service: LogService) -> FastAPI:
    """The log's routes with no fast path: the reference the fast path must match."""
    app = FastAPI()
    problems.install(app)
    app.include_router(log_router(service))
    return app


@pytest.fixture
def both(log_service: LogService) -> Iterator[tuple[TestClient, TestClient]]:
    with TestClient(create_app(log_service)) as fast, TestClient(_route_only(log_service)) as slow:
        yield fast, slow


def test_an_append_answers_like_the_route(both: tuple[TestClient, TestClient], log_service: LogService) -> None:
    fast, slow = both
    first, second = make_entry(), make_entry()
    a = fast.post("/append", content=first)
    b = slow.post("/append", content=second)
    assert a.status_code == b.status_code == 200
    assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
    assert a.json() == {"index": 0, "leaf_hash": merkle.hash_leaf(first).hex()}
    assert b.json() == {"index": 1, "leaf_hash": merkle.hash_leaf(second).hex()}
    assert log_service.entries(start=0, end=2) == [first, second]


def test_a_refused_entry_gets_the_routes_problem_and_is_not_logged(
    both: tuple[TestClient, TestClient], log_service: LogService
) -> None:
    fast, slow = both
    secret = b'{"name":"\xe5\xb1\xb1\xe7\x94\xb0","birth_date":"1990-01-31"}'
    for body in (secret, b"", make_entry().replace(b'"v":1', b'"v":2')):
        a, b = fast.post("/append", content=body), slow.post("/append", content=body)
        assert a.status_code == b.status_code == 422
        assert a.headers["content-type"] == b.headers["content-type"] == problems.MEDIA_TYPE
        assert a.json() == b.json()
        assert b"1990" not in a.content
    assert log_service.size() == 0


def test_a_chunked_body_is_read_whole(both: tuple[TestClient, TestClient], log_service: LogService) -> None:
    fast, _ = both
    entry = make_entry()
    resp = fast.post("/append", content=iter([entry[:100], entry[100:]]))  # sent in two body messages
    assert resp.status_code == 200
    assert log_service.entries(start=0, end=1) == [entry]


def test_retries_and_other_routes_still_reach_the_router(both: tuple[TestClient, TestClient]) -> None:
    fast, _ = both
    entry = make_entry()
    first = fast.post("/append", content=entry).json()
    # a retry (not_before) is the route's: the entry already there gets its index back, not a second copy
    assert fast.post("/append", params={"not_before": 0}, content=entry).json() == first
    bad = fast.post("/append", params={"not_before": "x"}, content=entry)
    assert bad.status_code == 422
    assert bad.headers["content-type"] == problems.MEDIA_TYPE
    assert fast.get("/append").status_code == 405
    assert fast.get("/proof/inclusion", params={"index": 0, "size": 1}).status_code == 200


def test_the_log_party_of_sekisho_up_has_the_fast_path(log_home: Home) -> None:
    """node.apps mounted the log router alone once, so `sekisho up` served appends without the fast path."""
    from sekisho.node.apps import create_app as party_app
    from sekisho.node.roles import Role

    app = party_app(Role("log"), log_home)
    assert any(m.cls is AppendFastPath for m in app.user_middleware)
    entry = make_entry()
    with TestClient(app) as client:
        resp = client.post("/append", content=entry)
        assert resp.status_code == 200
        assert resp.json()["leaf_hash"] == merkle.hash_leaf(entry).hex()


# --- POST /append/batch: many entries in one frame -------------------------------------------------------


def test_a_batch_answers_like_the_route(both: tuple[TestClient, TestClient], log_service: LogService) -> None:
    fast, slow = both
    first, second = [make_entry() for _ in range(3)], [make_entry() for _ in range(2)]
    kind = {"content-type": batch.MEDIA_TYPE}
    a = fast.post("/append/batch", content=batch.encode_entries(first), headers=kind)
    b = slow.post("/append/batch", content=batch.encode_entries(second), headers=kind)
    assert a.status_code == b.status_code == 200
    assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
    assert a.json() == {"indices": [0, 1, 2], "leaf_hashes": [merkle.hash_leaf(e).hex() for e in first]}
    assert b.json() == {"indices": [3, 4], "leaf_hashes": [merkle.hash_leaf(e).hex() for e in second]}
    assert log_service.entries(start=0, end=5) == first + second


def test_a_batch_with_one_bad_entry_or_a_bad_frame_is_refused_whole(
    both: tuple[TestClient, TestClient], log_service: LogService
) -> None:
    fast, slow = both
    secret = b'{"name":"\xe5\xb1\xb1\xe7\x94\xb0","birth_date":"1990-01-31"}'
    good = batch.encode_entries([make_entry()])
    bodies = [
        batch.encode_entries([make_entry(), secret]),  # one invalid entry: none of the batch is logged
        b"",  # empty
        good[:-1],  # the last entry cut short
        good + b"\x00\x00",  # a truncated length
        (10**6).to_bytes(4, "big") + secret,  # a length beyond the entry limit
        batch.encode_entries([make_entry()] * (batch.MAX_BATCH + 1)),
    ]
    for body in bodies:
        a, b = fast.post("/append/batch", content=body), slow.post("/append/batch", content=body)
        assert a.status_code == b.status_code == 422
        assert a.headers["content-type"] == b.headers["content-type"] == problems.MEDIA_TYPE
        assert a.json() == b.json()
        assert b"1990" not in a.content
    assert log_service.size() == 0


def test_a_retried_batch_appends_only_what_is_missing(
    both: tuple[TestClient, TestClient], log_service: LogService
) -> None:
    fast, _ = both
    logged, other, lost = make_entry(), make_entry(), make_entry()
    first = fast.post("/append/batch", content=batch.encode_entries([logged, other])).json()
    again = fast.post("/append/batch", params={"not_before": 0}, content=batch.encode_entries([lost, logged]))
    hashes = [merkle.hash_leaf(lost).hex(), first["leaf_hashes"][0]]
    assert again.json() == {"indices": [2, 0], "leaf_hashes": hashes}
    # the entry already there keeps its index and is not logged twice; the lost one is appended
    assert log_service.size() == 3
    assert log_service.entries(start=0, end=3) == [logged, other, lost]


def test_the_http_client_appends_many_in_one_request(log_service: LogService) -> None:
    app = create_app(log_service)
    seen: list[str] = []
    with TestClient(app) as http:
        http.event_hooks["request"].append(lambda req: seen.append(req.url.path))
        log = HttpAccessLog(str(http.base_url), log_vkey=log_service.config.vkey, witness_vkeys=(), client=http)
        entries = [make_entry() for _ in range(batch.MAX_BATCH + 3)]
        receipts = log.append_many(entries)
        assert [r.index for r in receipts] == list(range(len(entries)))
        assert [r.leaf_hash for r in receipts] == [merkle.hash_leaf(e) for e in entries]
        assert seen == ["/append/batch", "/append/batch"]  # MAX_BATCH entries, then the rest
        assert log.resend_many(entries[:2], not_before=0) == receipts[:2]
        assert log.append_many([]) == []
    assert log_service.size() == len(entries)
    assert log_service.entries(start=0, end=len(entries)) == entries
