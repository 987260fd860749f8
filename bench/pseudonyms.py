"""Pseudonym conversions per second against the bound set by rbcl's own scalar multiplications, same run.

One conversion = T1's hop + T2's hop on one ciphertext.  Each hop is ``rrsk`` (pep.rrsk_batch):
``B' = (s·k⁻¹)·B + r·G`` and ``C' = s·C + r·Y'`` — 3 variable-base multiplications (on B, on C, on Y') and
1 fixed-base one (r·G).  So a conversion costs exactly 6 variable-base + 2 fixed-base multiplications; the
per-batch work (factor derivation, one inversion, ``Y' = k·Y``) is one more multiplication per hop per batch.

    bound = conversions' worth of bare multiplications per second = 1 / (6 / raw_variable + 2 / raw_fixed)

measured on the same core(s) in the same run (with k processes: the same multiplications, split the same way
over the same pool, timed from outside); the ratio ours/bound says how much the Python around the
multiplications costs (validation, additions, random scalars, slicing).  Run: ``python -m bench pseudonyms``
(``--batch N --rounds R``; ``--tiny`` for a smoke run).  Every ratio divides by a bound measured in the same run,
alternated with ours round after round; figures are medians of at least 3 rounds, printed with the machine's
load.  Also shown: the whole R→A path per person (municipality
re-randomises, T1, T2, agency decrypts: 8 variable-base + 3 fixed-base) and the transcryptor *service* (signed-grant
policy counting in its own database, access hook) on SQLite, or on PostgreSQL when SEKISHO_PG_URL is set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import rbcl

from bench._fair import MIN_ROUNDS, alternate, load
from sekisho.config import Home
from sekisho.pep.flows import (
    agency_decrypt,
    conversion_request,
    convert_batch,
    convert_registry_to_agency,
    new_polymorphic_pseudonym,
    prepare_batch,
)
from sekisho.pep.keys import Ceremony, TranscryptorSecrets, assemble_domain_key, ceremony
from sekisho.protocols.conversion import REGISTRY_DOMAIN, ConversionRequest
from sekisho.pseudonyms import transcrypt
from sekisho.pseudonyms.service import init_network, open_grant_issuer, open_transcryptor
from sekisho.pseudonyms.testing import RecordingAccessHook
from sekisho.storage import create_engine_for

VAR_PER_CONVERSION = 6
FIXED_PER_CONVERSION = 2

_worker: dict[str, object] = {}


def _raw(m: int, var: int = VAR_PER_CONVERSION, fixed: int = FIXED_PER_CONVERSION) -> tuple[float, float]:
    """The multiplications of m conversions and nothing else: var·m variable-base, then fixed·m fixed-base
    (6 and 2 for a conversion, 8 and 3 for the R→A path).  Returns the seconds spent on each kind."""
    s = rbcl.crypto_core_ristretto255_scalar_random()
    p = rbcl.crypto_core_ristretto255_random()
    mul, base = rbcl.crypto_scalarmult_ristretto255, rbcl.crypto_scalarmult_ristretto255_base
    t0 = time.perf_counter()
    for _ in range(var * m):
        mul(s, p)
    t1 = time.perf_counter()
    for _ in range(fixed * m):
        base(s)
    return t1 - t0, time.perf_counter() - t1


def _two_hops(t1: TranscryptorSecrets, t2: TranscryptorSecrets, request: ConversionRequest) -> int:
    first = transcrypt(t1, request)
    second = transcrypt(
        t2,
        ConversionRequest(
            request.request_id,
            request.requester,
            request.from_domain,
            request.to_domain,
            request.purpose,
            request.grant,
            first.ciphertexts,
            first.key,
        ),
    )
    return len(second.ciphertexts)


def _init_worker(t1: TranscryptorSecrets, t2: TranscryptorSecrets) -> None:
    _worker["t1"], _worker["t2"] = t1, t2


def _worker_convert(request: ConversionRequest) -> int:
    return _two_hops(_worker["t1"], _worker["t2"], request)  # type: ignore[arg-type]


def _worker_raw(m: int) -> int:
    _raw(m)
    return m


def _bound(m: int, var: int, fixed: int) -> Callable[[], float]:
    """The bound as a measure: m persons' worth of bare multiplications per second."""

    def measure() -> float:
        tv, tf = _raw(m, var, fixed)
        return m / (tv + tf)

    return measure


