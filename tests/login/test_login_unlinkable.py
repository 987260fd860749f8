"""Card login without a universal number (sekisho.login.protocol, docs/login.md).

The 1,000-resident test runs the pseudonym path (pseudonym + proof of knowledge) for everyone: a full login adds
an AnonCreds presentation of about a tenth of a second to make and as much to check, too slow for 2 × 1,000 in
`make test`; the full login with its validity proof is checked on a few residents, where every value is compared
the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sekisho.credentials import anon
from sekisho.errors import InvalidInput, Refused
from sekisho.login import protocol as login

TODAY = date(2026, 11, 20)
T0 = 1_800_000_000


def _leaves(obj: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, f"{path}/{k}")
    elif isinstance(obj, list) and obj and all(isinstance(v, int) for v in obj):
        yield path, bytes(obj).hex()
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{path}/{i}")
    else:
        yield path, str(obj)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


class Card:
    def __init__(self, iss: anon.AnonIssuer, subject: str, *, expires: date = date(2027, 11, 20)) -> None:
        self.key = login.LoginKey.generate()
        self.holder = anon.AnonHolder()
        offer = iss.offer()
        req = self.holder.request(iss.public(), offer)
        issued = iss.issue(subject=subject, offer=offer, request=req, birthdate=date(1980, 1, 1), expires=expires)
        self.held = self.holder.receive(iss.public(), req, issued)


@pytest.fixture(scope="module")
def base_issuer(tmp_path_factory: pytest.TempPathFactory) -> anon.AnonIssuer:
    return anon.AnonIssuer.create("21", directory=tmp_path_factory.mktemp("tails"), capacity=32, clock=Clock())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(base_issuer: anon.AnonIssuer, clock: Clock) -> anon.AnonIssuer:
    return anon.AnonIssuer.from_json(base_issuer.to_json(), clock=clock)


def _challenge(rp: str) -> login.Challenge:
    return login.Challenge.new(rp=rp, today=TODAY, at=T0 + 1000)


def test_thousand_residents_at_two_rps_share_no_value() -> None:
    keys = [login.LoginKey.generate() for _ in range(1000)]
    seen: dict[str, set[str]] = {"bank.example": set(), "shop.example": set()}
    first: dict[str, list[str]] = {rp: [] for rp in seen}
    for rp, values in seen.items():
        for key in keys:
            ch = _challenge(rp)
            response = login.answer_pseudonym_only(ch, key)
            login.check_pseudonym(ch, response)
            received = [v for _, v in _leaves(ch.to_json() | response) if _ not in ("/rp", "/today", "/at")]
            values.update(received)
            first[rp].append(response["pseudonym"])
    assert len(seen["bank.example"]) == len(seen["shop.example"]) == 1000 * 4  # nonce, nym, c, s: all distinct
    assert seen["bank.example"].isdisjoint(seen["shop.example"])
    # stable: the same 1,000 pseudonyms the next time round, at each RP
    for rp in seen:
        assert [login.answer_pseudonym_only(_challenge(rp), k)["pseudonym"] for k in keys] == first[rp]


def test_full_login_two_rps_share_no_value_and_pseudonym_is_stable(issuer: anon.AnonIssuer) -> None:
    cards = [Card(issuer, f"r{i}") for i in range(3)]
    pub = issuer.public()
    received: dict[str, list[tuple[str, str]]] = {"bank.example": [], "shop.example": []}
    for rp in received:
        for card in cards:
            for _ in range(2):
                ch = _challenge(rp)
                response = login.answer(ch, card.key, card.held, card.holder)
                out = login.verify(ch, response, [pub])
                assert out.disclosed == {}
                assert out.pseudonym == login.b64u(card.key.pseudonym(rp))
                received[rp] += list(_leaves(response))
    # public constants of the request (predicate names/types/bounds, the prefecture's ids and list timestamp,
    # the index of the one credential used)
    # are the same for everyone; everything else is per login
    constant = {
        "attr_name",
        "p_type",
        "value",
        "schema_id",
        "cred_def_id",
        "rev_reg_id",
        "timestamp",
        "sub_proof_index",
    }
    values = {rp: {v for p, v in leaves if p.rsplit("/", 1)[-1] not in constant} for rp, leaves in received.items()}
    shared = values["bank.example"] & values["shop.example"]
    assert shared == set(), sorted({p for rp in received for p, v in received[rp] if v in shared})
    # at one RP, the only repeated value of a card's two logins is its pseudonym
    bank_nyms = [v for p, v in received["bank.example"] if p == "/pseudonym"]
    assert len(set(bank_nyms)) == 3 and len(bank_nyms) == 6


def test_revoked_card_cannot_log_in(issuer: anon.AnonIssuer, clock: Clock) -> None:
    lost, other = Card(issuer, "lost"), Card(issuer, "other")
    ch = _challenge("bank.example")
    before = login.answer(ch, lost.key, lost.held, lost.holder)
    clock.now += 5
    assert issuer.on_register_event(subject="lost", kind="card_lost")
    newest = issuer.public()
    with pytest.raises(Refused, match="validity"):
        login.verify(ch, before, [newest])
    with pytest.raises(Refused):  # noqa: PT012 (the witness update or the login refuses)
        lost.held.refresh(newest)
        ch2 = _challenge("bank.example")
        login.verify(ch2, login.answer(ch2, lost.key, lost.held, lost.holder), [newest])
    other.held.refresh(newest)
    ch3 = _challenge("bank.example")
    login.verify(ch3, login.answer(ch3, other.key, other.held, other.holder), [newest])


def test_expired_card_cannot_log_in(issuer: anon.AnonIssuer, clock: Clock) -> None:
    """Expiry is the day's sweep: the expired credential is revoked, the others' lists move on."""
    old, fresh = Card(issuer, "old", expires=date(2026, 11, 19)), Card(issuer, "fresh")
    clock.now += 5
    assert issuer.sweep(TODAY) == 1
    newest = issuer.public()
    with pytest.raises(Refused):  # noqa: PT012 (the witness update or the login refuses)
        old.held.refresh(newest)
        ch = _challenge("bank.example")
        login.verify(ch, login.answer(ch, old.key, old.held, old.holder), [newest])
    fresh.held.refresh(newest)
    ch = _challenge("bank.example")
    login.verify(ch, login.answer(ch, fresh.key, fresh.held, fresh.holder), [newest])


def test_a_sweep_with_nothing_expired_dates_the_list_anew(issuer: anon.AnonIssuer, clock: Clock) -> None:
    card = Card(issuer, "daily")
    before = issuer.public().timestamp
    clock.now += 86400
    assert issuer.sweep(TODAY) == 0
    newest = issuer.public()
    assert newest.timestamp > before
    card.held.refresh(newest)
    ch = login.Challenge.new(rp="bank.example", today=TODAY, at=clock.now + 10)
    login.verify(ch, login.answer(ch, card.key, card.held, card.holder), [newest])


def test_a_status_list_older_than_the_day_is_refused(issuer: anon.AnonIssuer) -> None:
    """Without the day's sweep an expired card could pass: the relying party refuses, and the login proves no
    range predicate (the request asks for none)."""
    card = Card(issuer, "late")
    tomorrow = login.Challenge.new(rp="bank.example", today=date.fromtimestamp(T0 + 2 * 86400), at=T0 + 1000)
    answer = login.answer(tomorrow, card.key, card.held, card.holder)
    assert answer["validity"]["requested_proof"]["predicates"] == {}
    with pytest.raises(Refused, match="not of today"):
        login.verify(tomorrow, answer, [issuer.public()])


def test_forged_or_replayed_logins_refused(issuer: anon.AnonIssuer) -> None:
    victim, thief = Card(issuer, "victim"), Card(issuer, "thief")
    pub = issuer.public()
    ch = _challenge("bank.example")
    good = login.answer(ch, thief.key, thief.held, thief.holder)
    # the victim's pseudonym (known to the RP, perhaps leaked) with the thief's proof and valid card
    with pytest.raises(Refused, match="pseudonym"):
        login.verify(ch, {**good, "pseudonym": login.b64u(victim.key.pseudonym("bank.example"))}, [pub])
    # an answer to another challenge or another RP
    with pytest.raises(Refused):
        login.verify(_challenge("bank.example"), good, [pub])
    with pytest.raises(Refused):
        login.verify(login.Challenge("shop.example", ch.nonce, ch.today, ch.at), good, [pub])
    # the validity proof of another login, with a fresh pseudonym proof
    ch2 = _challenge("bank.example")
    fresh = login.answer_pseudonym_only(ch2, thief.key)
    with pytest.raises(Refused, match="validity"):
        login.verify(ch2, {**fresh, "validity": good["validity"]}, [pub])
    with pytest.raises(Refused, match="validity"):
        login.verify(ch2, fresh, [pub])
    for broken in ({"requested_proof": []}, {"requested_proof": {"revealed_attrs": 1}}, {"proof": "x"}):
        with pytest.raises(Refused, match="validity"):
            login.verify(ch, {**good, "validity": {**good["validity"], **broken}}, [pub])
    with pytest.raises(Refused, match="more than"):
        login.verify(ch, {**good, "certificate": "x"}, [pub])
    with pytest.raises(InvalidInput):
        login.verify(ch, {**good, "pseudonym": "!!"}, [pub])


def test_resident_may_disclose_the_prefecture(issuer: anon.AnonIssuer) -> None:
    card = Card(issuer, "r")
    ch = _challenge("pref-office.example")
    out = login.verify(
        ch, login.answer(ch, card.key, card.held, card.holder, reveal_prefecture=True), [issuer.public()]
    )
    assert out.disclosed == {"prefecture": "21"}
    ch2 = _challenge("pref-office.example")
    resp = login.answer(ch2, card.key, card.held, card.holder, reveal_prefecture=True)
    with pytest.raises(Refused):
        login.verify(ch2, resp, [issuer.public()], allow_prefecture=False)


def test_rp_checks_validity_from_published_data_only(issuer: anon.AnonIssuer, tmp_path: Path) -> None:
    """No central party learns which RP a card logs in to: the card answers and the RP verifies without a call
    to the issuer; the RP holds only the prefecture's published document (the same for every RP)."""
    card = Card(issuer, "r")
    published = issuer.public().to_json()

    class Tripwire:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the issuer was asked {name} during a login")

    calls_before = issuer.to_json()
    ch = _challenge("bank.example")
    response = login.answer(ch, card.key, card.held, card.holder)
    out = login.verify(ch, response, [anon.PublicIssuerData.from_json(published)])
    assert out.pseudonym == login.b64u(card.key.pseudonym("bank.example"))
    assert issuer.to_json() == calls_before  # nothing recorded at the issuer
    # the verify path takes public data only: a private issuer object is not even accepted
    with pytest.raises((AttributeError, AssertionError, TypeError)):
        login.verify(ch, response, [Tripwire()])  # type: ignore[list-item]
