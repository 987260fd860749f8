"""The network over authenticated HTTP (issue 10, item 7): identity confirmations end to end through the real
processes of `sekisho up`, beside a bare ASGI chain of the same hops.

    python -m bench network                     # 30,000 residents, 3 municipalities; 3 x (200 singles, 20 batches)
    python -m bench network --residents 100000  # the issue's size (the set-up takes several minutes here)
    python -m bench network --tiny              # a smoke run (tests/bench): 60 residents, 20 requests

**Ours**: an agency's desk (this process: the pension agency's service and its terminal) confirms the identity of
persons it knows by its own pseudonym.  Each confirmation is one HTTP request that travels agency → T1 → T2 →
locator → municipality (the municipality writes the access record to the log before it answers) and back, each
hop a separate process serving over mutual TLS behind its guard (the requests that cause an access signed with
RFC 9421 by the terminal, the peers' certificates checked by OCSP at the PKI), on SQLite files (PostgreSQL when
``SEKISHO_PG_URL`` is set).  Singles: one person per request, one request after the other.  Batches: 100 persons
per request.  The home is built first in this process (the registers imported with their pseudonyms, indexed at
the locator, a sample enrolled with the agency), then every party starts as its own process.

**Baseline**: a bare ASGI chain of as many hops (agency → T1 → T2 → locator → municipality → log), one process per
hop, each served by uvicorn with the parties' own TLS settings (``sekisho.wire.tls``: TLS 1.3, mutual TLS pinned to
an organisation CA) and each forwarding the request body to the next over mutual TLS and doing nothing else; the
body is the size of the conversion frame (one ciphertext, or 100).

The two run alternately, round after round (``bench._fair``), and the medians are reported with the machine's
load: requests/s and confirmations/s, p50 and p99 of the latencies, and ours ÷ the bare chain.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from bench._fair import MIN_ROUNDS, load
from sekisho.node.registers import create_register

#: agency → T1 → T2 → locator → municipality → log: five hops between six processes
HOPS = 5
PASSPHRASE = "bench-network"
MUNICIPALITIES = ("212016", "131016", "011002")  # 岐阜市, 千代田区, 札幌市
AGENCY, PURPOSE = "pension", "pension.benefit"
BATCH = 100
#: a conversion frame's ciphertext (docs/transport.md): the bare chain's body is as large as ours
CIPHERTEXT = 64


# --- the bare chain -----------------------------------------------------------------------------------------------


def _issue(directory: Path) -> None:
    """An organisation CA and one party certificate per hop (the PKI's own profiles), written to ``directory``."""
    from cryptography.hazmat.primitives import serialization

    from sekisho.node.certificates import write_key_and_cert
    from sekisho.pki import profiles

    now = datetime.now(UTC)
    org_key = profiles.new_key()
    org = profiles.root_certificate(ca_id=profiles.ORGANISATION, key=org_key, now=now)
    (directory / "ca.crt").write_bytes(org.public_bytes(serialization.Encoding.PEM))
    endpoints = profiles.Endpoints("https://pki.sekisho.internal")
    for i in range(HOPS + 1):
        key = profiles.new_key()
        cert = profiles.party_certificate(
            party="t1", key=key.public_key(), issuer=org, issuer_key=org_key, endpoints=endpoints, now=now, days=2
        )
        write_key_and_cert(directory / f"hop{i}", key, cert)


def serve_hop(directory: Path, index: int, fd: int, next_url: str | None) -> None:
    """One hop of the bare chain: forward the body to ``next_url`` over mTLS (or answer, at the end)."""
    import httpx
    import uvicorn
    from cryptography import x509

    from sekisho.node.server import KEEP_ALIVE
    from sekisho.wire import tls

    trust = x509.load_pem_x509_certificates((directory / "ca.crt").read_bytes())
    stem = directory / f"hop{index}"
    server_ctx = tls.server_context(certfile=stem.with_suffix(".crt"), keyfile=stem.with_suffix(".key"), trust=trust)
    client_ctx = tls.client_context(certfile=stem.with_suffix(".crt"), keyfile=stem.with_suffix(".key"), trust=trust)
    state: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if next_url is not None:
                        state["client"] = httpx.AsyncClient(
                            base_url=next_url, verify=client_ctx, trust_env=False, timeout=30.0
                        )
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if "client" in state:
                        await state["client"].aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if "client" in state:
            body = (await state["client"].post("/hop", content=body)).content
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    sock = socket.socket(fileno=fd)
    host, port = sock.getsockname()[:2]
    config = tls.uvicorn_config(
        app,
        host=host,
        port=port,
        context=server_ctx,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE,  # the parties' own setting (sekisho.node.server)
    )
    uvicorn.Server(config).run(sockets=[sock])


class BareChain:
    """The chain's processes, and a client as its first hop's caller."""

    def __init__(self, directory: Path) -> None:
        import httpx
        from cryptography import x509

        from sekisho.wire import tls

        directory.mkdir(parents=True, exist_ok=True)
        _issue(directory)
        sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(HOPS + 1)]
        ports = [s.getsockname()[1] for s in sockets]
        self.procs: list[subprocess.Popen[bytes]] = []
        for i, sock in enumerate(sockets):
            next_url = f"https://127.0.0.1:{ports[i + 1]}" if i < HOPS else ""
            code = (
                "import sys; from pathlib import Path; from bench.network import serve_hop; "
                "serve_hop(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] or None)"
            )
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", code, str(directory), str(i), str(sock.fileno()), next_url],
                    pass_fds=(sock.fileno(),),
                )
            )
            sock.close()
        trust = x509.load_pem_x509_certificates((directory / "ca.crt").read_bytes())
        ctx = tls.client_context(certfile=directory / "hop0.crt", keyfile=directory / "hop0.key", trust=trust)
        self.client = httpx.Client(base_url=f"https://127.0.0.1:{ports[0]}", verify=ctx, trust_env=False)
        deadline = time.monotonic() + 120
        while True:
            try:
                self.client.post("/hop", content=b"x")
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def request(self, persons: int) -> Callable[[], object]:
        body = os.urandom(CIPHERTEXT * persons + 32)
        return lambda: self.client.post("/hop", content=body)

    def close(self) -> None:
        self.client.close()
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            p.wait(timeout=30)