def _requests(c: Ceremony, pps: list[bytes], chunks: int) -> list[ConversionRequest]:
    size = -(-len(pps) // chunks)
    return [
        conversion_request(
            pps[i : i + size],
            network=c.network,
            from_domain=REGISTRY_DOMAIN,
            to_domain="pension",
            purpose="enrolment",
            grant="bench",
            requester="bench",
        )
        for i in range(0, len(pps), size)
    ]


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="bench/pseudonyms.py")
    ap.add_argument("--batch", type=int, default=4000, help="ciphertexts per measured batch (default 4000)")
    ap.add_argument("--rounds", type=int, default=3, help="alternated rounds, median reported (at least 3)")
    ap.add_argument("--workers", type=int, default=2, help="processes for the multi-core figures (default 2)")
    ap.add_argument("--tiny", action="store_true", help="a smoke run: one round of 64 ciphertexts")
    args = ap.parse_args(argv)
    if args.tiny:
        args.batch, args.rounds = 64, MIN_ROUNDS
    n, rounds, workers = args.batch, max(args.rounds, MIN_ROUNDS), args.workers

    c = ceremony()
    y = c.network.public_key
    t1, t2 = c.transcryptors["t1"], c.transcryptors["t2"]
    roots = [os.urandom(32) for _ in range(n)]
    pps = prepare_batch([new_polymorphic_pseudonym(r, y) for r in roots], y)
    agency = assemble_domain_key(c.network, "pension", [t1.key_share("pension"), t2.key_share("pension")])
    [one] = _requests(c, pps, 1)
    _two_hops(t1, t2, _requests(c, pps[:50], 1)[0])  # warm the factor caches

    print(f"batch {n} ciphertexts, medians of {rounds} alternated rounds, {os.cpu_count()} CPUs visible; {load()}")

    # rounds alternate baseline and ours, so that load from other processes on the machine hits both alike
    vars_, fixeds, bounds1, convs1 = [], [], [], []
    for _ in range(rounds):
        tv, tf = _raw(n)
        vars_.append(VAR_PER_CONVERSION * n / tv)
        fixeds.append(FIXED_PER_CONVERSION * n / tf)
        bounds1.append(n / (tv + tf))
        t = time.perf_counter()
        _two_hops(t1, t2, one)
        convs1.append(n / (time.perf_counter() - t))
    raw_var, raw_fixed, bound1, conv1 = (statistics.median(x) for x in (vars_, fixeds, bounds1, convs1))

    boundsk: list[float] = []
    convsk: list[float] = []
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(t1, t2)) as pool:
        list(pool.map(_worker_raw, [10] * workers))  # start the processes before timing
        chunks = _requests(c, pps, workers * 4)
        sizes = [len(r.ciphertexts) for r in chunks]
        for _ in range(rounds):
            t = time.perf_counter()
            done = sum(pool.map(_worker_raw, sizes))
            boundsk.append(done / (time.perf_counter() - t))
            t = time.perf_counter()
            done = sum(pool.map(_worker_convert, chunks))
            convsk.append(done / (time.perf_counter() - t))
    boundk, convk = statistics.median(boundsk), statistics.median(convsk)

    def end_to_end() -> float:
        t = time.perf_counter()
        request = conversion_request(
            prepare_batch(pps, y),
            network=c.network,
            from_domain=REGISTRY_DOMAIN,
            to_domain="pension",
            purpose="enrolment",
            grant="bench",
            requester="bench",
        )

        class _Pure:
            def __init__(self, s: TranscryptorSecrets) -> None:
                self.s = s

            def convert(self, r: ConversionRequest):  # type: ignore[no-untyped-def]
                return transcrypt(self.s, r)

        agency_decrypt(agency, convert_batch(request, [_Pure(t1), _Pure(t2)]))
        return n / (time.perf_counter() - t)

    # the R→A path's own bound (8 variable-base + 3 fixed-base per person), alternated with it in this run
    e2e, bound_e2e = alternate(rounds, end_to_end, _bound(n, 8, 3))

    service, bound_service, backend = _service(n, rounds)

    print(f"raw rbcl, 1 core: {raw_var:,.0f} variable-base and {raw_fixed:,.0f} fixed-base multiplications/s")
    print("conversion = T1 hop + T2 hop = 6 variable-base + 2 fixed-base multiplications per ciphertext")
    rows = [
        ("conversions/s, 1 core (pure hops)", conv1, bound1),
        (f"conversions/s, {workers} processes (pure hops)", convk, boundk),
        ("R->A end to end/s, 1 core (+re-randomise, +decrypt)", e2e, bound_e2e),
        (f"conversions/s, 1 core, services on {backend}", service, bound_service),
    ]
    print(f"{'':56} {'ours':>10} {'bound':>10} {'ratio':>6}")
    for label, ours, bound in rows:
        print(f"{label:56} {ours:10,.0f} {bound:10,.0f} {ours / bound:6.2f}")
    print(f"(a bound counting fixed-base as variable-base would be {raw_var / 8:,.0f}/s on 1 core; {load()})")


