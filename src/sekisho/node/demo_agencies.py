"""The agencies' part of ``sekisho demo``: three agencies enrol one municipality's residents, and the summary
shows that each knows the same person under a pseudonym of its own and that their tables share no identifier.
The PKI is one more agency: one resident gets a card at the counter (an enrolment with the PKI, which knows them
by a fourth pseudonym), and the death notice that reaches the agencies revokes the card's certificates.

    run_agencies(home, "212016", console)

runs on a home whose register the demo has loaded; it sets up whatever is missing (the key ceremony, the
watchdog's approval of the shipped PIAs of the three agencies and the PKI, the register's pseudonyms and index,
the PKI's CAs and pseudonym domain) through the same services the CLI uses.  Key files are sealed with
``passphrase`` (``SEKISHO_PASSPHRASE`` if set).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from sekisho.agency.service import AgencyService
from sekisho.config import Home
from sekisho.jp.clock import japan_today
from sekisho.keyfile import passphrase_from_env
from sekisho.node.local import LocalNetwork
from sekisho.pep.encoding import decode_pseudonym
from sekisho.pep.keys import network_path
from sekisho.registry import release
from sekisho.registry import store as st
from sekisho.registry.model import Status

#: (agency, purpose) as the shipped legal-basis table and PIAs name them
AGENCIES: tuple[tuple[str, str, str], ...] = (
    ("pension", "pension.benefit", "日本年金機構"),
    ("tax", "tax.assessment", "税務署"),
    ("kyokai-kenpo", "health.kyokai", "協会けんぽ"),
)
#: the PKI as an agency: its pseudonym domain and purpose (its PIA is approved with the others')
PKI = ("pki", "pki.certificate", "公的個人認証")
#: the demo's own throw-away key files
DEMO_PASSPHRASE = b"sekisho-demo"
DEMO_PINS = ("demo-auth-1234", "demo-sign-5678")
OFFICER = "demo-watchdog-officer"


@dataclass
class AgencyDemoReport:
    enrolled: dict[str, int] = field(default_factory=dict)
    #: per sample person, the three agencies' pseudonyms (text)
    samples: list[dict[str, str]] = field(default_factory=list)
    exports: dict[str, Path] = field(default_factory=dict)
    #: identifier values found in more than one exported table (the demo checks it is 0)
    shared_values: int = 0
    lookup_items: list[str] = field(default_factory=list)
    notices: dict[str, list[str]] = field(default_factory=dict)
    #: the card holder's pseudonym at the PKI, and the OCSP status of the card's two certificates
    pki_pseudonym: str = ""
    card_before: list[str] = field(default_factory=list)
    card_after: list[str] = field(default_factory=list)


def run_agencies(
    home: Home,
    municipality: str,
    console: Console,
    *,
    passphrase: bytes | None = None,
    samples: int = 3,
) -> AgencyDemoReport:
    passphrase = passphrase or passphrase_from_env() or DEMO_PASSPHRASE
    out = console
    report = AgencyDemoReport()
    if not network_path(home.root).exists():
        from sekisho.pseudonyms.service import init_network

        init_network(home, passphrase=passphrase)
        out.print("  key ceremony: T1 (ministry) and T2 (watchdog) hold one share each of every factor; y is gone")
    _approve_pias(home, passphrase)
    net = LocalNetwork(home, passphrase=passphrase)
    try:
        register = net.register(municipality)
        made = release.join_network(register)
        indexed = release.index_pending(register).indexed
        out.print(
            f"  the register joins the network: {made:,} polymorphic pseudonyms PP = Enc_Y(P) made in bulk, "
            f"{indexed:,} residents indexed at the locator under s_R·P (converted R→R through T1 and T2)"
        )
        for name, purpose, _label in AGENCIES:
            if not (home.root / "agency" / name).exists() or _missing(home, name, passphrase):
                AgencyService.create(
                    home, name, purposes=[purpose], shares=net.key_shares(name), passphrase=passphrase
                ).engine.dispose()
        releases = net.releases(municipality)
        handles = _sample_handles(register, samples)
        for handle in handles:
            row: dict[str, str] = {}
            for name, purpose, _label in AGENCIES:
                before = {p.pseudonym for p in net.agency_service(name).persons()}
                releases.enrol([handle], agency=name, purpose=purpose)
                new = {p.pseudonym for p in net.agency_service(name).persons()} - before
                row[name] = next(iter(new), "")
            report.samples.append(row)
        for name, purpose, _label in AGENCIES:
            enrolment = releases.enrol(None, agency=name, purpose=purpose)
            report.enrolled[name] = net.agency_service(name).count()
            out.print(
                f"  {name}: {enrolment.enrolled:,} residents enrolled for {purpose}; it holds only "
                f"{', '.join(enrolment.items)} (its legal basis ∩ its approved PIA)"
            )

        table = Table(
            "person", *(f"{label} ({name})" for name, _p, label in AGENCIES), title="one person, three pseudonyms"
        )
        for i, row in enumerate(report.samples, start=1):
            table.add_row(f"#{i}", *(_short(row[name]) for name, _p, _l in AGENCIES))
        out.print(table)
        distinct = all(len(set(row.values())) == len(AGENCIES) for row in report.samples)
        out.print(f"  every person's pseudonyms differ between agencies: {'yes' if distinct else 'NO'}")

        for name, _purpose, _label in AGENCIES:
            path = home.root / f"agency-{name}.csv"
            net.agency_service(name).export_csv(path)
            report.exports[name] = path
        report.shared_values = _shared_values(report.exports)
        out.print(
            f"  exported tables: {', '.join(str(p.name) for p in report.exports.values())}; identifier values "
            f"shared between any two of them: {report.shared_values}"
        )

        tax = net.agency_service("tax")
        [answer] = tax.lookup([report.samples[0]["tax"]], purpose="tax.assessment", network=net)
        report.lookup_items = sorted(answer.items)
        out.print(
            f"  identity confirmation by the tax office (tax → T1 → T2 → locator → {municipality}): "
            f"{answer.status}, items {', '.join(report.lookup_items)} — no sex, no household: not in its basis"
        )

        died = _sample_handles(register, samples)[-1]
        card = _issue_card(home, net, municipality, died, passphrase)
        report.pki_pseudonym = card.owner
        report.card_before = _card_status(net, card)
        others = {decode_pseudonym(p)[1] for p in report.samples[-1].values()}
        shared = decode_pseudonym(card.owner)[1] in others  # the value, not the text (which names its domain)
        out.print(
            f"  a card at the counter: {municipality} enrols the resident with the PKI (R→pki through T1 and T2); the "
            f"PKI knows them as {_short(card.owner)} — a fourth pseudonym "
            f"({'SHARED WITH' if shared else 'unrelated to'} the three agencies'); "
            f"OCSP: {', '.join(report.card_before)}"
        )
        register.death(died, died_on=(japan_today() - timedelta(days=1)).isoformat())
        releases.deliver_notices()
        for name, _purpose, _label in AGENCIES:
            report.notices[name] = [n["kind"] for n in net.agency_service(name).notices()]
        report.card_after = _card_status(net, card)
        out.print(
            "  a death, delivered as a change notice to each enrolled agency entitled to it: "
            + ", ".join(f"{n} {'✓' if 'died' in k else '—'}" for n, k in report.notices.items())
            + f"; the PKI revokes the card: OCSP {', '.join(report.card_after)}"
        )
    finally:
        net.close()
    return report


def _approve_pias(home: Home, passphrase: bytes) -> None:
    """The watchdog approves the shipped PIAs of the demo's agencies (once)."""
    from sekisho.policy.pia import load_pia
    from sekisho.policy.service import Watchdog

    wanted = {name for name, _p, _l in (*AGENCIES, PKI)}
    wd = Watchdog.open(home, passphrase=passphrase)
    try:
        approved = {p["agency"] for p in wd.pias() if p["status"] == "approved"}
        folder = Path(str(resources.files("sekisho.policy.data").joinpath("pias")))
        for path in sorted(folder.glob("*.yaml")):
            pia = load_pia(path)
            if pia.agency in wanted - approved:
                wd.submit_pia(pia, by=f"{pia.agency}-officer")
                wd.approve_pia(pia.id, by=OFFICER)
        wd.revocation_list()  # the first list, so that the transcryptors have one to check against
    finally:
        wd.engine.dispose()


