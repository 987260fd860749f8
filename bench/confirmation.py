"""Identity confirmations in one process (issue 11): agency → T1 → T2 → locator → municipality → log, every party
in this process and in its own database, against the cryptography's bound measured in the same run.

    python -m bench confirmation                      # 2,000 residents; 3 rounds of 200 singles and 10 batches of 100
    python -m bench confirmation --tiny               # a smoke run (tests/bench)
    scripts/with-postgres --durable python -m bench confirmation   # PostgreSQL (SEKISHO_PG_URL)

One home on the shipped policy (the watchdog approves the pension PIA; T1 and T2 decide every conversion on their
own copies and journal it; the national decision point decides the municipality's release), the public access log
(every conversion's leaf and every access record appended durably before anything leaves), one register imported
with its pseudonyms and indexed at the locator, every resident enrolled with the pension agency.  Then the agency
confirms identities with ``AgencyService.lookup`` through ``LocalNetwork``:

* **singles**: one person per request, one request after the other — requests/s and the p50/p99 latency;
* **batches**: 100 persons per request — confirmations/s.

**Bound**: the path's bare multiplications per person on one core (rbcl, nothing around them), timed in the same
run between our rounds: the agency's encryption (1 variable + 1 fixed-base), T1 and T2 (3 + 1 each), the
locator's decryption (1 variable) — 8 variable-base + 3 fixed-base, as in bench/enrolment.py.  The singles'
ratio says how far a lone request is from its cryptography (the durable commits dominate it); the batches' ratio
is the issue's goal (≥ 0.5).  Rounds alternate, the medians are reported with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from bench._fair import MIN_ROUNDS, alternate, load
from bench.enrolment import FIXED_PER_PERSON, VAR_PER_PERSON, _approve_pia, _raw

GIFU = "212016"
PASSPHRASE = b"bench"
AGENCY, PURPOSE = "pension", "pension.benefit"
BATCH = 100


def _drop_schemas(pg: str, namespace: str) -> None:
    from sekisho.storage import create_engine_for

    engine = create_engine_for(pg)
    with engine.begin() as conn:
        for schema in conn.execute(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": namespace + "%"}
        ).scalars():
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    engine.dispose()


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="bench/confirmation.py")
    ap.add_argument("--residents", type=int, default=2_000, help="residents imported and enrolled (default 2,000)")
    ap.add_argument("-n", type=int, default=200, help="single requests per round (default 200)")
    ap.add_argument("--batches", type=int, default=10, help="requests of 100 persons per round (default 10)")
    ap.add_argument("--rounds", type=int, default=MIN_ROUNDS, help="alternated rounds, medians reported")
    ap.add_argument("--tiny", action="store_true", help="a smoke run: 40 residents, 5 singles, 1 batch")
    args = ap.parse_args(argv)
    raw_count = 10_000
    if args.tiny:
        args.residents, args.n, args.batches, raw_count = 40, 5, 1, 300
    from sekisho.agency.service import AgencyService
    from sekisho.auditlog import keys
    from sekisho.auditlog.client import close_access_logs
    from sekisho.auditlog.service import init_parties
    from sekisho.config import Home
    from sekisho.node.local import LocalNetwork
    from sekisho.node.registers import create_register
    from sekisho.pseudonyms.service import init_network
    from sekisho.registry import release
    from sekisho.registry import store as st
    from sekisho.synth.residents import generate_file

    pg = os.environ.get("SEKISHO_PG_URL")
    backend = "PostgreSQL" if pg else "SQLite"
    print(f"{args.residents:,} residents, {backend}, {os.cpu_count()} CPUs visible", flush=True)
    print(f"before: {load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(root=Path(tmp) / "home", db_url=pg, namespace=f"benc{uuid.uuid4().hex[:6]}_" if pg else "")
        home.root.mkdir()
        try:
            init_network(home, passphrase=PASSPHRASE, scrypt_n=2**14)
            init_parties(home, PASSPHRASE, origin=keys.DEFAULT_ORIGIN, witness_name=keys.DEFAULT_WITNESS)
            _approve_pia(home)
            source = Path(tmp) / "gifu.csv"
            generate_file(source, municipality=GIFU, count=args.residents, seed=1, as_of=date(2026, 11, 1))
            register = create_register(home, GIFU)
            register.import_file(source)  # with the network present: every record gets its PP
            register.engine.dispose()
            net = LocalNetwork(home, passphrase=PASSPHRASE)
            try:
                AgencyService.create(
                    home,
                    AGENCY,
                    purposes=[PURPOSE],
                    shares=net.key_shares(AGENCY),
                    passphrase=PASSPHRASE,
                    scrypt_n=2**14,
                ).engine.dispose()
                register = net.register(GIFU)
                release.index_pending(register)
                with register.engine.connect() as conn:
                    handles = list(
                        conn.execute(sa.select(st.resident.c.handle).where(st.resident.c.status == "active")).scalars()
                    )
                net.releases(GIFU).enrol(handles, agency=AGENCY, purpose=PURPOSE)
                agency = net.agency_service(AGENCY)
                persons = [p.pseudonym for p in agency.persons()]
                size = min(BATCH, len(persons))  # a tiny run has fewer persons than a batch
                rng = random.Random(7)
                for p in rng.sample(persons, min(5, len(persons))):  # every party open, keys and policy loaded
                    agency.lookup([p], purpose=PURPOSE, network=net)
                latencies: list[float] = []

                def singles() -> float:
                    t0 = time.perf_counter()
                    for p in rng.choices(persons, k=args.n):
                        t = time.perf_counter()
                        [answer] = agency.lookup([p], purpose=PURPOSE, network=net)
                        latencies.append(time.perf_counter() - t)
                        assert answer.status == "found", answer.status
                    return args.n / (time.perf_counter() - t0)

                def batches() -> float:
                    t0 = time.perf_counter()
                    for _ in range(args.batches):
                        answers = agency.lookup(rng.choices(persons, k=size), purpose=PURPOSE, network=net)
                        assert all(a.status == "found" for a in answers)
                    return args.batches * size / (time.perf_counter() - t0)

                def bound() -> float:
                    rv, rf = _raw(raw_count)
                    return 1 / (VAR_PER_PERSON / rv + FIXED_PER_PERSON / rf)

                print(f"during: {load()}", flush=True)
                single_rate, batch_rate, bound_rate = alternate(args.rounds, singles, batches, bound)
            finally:
                net.close()
                close_access_logs()
        finally:
            if pg:
                _drop_schemas(pg, home.namespace)
    print(f"after: {load()}")
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(f"bound (8 variable + 3 fixed-base multiplications per person, 1 core): {bound_rate:,.0f} persons/s")
    print(f"singles, {backend}: {single_rate:,.1f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"confirmations/s, singles, {backend} = {single_rate / bound_rate:.3f} x bound")
    print(f"confirmations/s, batches of {size}, {backend}: {batch_rate:,.0f}/s")
    print(f"confirmations/s, batches of {size}, {backend} = {batch_rate / bound_rate:.2f} x bound")


if __name__ == "__main__":
    main(sys.argv[1:])
