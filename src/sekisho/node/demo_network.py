"""The demo's network: the parties of the demo's home started as separate OS processes (the supervisor of
`sekisho up`), and what the demo then shows through them over mutual TLS and HTTPS.

    with DemoNetwork(home, municipalities, agencies, passphrase) as network:   # every party answers /health
        show(network, out)                                                    # requests to the processes

Each check is a request to a party's process, made as the party (or the resident) that would make it: a
municipality asks every party's health over mutual TLS; a resident reads the public log's witnessed checkpoint and
its tiles, finds their own entries in it and verifies their access list against it; a relying party asks the PKI
for the status of the card (revoked by the death notice the scenario delivered); an agency that asks the locator
directly is refused with a problem document.  Nothing here goes through a party's database.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from sekisho.config import Home
from sekisho.errors import SekishoError
from sekisho.node import roles as r
from sekisho.node.supervisor import Supervisor, health_text

#: seconds every party gets to answer /health (a loaded 2-core machine starts a dozen interpreters slowly)
READY_TIMEOUT = 180.0


@dataclass
class NetworkShown:
    """What the demo saw through the processes (for the summary and the tests)."""

    parties: dict[str, str] = field(default_factory=dict)  # party -> URL
    healthy: int = 0
    checkpoint_size: int = 0
    own_entries: int = 0
    card_status: list[str] = field(default_factory=list)
    refused: dict[str, Any] = field(default_factory=dict)
    confirmation: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class DemoNetwork:
    """The demo home's parties as processes, stopped (every child waited for) on leaving the block."""

    def __init__(
        self,
        home: Home,
        municipalities: Sequence[str],
        agencies: Sequence[str],
        *,
        passphrase: bytes,
        labels: dict[str, str] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.home = home
        self.supervisor = Supervisor(home.root, r.network(municipalities, agencies), labels=labels or {})
        self.passphrase = passphrase
        self.should_stop = should_stop
        self.started_at = 0.0

    def __enter__(self) -> DemoNetwork:
        self.started_at = time.monotonic()
        sup = self.supervisor
        sup.check_not_running()
        # the children read the key files' passphrase from their environment, as under `sekisho up`
        with _env("SEKISHO_PASSPHRASE", self.passphrase.decode()):
            try:
                sup.start(should_stop=self.should_stop)
                sup.prepare(should_stop=self.should_stop)
                if not sup.wait_ready(timeout=READY_TIMEOUT, should_stop=self.should_stop):
                    raise KeyboardInterrupt  # Ctrl-C while the parties started: stopped, nothing shown
            except BaseException:
                sup.stop()
                raise
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.supervisor.stop()

    @property
    def urls(self) -> dict[str, str]:
        return {c.role.party: c.url for c in self.supervisor.children}

    def table(self) -> Table:
        table = Table("party", "", "pid", "listens on", "health", title="the parties, one OS process each")
        for c in self.supervisor.children:
            table.add_row(c.role.party, c.label, str(c.proc.pid if c.proc else "-"), c.url, health_text(c.health))
        return table

    def wait(self, *, poll: float = 0.2) -> None:
        """Serve until ``should_stop()`` (Ctrl-C or SIGTERM); a party that exits is reported on the way."""
        while not self.should_stop():
            for child in self.supervisor.exited():
                raise SekishoError(f"the party {child.role.party} exited (see {child.log})")
            time.sleep(poll)


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _resident_client(root: Path) -> httpx.Client:
    """What a resident's device or a relying party uses: HTTPS to the network's public paths, trusting the
    network's CA, with no party certificate."""
    from sekisho.node.certificates import ca_file

    context = ssl.create_default_context(cafile=str(ca_file(root)))
    return httpx.Client(verify=context, timeout=30.0, trust_env=False)


def show(
    network: DemoNetwork,
    out: Console,
    *,
    municipality: str,
    access_list: Path | None = None,
    card: Path | None = None,
    confirm: tuple[str, str] | None = None,
) -> NetworkShown:
    """The demo's checks, each a request to a party's process; printed as they are made."""
    from sekisho.node.httpnet import healthy

    shown = NetworkShown(parties=network.urls)
    root = network.home.root
    me = f"municipality/{municipality}"
    out.print(network.table())
    peers = [p for p in shown.parties if p != me]
    health = healthy(root, me, peers)
    shown.healthy = sum(1 for v in health.values() if v == "ok")
    out.print(
        f"  {me} asks every other party's /health over mutual TLS (its certificate from the organisation CA): "
        f"{shown.healthy} of {len(peers)} answer ok"
    )
    if confirm is not None:
        _show_confirmation(network, out, *confirm, shown)
    with _resident_client(root) as client:
        if access_list is not None:
            _show_log(network, out, client, access_list, shown)
        if card is not None:
            _show_card(network, out, client, card, shown)
    _show_refusal(network, out, shown)
    shown.seconds = time.monotonic() - network.started_at
    return shown


def _show_confirmation(network: DemoNetwork, out: Console, agency: str, purpose: str, shown: NetworkShown) -> None:
    """The agency's desk confirms the identity of a person it knows by its own pseudonym: one request through the
    processes, agency → T1 → T2 → locator → municipality (its access record to the log's process first) and back."""
    from sekisho.agency.service import AgencyService
    from sekisho.node.httpnet import HttpNetwork

    service = AgencyService.open(network.home, agency, passphrase=network.passphrase)
    try:
        person = next(p for p in service.persons(limit=50) if p.status == "active")
        with HttpNetwork(network.home.root, f"agency/{agency}") as net:
            started = time.perf_counter()
            [answer] = service.lookup([person.pseudonym], purpose=purpose, network=net)
            took = time.perf_counter() - started
    finally:
        service.engine.dispose()
    shown.confirmation = {"status": answer.status, "items": sorted(answer.items)}
    out.print(
        f"  agency/{agency} confirms a person's identity through the processes (agency → T1 → T2 → locator → "
        f"municipality, the access record in the log's process first): {answer.status}, items "
        f"{', '.join(sorted(answer.items))} ({took * 1e3:.0f} ms)"
    )


def _show_log(network: DemoNetwork, out: Console, client: httpx.Client, path: Path, shown: NetworkShown) -> None:
    """A resident reads the public log from the log's process: its witnessed checkpoint, every tile up to it
    (their own entries found by their commitment key), and their access list verified against it."""
    from sekisho.auditlog.client import HttpAccessLog
    from sekisho.auditlog.keys import LogConfig
    from sekisho.transparency.log import find_my_entries

    config = LogConfig.load(network.home)
    log = HttpAccessLog(network.urls["log"], log_vkey=config.vkey, witness_vkeys=config.witnesses, client=client)
    checkpoint = log.latest_witnessed_checkpoint()
    shown.checkpoint_size = checkpoint.size
    doc = json.loads(path.read_text(encoding="utf-8"))
    mine = find_my_entries(log, checkpoint, bytes.fromhex(str(doc["commitment_key"])))
    shown.own_entries = len(mine)
    _, listed = log.verify_document(doc)
    out.print(
        f"  the resident reads the log's process over HTTPS: its checkpoint of size {checkpoint.size:,} carries the "
        f"log's signature and the watchdog's cosignature; scanning every tile up to it (the root recomputed) finds "
        f"{len(mine)} entries committed to them — the {len(listed)} of their access list, each proved included"
    )


def _show_card(network: DemoNetwork, out: Console, client: httpx.Client, card: Path, shown: NetworkShown) -> None:
    """A relying party asks the PKI's process for the status of the card's certificates (RFC 6960 over HTTPS;
    the answer's signature checked against the issuing prefectural CA, which the PKI also serves)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from sekisho.pki.card import SoftwareCard
    from sekisho.pki.oids import Purpose
    from sekisho.pki.verify import CertificateRevoked, OcspChecker

    pki = network.urls["pki"]

    def send(der: bytes) -> bytes:
        response = client.post(f"{pki}/pki/ocsp", content=der, headers={"content-type": "application/ocsp-request"})
        response.raise_for_status()
        return response.content

    checker = OcspChecker(send)
    opened = SoftwareCard.open(card)
    for purpose in (Purpose.AUTHENTICATION, Purpose.SIGNATURE):
        try:
            cert = opened.certificate(purpose)
        except SekishoError:
            continue  # a card without a signature certificate
        [cn] = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
        prefecture = str(cn.value).rsplit(" ", 1)[1]
        issuer = x509.load_der_x509_certificate(client.get(f"{pki}/pki/ca/pref-{prefecture}.crt").content)
        try:
            checker.check(cert, issuer, at=datetime.now(UTC), depth=0)
            shown.card_status.append("good")
        except CertificateRevoked as exc:
            shown.card_status.append(f"revoked ({exc.reason.value})")
    out.print(
        f"  a relying party asks the PKI's process (OCSP over HTTPS) about the card: {', '.join(shown.card_status)}"
    )


def _show_refusal(network: DemoNetwork, out: Console, shown: NetworkShown) -> None:
    """An agency that asks the locator directly (skipping T1 and T2, which turn its pseudonym into the register's):
    refused by the locator's guard with a problem document, which names the rule and nothing of the request."""
    from sekisho.node.transport import Peers

    agency = next(p for p in shown.parties if p.startswith("agency/"))
    peers = Peers(network.home.root, agency)
    try:
        response = peers.client("locator", signed=True).post(
            "/confirm", content=b"", headers={"content-type": "application/octet-stream"}
        )
    finally:
        peers.close()
    shown.refused = {"status": response.status_code, **response.json()}
    out.print(
        f"  {agency} asks the locator directly, skipping T1 and T2: {response.status_code} "
        f"{shown.refused.get('type', '')} — {shown.refused.get('detail', '')}"
    )