def _service(n: int, rounds: int) -> tuple[float, float, str]:
    """T1 and T2 as services (grant verified and counted in each one's database, access hook) on one core."""
    pg = os.environ.get("SEKISHO_PG_URL")
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(root=Path(tmp), db_url=pg, namespace=f"bench{os.getpid()}_" if pg else "")
        network = init_network(home, passphrase=b"bench", scrypt_n=2**14)
        access = RecordingAccessHook()
        t1 = open_transcryptor(home, "t1", passphrase=b"bench", access=access)
        t2 = open_transcryptor(home, "t2", passphrase=b"bench", access=access)
        issuer = open_grant_issuer(home, passphrase=b"bench")
        grant = issuer.issue(
            from_domain=REGISTRY_DOMAIN,
            to_domain="pension",
            purpose="enrolment",
            max_uses=10**9,
            not_after=datetime.now(UTC) + timedelta(days=1),
        )
        agency = assemble_domain_key(
            network, "pension", [t1.secrets.key_share("pension"), t2.secrets.key_share("pension")]
        )
        pps = [new_polymorphic_pseudonym(os.urandom(32), network.public_key) for _ in range(n)]

        def once() -> float:
            t = time.perf_counter()
            # convert_registry_to_agency also re-randomises and decrypts; time only the two service hops here
            request = conversion_request(
                pps,
                network=network,
                from_domain=REGISTRY_DOMAIN,
                to_domain="pension",
                purpose="enrolment",
                grant=grant,
                requester="municipality/131016",
            )
            t = time.perf_counter()
            convert_batch(request, [t1, t2])
            return n / (time.perf_counter() - t)

        # the conversion's bound (6 variable-base + 2 fixed-base), alternated with the services in this run
        rate, bound = alternate(rounds, once, _bound(n, VAR_PER_CONVERSION, FIXED_PER_CONVERSION))
        # correctness of the measured path, once
        out = convert_registry_to_agency(
            pps[:10],
            network=network,
            to_domain="pension",
            purpose="enrolment",
            grant=grant,
            requester="municipality/131016",
            hops=[t1, t2],
            agency_key=agency,
        )
        assert len(set(out)) == 10
        t1.engine.dispose()
        t2.engine.dispose()
        if pg:
            engine = create_engine_for(pg)
            with engine.begin() as conn:
                for party in ("t1", "t2"):
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{home.party_schema(party)}" CASCADE')
            engine.dispose()
    return rate, bound, "PostgreSQL" if pg else "SQLite"


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
