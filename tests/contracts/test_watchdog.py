"""PolicyDecisionPoint contract: the watchdog's decision point decides, narrows and records alike whether a party
asks it in-process or over HTTP (``/policy/decide``, ``/policy/check-subject`` on the watchdog's real app)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient

from sekisho.config import Home
from sekisho.errors import InvalidInput, NotFound, Refused
from sekisho.keyfile import PASSPHRASE_ENV
from sekisho.node.apps import watchdog_app
from sekisho.node.http.watchdog import HttpDecisionPoint, HttpWatchdog
from sekisho.node.local import LocalNetwork
from sekisho.node.roles import Role
from sekisho.policy import store as pol
from sekisho.policy.pia import load_pia
from sekisho.policy.service import Watchdog, open_decision_point
from sekisho.policy.signing import public_keys
from sekisho.problems import MEDIA_TYPE
from sekisho.protocols.access import AccessRequest, PolicyDecisionPoint, SubjectFacts

PASSPHRASE = b"correct horse battery staple"
AT = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
ASK = AccessRequest(
    requester="pension",
    requester_kind="agency",
    action="identity-confirmation",
    purpose="pension.benefit",
    items=frozenset({"name", "address"}),
    at=AT,
    terminal="t-001",
    municipality="212016",
)


@pytest.fixture(params=["in-process", "http"])
def pdp(request: pytest.FixtureRequest, home: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[PolicyDecisionPoint]:
    from importlib import resources
    from pathlib import Path

    wd = Watchdog.open(home, passphrase=PASSPHRASE, scrypt_n=2**14)
    for path in sorted(Path(str(resources.files("sekisho.policy.data").joinpath("pias"))).glob("*.yaml")):
        pia = load_pia(path)
        if pia.agency == "pension":
            wd.submit_pia(pia, by="agency-officer")
            wd.approve_pia(pia.id, by="wd-officer-1")
    wd.engine.dispose()
    if request.param == "in-process":
        yield open_decision_point(home)
        return
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE.decode())
    with TestClient(watchdog_app(Role("watchdog"), home), base_url="http://watchdog.test") as client:
        yield HttpDecisionPoint(client)


def _recorded(home: Home) -> list[tuple[str, bool, str | None]]:
    engine = Watchdog.open(home).engine
    try:
        with engine.connect() as conn:
            c = pol.decision.c
            rows = conn.execute(sa.select(c.decision_id, c.allow, c.parent).order_by(c.id)).all()
    finally:
        engine.dispose()
    return [(r.decision_id, bool(r.allow), r.parent) for r in rows]


def test_decide_allows_refuses_and_records_before_answering(pdp: PolicyDecisionPoint, home: Home) -> None:
    allowed = pdp.decide(ASK)
    assert allowed.allow and allowed.items == frozenset({"name", "address"})
    assert allowed.legal_basis == "pension.benefit" and allowed.pia is not None
    refused = pdp.decide(dataclasses.replace(ASK, items=frozenset({"name", "household"})))
    assert not refused.allow and refused.reasons == ("item-not-allowed:household",) and refused.items == frozenset()
    assert _recorded(home) == [(allowed.decision_id, True, None), (refused.decision_id, False, None)]


def test_check_subject_narrows_for_a_protected_person_and_records_it(pdp: PolicyDecisionPoint, home: Home) -> None:
    decided = pdp.decide(ASK)
    same = pdp.check_subject(decided, SubjectFacts(), ASK)
    assert same == decided  # nothing about the person changes it: nothing new recorded
    narrowed = pdp.check_subject(
        decided, SubjectFacts(protected=True, protected_requester_refused=frozenset({"pension"}), subject_ref="r1"), ASK
    )
    assert not narrowed.allow and narrowed.parent == decided.decision_id and narrowed.items == frozenset()
    assert _recorded(home)[-1] == (narrowed.decision_id, False, decided.decision_id)


@pytest.mark.parametrize("pdp", ["http"], indirect=True)  # a body exists only over HTTP
def test_a_malformed_decision_request_is_a_problem_document(pdp: PolicyDecisionPoint) -> None:
    assert isinstance(pdp, HttpDecisionPoint)
    client = pdp._client
    for path, body in [
        ("/policy/decide", {"requester": "pension"}),
        ("/policy/check-subject", {"decision": {"decision_id": "x"}, "facts": {}, "request": {}}),
    ]:
        response = client.post(path, json=body)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith(MEDIA_TYPE)


class Register(Protocol):
    """What parties read from the watchdog's register (in-process: ``LocalNetwork``; HTTP: ``HttpWatchdog``)."""

    def warrant_keys(self) -> dict[str, Ed25519PublicKey]: ...

    def warrant_token(self, warrant: str) -> str: ...

    def approved_pia(self, agency: str) -> tuple[frozenset[str], frozenset[str]] | None: ...


@pytest.fixture
def register(
    pdp: PolicyDecisionPoint, home: Home, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Register, Watchdog]]:
    wd = Watchdog.open(home, passphrase=PASSPHRASE, scrypt_n=2**14)
    if isinstance(pdp, HttpDecisionPoint):  # the same watchdog app, reached for its register
        yield HttpWatchdog(pdp._client), wd
    else:
        net = LocalNetwork(home, passphrase=PASSPHRASE)
        yield net, wd
        net.close()
    wd.engine.dispose()


def _raw(keys: dict[str, Ed25519PublicKey]) -> dict[str, bytes]:
    return {kid: k.public_bytes(Encoding.Raw, PublicFormat.Raw) for kid, k in keys.items()}


def test_keys_pias_and_warrant_tokens_read_alike(register: tuple[Register, Watchdog], home: Home) -> None:
    reader, wd = register
    assert _raw(reader.warrant_keys()) == _raw(public_keys(home))
    scope = reader.approved_pia("pension")
    assert scope is not None and "pension.benefit" in scope[0] and "name" in scope[1]
    assert reader.approved_pia("tax") is None  # no PIA filed

    pending = wd.request_warrant(
        requester="welfare-saitama",
        target="pension",
        purpose="welfare.means-test",
        legal_basis="welfare.means-test",
        case_reference="c3",
        persons=1,
        not_after=datetime.now(UTC) + timedelta(days=3),
        by="x",
    )
    with pytest.raises(Refused) as refused:
        reader.warrant_token(pending)
    assert "warrant-not-approved" in str(refused.value) and pending not in str(refused.value)
    with pytest.raises(NotFound):
        reader.warrant_token("0" * 32)
    with pytest.raises(InvalidInput) as bad:
        reader.warrant_token("../../policy/alerts")  # never put into a path
    assert bad.value.field == "warrant"
