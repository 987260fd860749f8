"""AnonCreds and the unlinkable card login: proof creation and verification times (goal <= 100 ms each) and card
logins per second, each beside the raw operations measured in the same run, alternated, median of the rounds.

    python -m bench credentials_anon [--rounds 5] [--n 20]
    python -m bench credentials_anon --tiny     # a smoke run (tests/bench): every figure, a few operations each

Each time is printed as wall-clock ms and as CPU ms of this process (``time.process_time``): on a machine shared
with other work the wall clock waits for the CPU, the CPU time does not.  The load average is printed before and
after.

Raw baselines: anoncreds-rs's own ``Presentation.create`` / ``Presentation.verify`` on the same request and objects
(what sekisho.credentials.anon adds is JSON handling and its request checks), and for a login the two ECDSA P-256
operations of the certificate login it replaces (sign a challenge, verify it).  No database is involved.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from anoncreds import (
    CredentialDefinition,
    Presentation,
    PresentationRequest,
    PresentCredentials,
    RevocationRegistryDefinition,
    RevocationStatusList,
    Schema,
)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sekisho.credentials import anon
from sekisho.login import protocol as login

TODAY = date(2026, 12, 5)


def _time(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds per call over ``n`` calls."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n, (time.process_time() - cpu) / n


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench/credentials_anon.py")
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds (the median is reported)")
    parser.add_argument("--n", type=int, default=20, help="operations per figure per round")
    parser.add_argument("--tiny", action="store_true", help="a smoke run: a few operations per figure")
    args = parser.parse_args(argv)
    rounds, n = (3, 1) if args.tiny else (max(3, args.rounds), args.n)
    print(f"before: {_load()} on {os.cpu_count()} cores")

    directory = Path(tempfile.mkdtemp(prefix="bench-anon-"))
    clock = int(time.time())
    issuer = anon.AnonIssuer.create("21", directory=directory, capacity=64 if args.tiny else 1024, clock=lambda: clock)
    pub = issuer.public()
    holder = anon.AnonHolder()
    offer = issuer.offer()
    req = holder.request(pub, offer)
    held = holder.receive(
        pub, req, issuer.issue(subject="s", offer=offer, request=req, birthdate=date(1980, 1, 1), expires=TODAY)
    )
    held.refresh(pub)
    key = login.LoginKey.generate()
    # the age check: reveal the prefecture, one range predicate (birthdate <= today - 20 years), non-revocation
    # against a list of the day (expiry is the day's sweep)
    request = anon.presentation_request(
        cred_def_ids=[pub.cred_def_id], today=TODAY, at=clock + 60, reveal_prefecture=True, min_age=20
    )
    presentation = anon.present(held, holder, request)
    # what a login proves: non-revocation against a list of the day, nothing revealed, no range predicate
    ch = login.Challenge.new(rp="bank.example", today=TODAY, at=clock + 60)
    nym = key.pseudonym(ch.rp)
    login_request = login.validity_request(ch, nym, [pub.cred_def_id])
    login_presentation = anon.present(held, holder, login_request)

    # the raw library calls on the same objects
    schema = Schema.load(json.dumps(pub.schema))
    cred_def = CredentialDefinition.load(json.dumps(pub.cred_def))
    rev_def = RevocationRegistryDefinition.load(json.dumps(pub.rev_reg_def))
    status = RevocationStatusList.load(json.dumps(pub.status_list))
    preq = PresentationRequest.load(json.dumps(request))

    def raw_present() -> object:
        pc = PresentCredentials()
        pc.add_attributes(held.credential, "prefecture", reveal=True, timestamp=pub.timestamp, rev_state=held._state)
        pc.add_predicates(
            held.credential, *request["requested_predicates"], timestamp=pub.timestamp, rev_state=held._state
        )
        return Presentation.create(
            preq, pc, {}, holder.link_secret, {pub.schema_id: schema}, {pub.cred_def_id: cred_def}
        )

    raw_pres = raw_present()

    def raw_verify() -> object:
        return raw_pres.verify(  # type: ignore[attr-defined]
            preq, {pub.schema_id: schema}, {pub.cred_def_id: cred_def}, {pub.rev_reg_id: rev_def}, [status]
        )

    ecdsa = ec.generate_private_key(ec.SECP256R1())
    message = os.urandom(100)
    signature = ecdsa.sign(message, ec.ECDSA(hashes.SHA256()))

    def raw_login() -> object:
        ecdsa.sign(message, ec.ECDSA(hashes.SHA256()))
        ecdsa.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))
        return None

    def full_login() -> object:
        ch = login.Challenge.new(rp="bank.example", today=TODAY, at=clock + 60)
        return login.verify(ch, login.answer(ch, key, held, holder), [pub])

    # the day rule needs a list of the day: the bench's clock stands on TODAY

    def nym_login() -> object:
        ch = login.Challenge.new(rp="bank.example", today=TODAY, at=clock + 60)
        return login.check_pseudonym(ch, login.answer_pseudonym_only(ch, key))

    figures: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    ops: list[tuple[str, Callable[[], object]]] = [
        ("present", lambda: anon.present(held, holder, request)),
        ("raw_present", raw_present),
        ("verify", lambda: anon.verify(presentation, request, [pub], today=TODAY)),
        ("raw_verify", raw_verify),
        ("login_present", lambda: anon.present(held, holder, login_request)),
        ("login_verify", lambda: anon.verify(login_presentation, login_request, [pub], today=TODAY)),
        ("login", full_login),
        ("nym_login", nym_login),
        ("raw_login", raw_login),
    ]
    for _ in range(rounds):  # alternated: a slow moment of a shared machine hits every figure alike
        for name, fn in ops:
            wall, used = _time(fn, n * (20 if name in ("nym_login", "raw_login") else 1))
            figures.setdefault(name, []).append(wall)
            cpu.setdefault(name, []).append(used)
    med = {k: statistics.median(v) for k, v in figures.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}

    def goal(k: str) -> str:
        return "met" if med[k] <= 0.1 else "NOT met"

    def ms(k: str) -> str:
        return f"{med[k] * 1000:7.1f} ms (CPU {med_cpu[k] * 1000:5.1f})"

    print(
        "AnonCreds age check (reveal prefecture, birthdate <= today - 20 y, non-revoked against the day's list), "
        f"{rounds} rounds, median; wall ms (CPU ms)"
    )
    print(
        f"anon.present    {ms('present')}   raw anoncreds create {ms('raw_present')}   "
        f"ratio {med['raw_present'] / med['present']:.2f}   goal <= 100 ms: {goal('present')}"
    )
    print(
        f"anon.verify     {ms('verify')}   raw anoncreds verify {ms('raw_verify')}   "
        f"ratio {med['raw_verify'] / med['verify']:.2f}   goal <= 100 ms: {goal('verify')}"
    )
    print(
        f"login validity proof (non-revoked only): present {ms('login_present')}   verify {ms('login_verify')}"
        f"   goal <= 100 ms: present {goal('login_present')}, verify {goal('login_verify')}"
    )
    print(f"after the timed rounds: {_load()}")
    print(
        f"card logins/s, full (pseudonym + proof + AnonCreds validity) {1 / med['login']:10,.1f}/s   "
        f"vs raw ECDSA sign+verify {1 / med['raw_login']:10,.0f}/s   ratio {med['raw_login'] / med['login']:.4f}"
    )
    print(
        f"card logins/s, pseudonym path only                           {1 / med['nym_login']:10,.0f}/s   "
        f"vs raw ECDSA sign+verify {1 / med['raw_login']:10,.0f}/s   ratio {med['raw_login'] / med['nym_login']:.2f}"
    )

    breakdown(held, holder, pub, clock, rounds=rounds, n=n)
    print(f"at the end: {_load()}")


def breakdown(
    held: anon.HeldCredential, holder: anon.AnonHolder, pub: anon.PublicIssuerData, clock: int, *, rounds: int, n: int
) -> None:
    """Where an AnonCreds presentation's time goes: anoncreds-rs's own create and verify for requests that add one
    part at a time (the base proof revealing the prefecture; each range predicate; the non-revocation proof)."""
    full = anon.presentation_request(
        cred_def_ids=[pub.cred_def_id],
        today=TODAY,
        at=clock + 60,
        reveal_prefecture=True,
        min_age=20,
        prove_expiry=True,
    )
    parts = [
        ("reveal prefecture only", (), False),
        ("+ 1 range predicate (birthdate <= 20 years ago)", ("age",), False),
        ("+ 2 range predicates (and expires >= today)", ("valid", "age"), False),
        ("reveal prefecture + non-revocation", (), True),
        ("the age check: 1 predicate + non-revocation", ("age",), True),
        ("the old age check: 2 predicates + non-revocation", ("valid", "age"), True),
    ]
    print(f"where the time goes (anoncreds-rs alone, median of {rounds} rounds, wall ms (CPU ms)):")
    for label, preds, revocation in parts:
        request = dict(full, requested_predicates={k: full["requested_predicates"][k] for k in preds})
        if not revocation:
            request.pop("non_revoked")
        create, check = _pair(held, holder, pub, request, preds, revocation)
        print(f"  {label:<52} create {_ms(create, n, rounds)}   verify {_ms(check, n, rounds)}")


def _ms(fn: Callable[[], object], n: int, rounds: int) -> str:
    times = [_time(fn, n) for _ in range(rounds)]
    wall, used = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
    return f"{wall * 1000:7.1f} ms ({used * 1000:5.1f})"


def _pair(
    held: anon.HeldCredential,
    holder: anon.AnonHolder,
    pub: anon.PublicIssuerData,
    request: dict[str, Any],
    preds: tuple[str, ...],
    revocation: bool,
) -> tuple[Callable[[], object], Callable[[], object]]:
    """anoncreds-rs's create and verify for one request, on objects loaded once."""
    schema = {pub.schema_id: Schema.load(json.dumps(pub.schema))}
    cred_def = {pub.cred_def_id: CredentialDefinition.load(json.dumps(pub.cred_def))}
    rev_def = {pub.rev_reg_id: RevocationRegistryDefinition.load(json.dumps(pub.rev_reg_def))} if revocation else None
    status = [RevocationStatusList.load(json.dumps(pub.status_list))] if revocation else None
    preq = PresentationRequest.load(json.dumps(request))
    ts, state = (pub.timestamp, held._state) if revocation else (None, None)

    def create() -> Any:
        pc = PresentCredentials()
        pc.add_attributes(held.credential, "prefecture", reveal=True, timestamp=ts, rev_state=state)
        for p in preds:
            pc.add_predicates(held.credential, p, timestamp=ts, rev_state=state)
        return Presentation.create(preq, pc, {}, holder.link_secret, schema, cred_def)

    made = create()

    def check() -> object:
        return made.verify(preq, schema, cred_def, rev_def, status)

    return create, check


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
