"""The HTTP side: the tlog-tiles read API, appends, the witness endpoint, and the HTTP client that computes
proofs from tiles (parties in separate processes talk exactly like this)."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sekisho.auditlog.api import create_app
from sekisho.auditlog.client import HttpAccessLog, InProcessAccessLog
from sekisho.auditlog.service import LogService
from sekisho.auditlog.witness import Witness
from sekisho.errors import InvalidInput
from sekisho.transparency import merkle
from sekisho.transparency.checkpoint import verify_witnessed_checkpoint
from sekisho.transparency.entry import derive_commitment_key
from sekisho.transparency.log import find_my_entries
from sekisho.transparency.tiles import decode_bundle, split_hashes

from .conftest import checkpoint_and_witness, make_entry


@pytest.fixture
def client(log_service: LogService, witness: Witness) -> Iterator[TestClient]:
    with TestClient(create_app(log_service, witness)) as c:
        yield c


@pytest.fixture
def http_log(client: TestClient, log_service: LogService, witness: Witness) -> HttpAccessLog:
    return HttpAccessLog(
        "http://testserver/", log_vkey=log_service.config.vkey, witness_vkeys=[witness.vkey], client=client
    )


def test_checkpoint_and_tiles(client: TestClient, log_service: LogService, witness: Witness) -> None:
    assert client.get("/checkpoint").status_code == 404
    entries = [make_entry() for _ in range(300)]
    for e in entries:
        resp = client.post("/append", content=e, headers={"content-type": "application/octet-stream"})
        assert resp.status_code == 200
    note = checkpoint_and_witness(log_service, witness)
    resp = client.get("/checkpoint")
    assert resp.text == note
    assert resp.headers["content-type"] == "text/plain; charset=utf-8"
    leaves = [merkle.hash_leaf(e) for e in entries]
    tile = client.get("/tile/0/000")
    assert split_hashes(tile.content) == leaves[:256]
    assert "immutable" in tile.headers["cache-control"]
    assert split_hashes(client.get("/tile/0/001.p/44").content) == leaves[256:]
    assert client.get("/tile/1/000.p/1").content == merkle.perfect_root(leaves[:256])
    bundle = client.get("/tile/entries/001.p/44", headers={"accept-encoding": "gzip"})
    assert bundle.headers.get("content-encoding") == "gzip"
    assert decode_bundle(bundle.content) == entries[256:]
    assert decode_bundle(gzip.decompress(gzip.compress(bundle.content))) == entries[256:]
    assert client.get("/tile/0/001").status_code == 404  # not full yet
    bad = client.get("/tile/0/1")
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


def test_append_refuses_and_never_echoes(client: TestClient) -> None:
    secret = b'{"name":"\xe5\xb1\xb1\xe7\x94\xb0\xe8\x8a\xb1\xe5\xad\x90","birth_date":"1990-01-31"}'
    resp = client.post("/append", content=secret)
    assert resp.status_code == 422
    assert b"1990" not in resp.content
    assert "\u5c71\u7530".encode() not in resp.content


def test_schema_and_routing_errors_are_problem_documents_that_echo_nothing(client: TestClient) -> None:
    """Found by schemathesis: the log's app mapped only domain errors, so a query that broke the schema got
    FastAPI's own body (application/json, with the offending value in it), and so did a method not allowed."""
    for resp in (
        client.get("/proof/inclusion", params={"index": "山田花子", "size": 1}),
        client.get("/proof/consistency", params={"old": 0}),
        client.post("/append", params={"not_before": "1990-01-31"}, content=make_entry()),
    ):
        assert resp.status_code == 422
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["type"] == "urn:sekisho:problem:invalid-input"
        assert "山田" not in resp.text and "1990" not in resp.text
    method = client.request("TRACE", "/append")
    assert method.status_code == 405
    assert method.headers["content-type"] == "application/problem+json"


def test_numbers_out_of_range_are_refused_not_a_server_error(
    client: TestClient, log_service: LogService, witness: Witness
) -> None:
    """Found by schemathesis: a not_before beyond any database integer overflowed the index lookup, and an old size
    in non-ASCII digits ("²") or of thousands of digits failed in int(): HTTP 500 each."""
    resp = client.post("/append", params={"not_before": str(2**80)}, content=make_entry())
    assert resp.status_code == 422
    assert resp.json()["field"] == "query.not_before"
    client.post("/append", content=make_entry())
    note = checkpoint_and_witness(log_service, witness)
    for old in ("\u00b2", "\u0663", "1" * 5000):
        resp = client.post("/add-checkpoint", content=f"old {old}\n\n{note}".encode())
        assert resp.status_code == 422
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["field"] == "body"


