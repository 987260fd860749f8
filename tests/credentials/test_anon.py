"""AnonCreds: predicates, minimal disclosure, unlinkability, revocation, tampering (sekisho.credentials.anon)."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from anoncreds import AnoncredsError

from sekisho.config import Home
from sekisho.credentials import anon
from sekisho.errors import Conflict, InvalidInput, Refused
from sekisho.node.local import LocalDirectory
from sekisho.node.registers import create_register
from sekisho.registry import store as reg_store
from sekisho.registry.service import Actor

TODAY = date(2026, 11, 20)
T0 = 1_800_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> anon.AnonIssuer:
    # key generation and the tails file take seconds: one prefecture for the module, a fresh state per test
    return anon.AnonIssuer.create("21", directory=tmp_path_factory.mktemp("tails"), capacity=64, clock=Clock())


@pytest.fixture
def gifu_issuer(issuer: anon.AnonIssuer) -> anon.AnonIssuer:
    return anon.AnonIssuer.from_json(issuer.to_json(), clock=Clock())


def _holder(
    iss: anon.AnonIssuer, subject: str, born: date, *, expires: date = date(2027, 11, 20)
) -> tuple[anon.AnonHolder, anon.HeldCredential]:
    holder = anon.AnonHolder()
    offer = iss.offer()
    req = holder.request(iss.public(), offer)
    issued = iss.issue(subject=subject, offer=offer, request=req, birthdate=born, expires=expires)
    return holder, holder.receive(iss.public(), req, issued)


def _request(iss: anon.AnonIssuer, **kw: Any) -> dict[str, Any]:
    return anon.presentation_request(cred_def_ids=[iss.public().cred_def_id], today=TODAY, at=T0 + 100, **kw)


def _leaves(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, f"{path}/{k}")
    elif isinstance(obj, list) and obj and all(isinstance(v, int) for v in obj):
        yield path, bytes(obj).hex()  # a byte string (the aggregated proof's c_list) is one value
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{path}/{i}")
    else:
        yield path, obj


def test_over_20_predicate_true_and_false(gifu_issuer: anon.AnonIssuer) -> None:
    adult = _holder(gifu_issuer, "a", date(2006, 11, 20))  # 20 today
    minor = _holder(gifu_issuer, "m", date(2006, 11, 21))  # 20 tomorrow
    rq = _request(gifu_issuer, min_age=20)
    assert anon.verify(anon.present(adult[1], adult[0], rq), rq, [gifu_issuer.public()], today=TODAY).revealed == {}
    with pytest.raises(Refused, match="does not satisfy"):
        anon.present(minor[1], minor[0], rq)
    # a presentation for a weaker request does not pass for the stricter one
    weak = _request(gifu_issuer, min_age=18)
    p = anon.present(minor[1], minor[0], weak)
    anon.verify(p, weak, [gifu_issuer.public()], today=TODAY)
    strict = {**weak, "requested_predicates": rq["requested_predicates"]}
    with pytest.raises(anon.PresentationRejected):
        anon.verify(p, strict, [gifu_issuer.public()], today=TODAY)


def test_reveals_only_what_was_asked(gifu_issuer: anon.AnonIssuer) -> None:
    holder, held = _holder(gifu_issuer, "a", date(1975, 4, 1))
    text_birth = str(anon.yyyymmdd(date(1975, 4, 1)))
    text_expiry = str(anon.yyyymmdd(date(2027, 11, 20)))
    for reveal, expected in ((True, {"prefecture": "21"}), (False, {})):
        rq = _request(gifu_issuer, reveal_prefecture=reveal, min_age=20)
        p = anon.present(held, holder, rq)
        assert anon.verify(p, rq, [gifu_issuer.public()], today=TODAY).revealed == expected
        values = [str(v) for _, v in _leaves(p)]
        # the birth date and the expiry appear nowhere, not even inside the proof
        assert not any(text_birth in v or text_expiry in v for v in values)
        revealed = [path for path, _ in _leaves(p) if "revealed_attrs" in path]
        assert bool(revealed) == reveal
        assert all("prefecture" in path for path in revealed)


def test_two_presentations_differ_in_every_proof_value(gifu_issuer: anon.AnonIssuer) -> None:
    holder, held = _holder(gifu_issuer, "a", date(1975, 4, 1))
    rq1 = _request(gifu_issuer, min_age=20)
    rq2 = _request(gifu_issuer, min_age=20)
    p1, p2 = anon.present(held, holder, rq1), anon.present(held, holder, rq2)
    l1, l2 = dict(_leaves(p1["proof"])), dict(_leaves(p2["proof"]))
    assert l1.keys() == l2.keys() and len(l1) > 50, set(l1) ^ set(l2)
    # public constants of the request (the predicate's attribute name, type and bound) are not proof values
    constant = {"attr_name", "p_type", "value"}
    shared = [k for k in l1 if k.rsplit("/", 1)[-1] not in constant and l1[k] == l2[k]]
    assert shared == []
    # and no value of one appears anywhere in the other
    assert not ({str(v) for k, v in l1.items() if k.rsplit("/", 1)[-1] not in constant} & {str(v) for v in l2.values()})


def test_revoked_credential_fails(gifu_issuer: anon.AnonIssuer) -> None:
    clock = Clock()
    iss = anon.AnonIssuer.from_json(gifu_issuer.to_json(), clock=clock)
    dead = _holder(iss, "dead", date(1950, 1, 1))
    alive = _holder(iss, "alive", date(1960, 1, 1))
    rq = _request(iss, min_age=20)
    old_proof = anon.present(dead[1], dead[0], rq)
    anon.verify(old_proof, rq, [iss.public()], today=TODAY)
    clock.now += 10
    assert iss.on_register_event(subject="dead", kind="died") is True
    assert iss.on_register_event(subject="dead", kind="died") is False
    newest = iss.public()
    # a proof made before the death names the old list: refused
    with pytest.raises(anon.PresentationRejected, match="newest status list"):
        anon.verify(old_proof, rq, [newest], today=TODAY)
    # a fresh proof against the new list fails (or cannot even be made)
    with pytest.raises((anon.PresentationRejected, Refused)):  # noqa: PT012 (either step may refuse)
        dead[1].refresh(newest)
        anon.verify(anon.present(dead[1], dead[0], rq), rq, [newest], today=TODAY)
    # everybody else still proves, after updating their witness from the public list
    alive[1].refresh(newest)
    anon.verify(anon.present(alive[1], alive[0], rq), rq, [newest], today=TODAY)


@pytest.mark.parametrize(
    "tamper",
    [
        "revealed_value",
        "proof_number",
        "predicate_bound",
        "extra_revealed",
        "other_issuer",
        "nonce",
    ],
)
def test_tampered_presentation_fails(gifu_issuer: anon.AnonIssuer, tamper: str) -> None:
    holder, held = _holder(gifu_issuer, "a", date(1975, 4, 1))
    rq = _request(gifu_issuer, reveal_prefecture=True, min_age=20)
    p = anon.present(held, holder, rq)
    anon.verify(p, rq, [gifu_issuer.public()], today=TODAY)
    bad, brq = copy.deepcopy(p), copy.deepcopy(rq)
    proof = bad["proof"]["proofs"][0]["primary_proof"]
    if tamper == "revealed_value":
        bad["requested_proof"]["revealed_attrs"]["prefecture"]["raw"] = "13"
        bad["requested_proof"]["revealed_attrs"]["prefecture"]["encoded"] = "13"
    elif tamper == "proof_number":
        proof["eq_proof"]["a_prime"] = str(int(proof["eq_proof"]["a_prime"]) + 1)
    elif tamper == "predicate_bound":
        brq["requested_predicates"]["age"]["p_value"] += 10000  # claims "over 30" with an "over 20" proof
    elif tamper == "extra_revealed":
        bad["requested_proof"]["revealed_attrs"]["birthdate"] = {"sub_proof_index": 0, "raw": "1", "encoded": "1"}
    elif tamper == "other_issuer":
        bad["identifiers"][0]["cred_def_id"] = "sekisho:prefecture:13/credential-definition/sekisho-resident"
    elif tamper == "nonce":
        brq["nonce"] = str(int(brq["nonce"]) + 1)
    with pytest.raises(anon.PresentationRejected):
        anon.verify(json.loads(json.dumps(bad)), brq, [gifu_issuer.public()], today=TODAY)


def test_issuance_from_register_writes_access_record_first(
    home: Home, gifu_issuer: anon.AnonIssuer, tmp_path: Path
) -> None:
    reg = create_register(
        home,
        "212016",
        actor=Actor(clerk="clerk-7"),
        today=lambda: TODAY,
        directory=LocalDirectory(home, today=lambda: TODAY),
    )
    r = reg.add(_person())
    holder = anon.AnonHolder()
    offer = gifu_issuer.offer()
    req = holder.request(gifu_issuer.public(), offer)
    issued = anon.issue_from_register(gifu_issuer, reg, handle=r.handle, offer=offer, request=req, today=TODAY)
    held = holder.receive(gifu_issuer.public(), req, issued)
    with reg.engine.connect() as conn:
        purposes = conn.execute(sa.select(reg_store.access.c.purpose)).scalars().all()
    assert purposes.count(anon.PURPOSE) == 1
    rq = _request(gifu_issuer, reveal_prefecture=True, min_age=20)
    assert anon.verify(anon.present(held, holder, rq), rq, [gifu_issuer.public()], today=TODAY).prefecture == "21"
    reg.deliver_events(anon.RegisterEvents(gifu_issuer))  # the add's own events revoke nothing
    # a register of another prefecture is refused before anything is read
    other = anon.AnonIssuer.from_json({**gifu_issuer.to_json(), "prefecture": "13"})
    with pytest.raises(Refused, match="prefecture"):
        anon.issue_from_register(other, reg, handle=r.handle, offer=offer, request=req, today=TODAY)
    # the death reaches the issuer as a register event and revokes the credential
    reg.death(r.handle, died_on="2026-11-19")
    before = gifu_issuer.public().timestamp
    reg.deliver_events(anon.RegisterEvents(gifu_issuer))
    assert gifu_issuer.public().timestamp > before
    with pytest.raises(anon.PresentationRejected):
        anon.verify(anon.present(held, holder, rq), rq, [gifu_issuer.public()], today=TODAY)
    # and a dead resident gets no new credential
    with pytest.raises(Refused, match="not active"):
        anon.issue_from_register(gifu_issuer, reg, handle=r.handle, offer=offer, request=req, today=TODAY)
    partial = reg.add(_person(birth_date="1975", household="h2"))
    with pytest.raises(Conflict, match="birth date"):
        anon.issue_from_register(gifu_issuer, reg, handle=partial.handle, offer=offer, request=req, today=TODAY)


def _person(**overrides: str) -> dict[str, str]:
    row = {
        "household": "h1",
        "relationship": "世帯主",
        "family_name": "髙橋",
        "given_name": "健一",
        "family_name_kana": "たかはし",
        "given_name_kana": "ケンイチ",
        "birth_date": "昭和50年4月1日",
        "sex": "男",
        "nationality": "日本",
        "town": "青柳町",
        "block": "3丁目5番12号",
        "katagaki": "",
        "became_resident_on": "平成10年4月1日",
        "address_set_on": "平成10年4月1日",
    }
    row.update(overrides)
    return row


def test_a_status_list_is_never_dated_ahead_of_the_clock(tmp_path: Path) -> None:
    # a relying party proves non-revocation "no later than now": a list dated a second ahead (the issuer's second
    # update within one second) refused every login for that second
    iss = anon.AnonIssuer.create("21", directory=tmp_path / "tails", capacity=4)
    stamps = [iss.public().timestamp]
    for _ in range(3):  # the day's sweeps, back to back
        iss.sweep(date.today())
        stamps.append(iss.public().timestamp)
        assert stamps[-1] <= int(time.time())
    assert stamps == sorted(set(stamps))  # and still strictly later than the list each replaces


def test_holders_check_the_signing_keys_correctness_proof(gifu_issuer: anon.AnonIssuer) -> None:
    # the key is anoncreds-rs's own (no part of the CL scheme is drawn here); a tampered proof is refused
    pub = gifu_issuer.public()
    offer = gifu_issuer.offer()
    bad = copy.deepcopy(dict(offer.offer))
    bad["key_correctness_proof"]["xz_cap"] = str(int(bad["key_correctness_proof"]["xz_cap"]) + 1)
    with pytest.raises(AnoncredsError):
        anon.AnonHolder().request(pub, anon.Offer(bad))
    anon.AnonHolder().request(pub, offer)  # the untouched proof passes


def test_an_age_check_proves_one_predicate_and_relies_on_the_days_sweep(gifu_issuer: anon.AnonIssuer) -> None:
    clock = Clock()
    iss = anon.AnonIssuer.from_json(gifu_issuer.to_json(), clock=clock)
    old = _holder(iss, "old", date(1980, 1, 1), expires=date(2026, 11, 19))
    fresh = _holder(iss, "fresh", date(1980, 1, 1))
    rq = _request(iss, min_age=20)
    p = anon.present(old[1], old[0], rq)
    [proof] = p["proof"]["proofs"]
    assert [g["predicate"]["attr_name"] for g in proof["primary_proof"]["ge_proofs"]] == ["birthdate"]
    with pytest.raises(InvalidInput, match="today"):  # no expiry proved and no day given: fail closed
        anon.verify(p, rq, [iss.public()])
    # T0 is 2027-01-15 in Japan: on the 17th, with no sweep since, the list is refused (the expired credential
    # would pass otherwise)
    later = date(2027, 1, 17)
    with pytest.raises(anon.PresentationRejected, match="not of today"):
        anon.verify(p, rq, [iss.public()], today=later)
    # that day's sweep revokes the expired credential; the other one proves against the day's list
    clock.now = anon.day_start(later) + 60
    assert iss.sweep(later) == 1
    rq = anon.presentation_request(cred_def_ids=[iss.public().cred_def_id], today=later, at=clock.now + 60, min_age=20)
    fresh[1].refresh(iss.public())
    anon.verify(anon.present(fresh[1], fresh[0], rq), rq, [iss.public()], today=later)
    with pytest.raises((anon.PresentationRejected, Refused)):  # noqa: PT012 (either step may refuse)
        old[1].refresh(iss.public())
        anon.verify(anon.present(old[1], old[0], rq), rq, [iss.public()], today=later)