@dataclass(frozen=True)
class _Card:
    owner: str  # the PKI's pseudonym of the holder
    serials: tuple[tuple[str, int], ...]  # (CA, serial) of the card's certificates


def _issue_card(home: Home, net: LocalNetwork, municipality: str, handle: str, passphrase: bytes) -> _Card:
    """The PKI's CAs and pseudonym domain (once), then a card for ``handle`` issued from the register."""
    from sekisho.node import pki_agency
    from sekisho.pki import counter, hierarchy

    hierarchy.init(home, secret=lambda: passphrase)
    pki_agency.join(net, passphrase=passphrase)
    path = home.root / "demo-resident.card"
    path.unlink(missing_ok=True)  # the demo's own file from an earlier run
    auth_pin, sign_pin = DEMO_PINS
    issued, _ = counter.issue_at_counter(
        net, municipality=municipality, handle=handle, auth_pin=auth_pin, sign_pin=sign_pin, card_out=path
    )
    from sekisho.pki import store

    serials = [store.serial_hex(c.serial_number) for c in (issued.authentication, issued.signature) if c is not None]
    with net.pki().engine.connect() as conn:
        rows = conn.execute(
            sa.select(store.cert.c.ca_id, store.cert.c.serial, store.cert.c.owner).where(
                store.cert.c.serial.in_(serials)
            )
        ).all()
    return _Card(owner=str(rows[0].owner), serials=tuple((r.ca_id, int(r.serial, 16)) for r in rows))