def test_openapi_documents_bodies_and_media_types(log_service: LogService, witness: Witness) -> None:
    """Found by schemathesis: the raw bodies of /append and /add-checkpoint were undocumented (so no tool sent one)
    and text and tile responses were documented as JSON."""
    paths = create_app(log_service, witness).openapi()["paths"]
    assert list(paths["/append"]["post"]["requestBody"]["content"]) == ["application/octet-stream"]
    assert list(paths["/add-checkpoint"]["post"]["requestBody"]["content"]) == ["text/plain; charset=utf-8"]
    assert list(paths["/add-checkpoint"]["post"]["responses"]["409"]["content"]) == ["text/x.tlog.size"]
    assert list(paths["/checkpoint"]["get"]["responses"]["200"]["content"]) == ["text/plain; charset=utf-8"]
    assert list(paths["/tile/{path}"]["get"]["responses"]["200"]["content"]) == ["application/octet-stream"]


def test_a_retried_append_is_not_made_twice(http_log: HttpAccessLog, log_service: LogService) -> None:
    before = [make_entry() for _ in range(5)]
    for e in before:
        http_log.append(e)
    lost = make_entry()
    first = http_log.append(lost)  # say its answer was lost: the sender retries from the size it saw before
    for _ in range(3):
        http_log.append(make_entry())
    size = log_service.size()
    [again] = http_log.resend_many([lost], not_before=len(before))
    assert again == first
    assert log_service.size() == size
    # an entry the log does not have is appended by the same call, in order with the found ones
    new = make_entry()
    receipts = http_log.resend_many([new, lost], not_before=len(before))
    assert [r.index for r in receipts] == [size, first.index]
    assert log_service.entries(start=size, end=size + 1) == [new]
    # the bound is honoured: looking only after the entry's index does not find it (so it is appended again)
    assert http_log.resend_many([lost], not_before=first.index + 1)[0].index == size + 1
    assert log_service.resend_many([lost], not_before=0)[0].index == first.index


def test_http_client_proves_from_tiles(http_log: HttpAccessLog, log_service: LogService, witness: Witness) -> None:
    k = derive_commitment_key(b"\x05" * 32)
    mine = {http_log.append(make_entry(k)).index for _ in range(3)}
    for _ in range(600):
        http_log.append(make_entry())
    mine |= {http_log.append(make_entry(k)).index for _ in range(2)}
    checkpoint_and_witness(log_service, witness)
    cp = http_log.latest_witnessed_checkpoint()
    assert cp.size == 605
    local = InProcessAccessLog(log_service)
    for index in (0, 255, 300, 604):
        assert http_log.inclusion_proof(index, cp.size) == local.inclusion_proof(index, cp.size)
    assert http_log.consistency_proof(10, cp.size) == local.consistency_proof(10, cp.size)
    assert {i for i, _ in find_my_entries(http_log, cp, k)} == mine
    with pytest.raises(InvalidInput):
        http_log.append(b"{}")


def test_proof_endpoints(client: TestClient, log_service: LogService) -> None:
    log_service.append_many([make_entry() for _ in range(20)])
    body = client.get("/proof/inclusion", params={"index": 3, "size": 20}).json()
    proof = [base64.b64decode(p) for p in body["proof"]]
    assert proof == log_service.inclusion_proof(index=3, size=20)
    assert client.get("/proof/inclusion", params={"index": 3, "size": 21}).status_code == 404
    assert client.get("/proof/consistency", params={"old": 5, "new": 20}).status_code == 200


def test_witness_endpoint(client: TestClient, log_service: LogService, witness: Witness) -> None:
    log_service.append_many([make_entry() for _ in range(8)])
    note = log_service.issue_checkpoint()
    resp = client.post("/add-checkpoint", content="old 0\n\n" + note)
    assert resp.status_code == 200
    assert resp.text.startswith("\u2014 " + witness.vkey.name + " ")
    log_service.add_cosignatures(size=8, lines=resp.text)
    again = client.post("/add-checkpoint", content="old 0\n\n" + note)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("text/x.tlog.size")
    assert again.text == "8\n"


def test_log_pushes_to_a_witness_over_http(client: TestClient, log_service: LogService, witness: Witness) -> None:
    from sekisho.auditlog.witness import HttpWitness

    remote = HttpWitness("http://testserver/", client=client)
    log_service.append_many([make_entry() for _ in range(5)])
    log_service.issue_checkpoint()
    first = log_service.request_cosignatures(remote)
    assert verify_witnessed_checkpoint(first, log_service.config.vkey, [witness.vkey]).size == 5
    log_service.append_many([make_entry() for _ in range(7)])
    log_service.issue_checkpoint()
    # the witness moved on behind the log's back (it cosigned 12 for someone else): a 409 tells the log its size
    witness.observe(InProcessAccessLog(log_service))
    log_service.append_many([make_entry() for _ in range(3)])
    log_service.issue_checkpoint()
    third = log_service.request_cosignatures(remote)
    assert verify_witnessed_checkpoint(third, log_service.config.vkey, [witness.vkey]).size == 15