# --- Sekisho: the home, built in this process ---------------------------------------------------------------------


@dataclass
class Built:
    home: Any  # sekisho.config.Home
    residents: int
    enrolled: list[str]  # the agency's pseudonyms (text) of the enrolled sample
    seconds: float


def _approve_pia(home: Any) -> None:
    from sekisho.policy.pia import load_pia
    from sekisho.policy.service import Watchdog

    wd = Watchdog.open(home, passphrase=PASSPHRASE.encode(), scrypt_n=2**14)
    pia = load_pia(Path(str(resources.files("sekisho.policy.data").joinpath("pias/pension.yaml"))))
    wd.submit_pia(pia, by="pension-officer")
    wd.approve_pia(pia.id, by="bench-officer")
    wd.revocation_list()
    wd.engine.dispose()


def build(root: Path, *, residents: int, sample: int, pg: str | None) -> Built:
    """Registers of ``residents`` in three municipalities (imported with their PPs, indexed at the locator), the
    log, the shipped pension PIA approved, the agency with ``sample`` persons of each municipality enrolled."""
    import sqlalchemy as sa

    from sekisho.agency.service import AgencyService
    from sekisho.auditlog import keys
    from sekisho.auditlog.client import close_access_logs
    from sekisho.auditlog.service import init_parties
    from sekisho.config import Home
    from sekisho.node.local import LocalNetwork
    from sekisho.pseudonyms.service import init_network
    from sekisho.registry import release
    from sekisho.registry import store as st
    from sekisho.synth.residents import generate_file

    t0 = time.perf_counter()
    home = Home(root=root, db_url=pg, namespace=f"benn{uuid.uuid4().hex[:6]}_" if pg else "")
    secret = PASSPHRASE.encode()
    init_network(home, passphrase=secret, scrypt_n=2**14)
    init_parties(home, secret, origin=keys.DEFAULT_ORIGIN, witness_name=keys.DEFAULT_WITNESS)
    _approve_pia(home)
    per = max(1, residents // len(MUNICIPALITIES))
    for seed, code in enumerate(MUNICIPALITIES, start=1):
        source = root / f"{code}.csv"
        generate_file(source, municipality=code, count=per, seed=seed, as_of=date(2026, 11, 1))
        register = create_register(home, code)
        register.import_file(source)  # with the network present: every record gets its PP in bulk
        register.engine.dispose()
        source.unlink()
    enrolled: list[str] = []
    net = LocalNetwork(home, passphrase=secret)
    try:
        AgencyService.create(
            home, AGENCY, purposes=[PURPOSE], shares=net.key_shares(AGENCY), passphrase=secret, scrypt_n=2**14
        ).engine.dispose()
        for code in MUNICIPALITIES:
            register = net.register(code)
            release.index_pending(register)
            with register.engine.connect() as conn:
                handles = list(
                    conn.execute(
                        sa.select(st.resident.c.handle)
                        .where(st.resident.c.status == "active")
                        .order_by(st.resident.c.id)
                        .limit(sample)
                    ).scalars()
                )
            net.releases(code).enrol(handles, agency=AGENCY, purpose=PURPOSE)
        enrolled = [p.pseudonym for p in net.agency_service(AGENCY).persons()]
    finally:
        net.close()
        close_access_logs()  # the log's single writer is the log's process from now on
    return Built(home, per * len(MUNICIPALITIES), enrolled, time.perf_counter() - t0)


def up(built: Built) -> subprocess.Popen[str]:
    """`sekisho up` on the built home: every party its own process; returns once every party answers."""
    env = {**os.environ, "SEKISHO_PASSPHRASE": PASSPHRASE, "SEKISHO_HOME": str(built.home.root)}
    env.pop("SEKISHO_DB", None)
    if built.home.db_url:
        env["SEKISHO_DB"] = built.home.db_url
        env["SEKISHO_DB_NAMESPACE"] = built.home.namespace
    env["SEKISHO_RATE_LIMIT"] = "100000:100000"  # the bench measures the work, not the limit
    proc = subprocess.Popen(
        [
            *(sys.executable, "-c", "from sekisho.cli import main; main()", "up"),
            *("--municipalities", ",".join(MUNICIPALITIES), "--agencies", AGENCY, "--home", str(built.home.root)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ready:"):
            return proc
    raise RuntimeError("sekisho up did not start")


class Desk:
    """The pension agency's desk: its service (this process, its own database) and the network over HTTP as the
    agency sees it (its certificate, its terminal's signatures)."""

    def __init__(self, built: Built) -> None:
        from sekisho.agency.service import AgencyService
        from sekisho.node.httpnet import HttpNetwork

        self.service = AgencyService.open(built.home, AGENCY, passphrase=PASSPHRASE.encode())
        self.http = HttpNetwork(built.home.root, f"agency/{AGENCY}")
        self.pseudonyms = built.enrolled
        self.random = random.Random(7)

    def request(self, persons: int) -> Callable[[], object]:
        def confirm() -> object:
            asked = self.random.sample(self.pseudonyms, persons)
            answers = self.service.lookup(asked, purpose=PURPOSE, network=self.http)
            assert all(a.status == "found" for a in answers), {a.status for a in answers}
            return answers

        return confirm

    def close(self) -> None:
        self.http.close()
        self.service.engine.dispose()


# --- measuring and reporting --------------------------------------------------------------------------------


def _latencies(call: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


@dataclass
class Figure:
    rps: float
    p50: float
    p99: float


def _figure(lat: Sequence[float]) -> Figure:
    q = statistics.quantiles(lat, n=100, method="inclusive")
    return Figure(len(lat) / sum(lat), q[49], q[98])


def _alternate(rounds: int, n: int, *calls: Callable[[], object]) -> list[Figure]:
    """Each call's requests in ``rounds`` rounds of ``n``, the calls in turn within a round; per call, the median
    round's throughput and the p50/p99 of all its latencies."""
    rates: list[list[float]] = [[] for _ in calls]
    lats: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for rate, lat, call in zip(rates, lats, calls, strict=True):
            got = _latencies(call, n)
            rate.append(len(got) / sum(got))
            lat.extend(got)
    out = []
    for rate, lat in zip(rates, lats, strict=True):
        f = _figure(lat)
        out.append(Figure(statistics.median(rate), f.p50, f.p99))
    return out


def _line(label: str, f: Figure, persons: int) -> str:
    return (
        f"{label:<52} {f.rps:>8,.1f} req/s {f.rps * persons:>8,.0f} conf/s  "
        f"p50 {f.p50 * 1e3:6.1f} ms  p99 {f.p99 * 1e3:6.1f} ms"
    )


#: frames py-spy reports for a thread that waits (uvloop's C loop under Runner.run, a pool's idle workers): not
#: CPU time
IDLE = frozenset(
    {"Runner.run", "Condition.wait", "WorkerThread.run", "Event.wait", "sleep", "select", "poll", "_worker",
     "Server.serve", "run_forever", "wait", "_wait_for_tstate_lock", "Thread.join", "_watch"}
)  # fmt: skip


def _processes(built: Built) -> dict[str, int]:
    """The party processes of the running network (from its run file), and this process as the agency's desk."""
    import json

    data = json.loads((built.home.root / "run" / "network.json").read_text(encoding="utf-8"))
    out = {"desk (agency/pension, this process)": os.getpid()}
    out.update({p["party"]: int(p["pid"]) for p in data["parties"]})
    return out


def profile(built: Built, call: Callable[[], object], n: int, directory: Path) -> list[str]:
    """Where the time goes: ``py-spy record`` on every process while ``n`` requests run; per process, its share
    of the CPU samples (idle threads left out) and the functions that take most of it (own time)."""
    import collections
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    directory.mkdir(parents=True, exist_ok=True)
    spies = {}
    for name, pid in _processes(built).items():
        out = directory / (name.split(" ")[0].replace("/", "-") + ".txt")
        spies[name] = (
            out,
            subprocess.Popen(
                [spy, "record", "-f", "raw", "-r", "200", "--nonblocking", "-p", str(pid), "-o", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
        )
    time.sleep(1.0)  # py-spy attaches
    _latencies(call, n)
    for _out, proc in spies.values():
        proc.send_signal(signal.SIGINT)
    for _out, proc in spies.values():
        proc.wait(timeout=60)
    samples: dict[str, int] = {}
    own: dict[str, collections.Counter[str]] = {}
    for name, (out, _proc) in spies.items():
        counter: collections.Counter[str] = collections.Counter()
        total = 0
        for line in out.read_text(encoding="utf-8").splitlines() if out.exists() else []:
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            leaf = stack.rsplit(";", 1)[-1]
            function = leaf.split(" (", 1)[0]
            if function in IDLE:
                continue
            total += int(count)
            counter[function + " (" + leaf.split(" (", 1)[-1].rsplit("/", 1)[-1]] += int(count)
        samples[name] = total
        own[name] = counter
    everything = sum(samples.values()) or 1
    lines = []
    for name, total in sorted(samples.items(), key=lambda kv: -kv[1]):
        if total * 100 < everything:
            continue
        top = ", ".join(f"{f} {c * 100 / total:.0f}%" for f, c in own[name].most_common(3))
        lines.append(f"  {name:<36} {total * 100 / everything:5.1f}% of CPU samples; own time: {top}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench network")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--residents", type=int, default=30_000, help="residents in the 3 municipalities")
    parser.add_argument("-n", type=int, default=None, help="requests per round and figure (default 200)")
    parser.add_argument("--batch-n", type=int, default=None, help="batched requests per round (default 20)")
    parser.add_argument(
        "--profile", type=Path, default=None, help="also sample every process with py-spy (raw stacks in DIR)"
    )
    args = parser.parse_args(argv)
    residents = 60 if args.tiny else args.residents
    n = args.n or (20 if args.tiny else 200)
    batch_n = args.batch_n or (3 if args.tiny else 20)
    batch = 10 if args.tiny else BATCH
    rounds = MIN_ROUNDS
    pg = os.environ.get("SEKISHO_PG_URL") or None
    db = "PostgreSQL" if pg else "SQLite"
    print(f"before: {load()}", flush=True)

    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "home"
        root.mkdir()
        built = build(root, residents=residents, sample=max(batch, min(2_000, residents // 3)), pg=pg)
        print(
            f"home: {built.residents:,} residents in {len(MUNICIPALITIES)} municipalities ({db}), "
            f"{len(built.enrolled):,} enrolled with {AGENCY}; built in {built.seconds:.0f} s",
            flush=True,
        )
        chain = BareChain(Path(d) / "chain")
        proc = up(built)
        desk = Desk(built)
        try:
            desk.request(1)()  # connections, caches and the parties' lazily opened keys warm
            desk.request(batch)()
            chain.request(1)()
            bare1, ours1 = _alternate(rounds, n, chain.request(1), desk.request(1))
            bareb, oursb = _alternate(rounds, batch_n, chain.request(batch), desk.request(batch))
            _report(db, batch, bare1, ours1, bareb, oursb)
            if args.profile:
                # fewer requests than a figure: py-spy sampling eleven processes loads the machine itself
                print(f"where the time goes, {min(n, 50)} single confirmations (py-spy, every process):")
                print("\n".join(profile(built, desk.request(1), min(n, 50), args.profile)), flush=True)
        finally:
            desk.close()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
            chain.close()
            _drop_schemas(built.home)
    print(f"after: {load()}", flush=True)


def _report(db: str, batch: int, bare1: Figure, ours1: Figure, bareb: Figure, oursb: Figure) -> None:
    print(_line(f"bare ASGI chain, {HOPS} hops, singles", bare1, 1))
    print(_line(f"Sekisho, {HOPS} hops, single confirmations, {db}", ours1, 1))
    print(_line(f"bare ASGI chain, {HOPS} hops, {batch} per request", bareb, batch))
    print(_line(f"Sekisho, {HOPS} hops, batches of {batch}, {db}", oursb, batch))
    print(f"confirmations/s, singles, {db} = {ours1.rps / bare1.rps:.2f} x bare chain requests/s")
    print(f"confirmations/s, batches of {batch}, {db} = {oursb.rps / bareb.rps:.2f} x bare chain requests/s")
    print(f"during: {load()}", flush=True)


def _drop_schemas(home: Any) -> None:
    if not home.db_url:
        return
    import sqlalchemy as sa

    from sekisho.storage import create_engine_for

    engine = create_engine_for(home.db_url)
    with engine.begin() as conn:
        for schema in conn.execute(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": home.namespace + "%"}
        ).scalars():
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    engine.dispose()


if __name__ == "__main__":
    main()