def _card_status(net: LocalNetwork, card: _Card) -> list[str]:
    from sekisho.pki import status

    with net.pki().engine.connect() as conn:
        states = [status.current(conn, ca_id, serial) for ca_id, serial in card.serials]
    return [s.state if s.reason is None else f"{s.state} ({s.reason.value})" for s in states]


def _missing(home: Home, name: str, passphrase: bytes) -> bool:
    from sekisho.errors import NotFound

    try:
        AgencyService.open(home, name, passphrase=passphrase).engine.dispose()
    except NotFound:
        return True
    return False


def _sample_handles(register: object, n: int) -> list[str]:
    from sekisho.registry.service import RegisterService

    assert isinstance(register, RegisterService)
    with register.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(st.resident.c.handle)
                .where(st.resident.c.status == Status.ACTIVE.value, st.resident.c.rp.is_not(None))
                .order_by(st.resident.c.id)
                .limit(n)
            ).scalars()
        )


def _short(text: str) -> str:
    """The start of a pseudonym's value (the column names its domain)."""
    value = text.split(":")[2] if text.count(":") == 3 else text
    return value[:16] + "…"


def _shared_values(exports: dict[str, Path]) -> int:
    """Pseudonyms (text and 32-byte value) that appear in more than one exported table, or whose value appears
    anywhere in another file."""
    values: dict[str, set[bytes]] = {}
    texts: dict[str, set[str]] = {}
    raw: dict[str, bytes] = {}
    for name, path in exports.items():
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        texts[name] = {r["pseudonym"] for r in rows}
        values[name] = {decode_pseudonym(r["pseudonym"])[1] for r in rows}
        raw[name] = path.read_bytes()
    shared = 0
    for a in exports:
        for b in exports:
            if a < b:
                shared += len(values[a] & values[b]) + len(texts[a] & texts[b])
            if a != b:
                shared += sum(1 for v in values[a] if v in raw[b] or v.hex().encode() in raw[b])
    return shared
