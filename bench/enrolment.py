"""Enrolling a municipality's residents into one agency's domain, end to end, against rbcl's own bound.

    python -m bench enrolment                     # 100,000 residents (make bench), extrapolated to 1,000,000
    python bench/enrolment.py --residents 20000
    python -m bench enrolment --tiny              # a smoke run (tests/bench): every step on a few residents

One home, every party in this process and in its own database (SQLite files, or PostgreSQL schemas when
``SEKISHO_PG_URL`` is set), on the shipped policy: the watchdog approves the pension service's PIA, T1 and T2 run
the policy's own hook and their conversion journal.  Measured:

1. **PPs at registration**: the bulk import of a synthetic file with the network present, which gives every
   record ``PP = Enc_Y(P)`` in bulk over a process pool; and ``new_polymorphic_pseudonyms_batch`` alone on one
   core and on the pool, beside its bound (1 variable-base + 1 fixed-base multiplication and a hash to the group).
2. **Enrolment** (``ReleaseService.enrol`` of every active resident, batches of 10,000): the policy decision and
   the per-resident facts, access records and enrolment rows committed first, re-randomise at the municipality,
   T1, T2 (each deciding and journaling), decrypt at the agency, the agency's receipts and person rows.  Its bound
   is the R→A path's bare multiplications on one core — 8 variable-base + 3 fixed-base per person (re-randomise
   1+1, each hop 3+1, decrypt 1) — measured in the same run, as in bench/pseudonyms.py.  All parties run one after
   another in one process, so one core is the honest bound.

A million residents (``--residents 1000000``) took 10.9 minutes of enrolment here (docs/benchmarks.md); the
default measures 100,000 and extrapolates linearly (every step is per batch or per row; nothing grows with the
table but index depth — the measured million ran at 1,533/s against 1,432/s for 100,000).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import date
from importlib import resources
from pathlib import Path

import rbcl
import sqlalchemy as sa

from bench._fair import MIN_ROUNDS, alternate, load
from sekisho.agency.service import AgencyService
from sekisho.config import Home
from sekisho.node.local import LocalNetwork
from sekisho.node.registers import create_register
from sekisho.pep.flows import new_polymorphic_pseudonyms_batch
from sekisho.pep.keys import load_network
from sekisho.pseudonyms.service import init_network
from sekisho.registry import store as st
from sekisho.storage import create_engine_for
from sekisho.synth.residents import generate_file

GIFU = "212016"
PASSPHRASE = b"bench"
AGENCY, PURPOSE = "pension", "pension.benefit"
#: R→A per person: re-randomise (1 var + 1 fixed), T1 and T2 (3 var + 1 fixed each), decrypt (1 var)
VAR_PER_PERSON, FIXED_PER_PERSON = 8, 3


def _raw(m: int) -> tuple[float, float]:
    """Bare multiplications per second on one core: (variable-base, fixed-base), over m of each."""
    s = rbcl.crypto_core_ristretto255_scalar_random()
    p = rbcl.crypto_core_ristretto255_random()
    mul, base = rbcl.crypto_scalarmult_ristretto255, rbcl.crypto_scalarmult_ristretto255_base
    t0 = time.perf_counter()
    for _ in range(m):
        mul(s, p)
    t1 = time.perf_counter()
    for _ in range(m):
        base(s)
    t2 = time.perf_counter()
    return m / (t1 - t0), m / (t2 - t1)


def _approve_pia(home: Home) -> None:
    from sekisho.policy.pia import load_pia
    from sekisho.policy.service import Watchdog

    wd = Watchdog.open(home, passphrase=PASSPHRASE, scrypt_n=2**14)
    pia = load_pia(Path(str(resources.files("sekisho.policy.data").joinpath("pias/pension.yaml"))))
    wd.submit_pia(pia, by="pension-officer")
    wd.approve_pia(pia.id, by="bench-officer")
    wd.revocation_list()
    wd.engine.dispose()


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="bench/enrolment.py")
    ap.add_argument("--residents", type=int, default=100_000, help="residents to enrol (default 100,000)")
    ap.add_argument("--chunk", type=int, default=10_000, help="residents per conversion batch (default 10,000)")
    ap.add_argument("--tiny", action="store_true", help="a smoke run: 40 residents in batches of 16")
    args = ap.parse_args(argv)
    raw_count = 20_000  # multiplications of each kind for the bound
    if args.tiny:
        args.residents, args.chunk, raw_count = 40, 16, 500
    n = args.residents
    pg = os.environ.get("SEKISHO_PG_URL")
    backend = "PostgreSQL" if pg else "SQLite"
    print(f"{n:,} residents, batches of {args.chunk:,}, {backend}, {os.cpu_count()} CPUs visible", flush=True)
    print(f"before: {load()}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        home = Home(root=Path(tmp) / "home", db_url=pg, namespace=f"benr{uuid.uuid4().hex[:6]}_" if pg else "")
        home.root.mkdir()
        source = Path(tmp) / "gifu.csv"
        generate_file(source, municipality=GIFU, count=n, seed=1, as_of=date(2026, 11, 1))
        init_network(home, passphrase=PASSPHRASE, scrypt_n=2**14)
        _approve_pia(home)
        y = load_network(home.root).public_key

        # 1. PPs at registration
        roots = [os.urandom(32) for _ in range(min(n, 50_000))]
        raws: list[tuple[float, float]] = []

        def pp_bound_once() -> float:
            raws.append(_raw(raw_count))
            return 1 / (1 / raws[-1][0] + 1 / raws[-1][1])

        def pps(workers: int | None) -> float:
            t = time.perf_counter()
            new_polymorphic_pseudonyms_batch(roots, y, workers=workers)
            return len(roots) / (time.perf_counter() - t)

        pp_bound, pp_one, pp_pool = alternate(MIN_ROUNDS, pp_bound_once, lambda: pps(1), lambda: pps(None))
        raw_var = sorted(r[0] for r in raws)[len(raws) // 2]
        raw_fixed = sorted(r[1] for r in raws)[len(raws) // 2]

        register = create_register(home, GIFU)
        t = time.perf_counter()
        imported = register.import_file(source)
        import_s = time.perf_counter() - t
        register.engine.dispose()

        # 2. enrolment, end to end
        net = LocalNetwork(home, passphrase=PASSPHRASE)
        try:
            AgencyService.create(
                home, AGENCY, purposes=[PURPOSE], shares=net.key_shares(AGENCY), passphrase=PASSPHRASE, scrypt_n=2**14
            ).engine.dispose()
            releases = net.releases(GIFU)
            with register.engine.connect() as conn:
                handles = list(conn.execute(sa.select(st.resident.c.handle).order_by(st.resident.c.id)).scalars())
            register.engine.dispose()
            # the residents in MIN_ROUNDS slices, each slice's enrolment alternated with the bound's multiplications
            size = -(-len(handles) // MIN_ROUNDS)
            slices = iter([handles[i : i + size] for i in range(0, len(handles), size)])
            enrolled = 0

            def enrol_slice() -> float:
                nonlocal enrolled
                part = next(slices)
                t = time.perf_counter()
                report = releases.enrol(part, agency=AGENCY, purpose=PURPOSE, chunk=args.chunk)
                enrolled += report.enrolled
                return len(part) / (time.perf_counter() - t)

            def bound_once() -> float:
                rv, rf = _raw(raw_count)
                return 1 / (VAR_PER_PERSON / rv + FIXED_PER_PERSON / rf)

            rate, bound = alternate(MIN_ROUNDS, enrol_slice, bound_once)
            enrol_s = n / rate
            held = net.agency_service(AGENCY).count()
        finally:
            net.close()
        assert enrolled == held == n, (enrolled, held)

        if pg:
            engine = create_engine_for(pg)
            with engine.begin() as conn:
                for schema in conn.execute(
                    sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": home.namespace + "%"}
                ).scalars():
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            engine.dispose()

    print(f"after: {load()}")
    print(f"raw rbcl, 1 core: {raw_var:,.0f} variable-base and {raw_fixed:,.0f} fixed-base multiplications/s")
    print(f"{'':62} {'ours':>10} {'bound':>10} {'ratio':>6}")
    rows = [
        ("PPs/s, 1 core (new_polymorphic_pseudonyms_batch)", pp_one, pp_bound),
        (f"PPs/s, process pool of {os.cpu_count()}", pp_pool, pp_bound * (os.cpu_count() or 1)),
        (f"enrolments/s end to end, 1 process, {backend}", rate, bound),
    ]
    for label, ours, b in rows:
        print(f"{label:62} {ours:10,.0f} {b:10,.0f} {ours / b:6.2f}")
    print(f"bulk import with PPs: {imported.rows:,} rows in {import_s:.1f} s ({imported.rows / import_s:,.0f} rows/s)")
    million = "measured" if n == 1_000_000 else "extrapolated"
    print(
        f"enrolment of {n:,} in {MIN_ROUNDS} slices alternated with the bound (median rate): {enrol_s:.1f} s; "
        f"1,000,000 {million}: {1_000_000 / rate / 60:.1f} min "
        f"(bound {1_000_000 / bound / 60:.1f} min)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
