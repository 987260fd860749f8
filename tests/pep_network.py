"""A whole network in one home for the agency and locator tests: key ceremony, registers, agencies, and a
table-backed policy decision point (tests only: ``sekisho.policy`` provides the real one)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from sekisho.agency.service import AgencyService
from sekisho.config import Home
from sekisho.node.local import LocalNetwork
from sekisho.node.registers import create_register
from sekisho.protocols.access import AccessRequest, Decision, SubjectFacts
from sekisho.pseudonyms.service import init_network
from sekisho.registry.release import ReleaseService
from sekisho.registry.service import Actor, RegisterService

PASSPHRASE = b"correct horse battery staple"
FAST_N = 2**14  # the cheapest scrypt cost key files accept
GIFU = "212016"  # 岐阜市
CHIYODA = "131016"  # 千代田区
TODAY = date(2026, 11, 20)


@dataclass(frozen=True)
class Rule:
    items: frozenset[str]
    events: frozenset[str] = frozenset()


@dataclass
class TablePDP:
    """(agency, purpose) → the items and notices allowed.  Records every decision it makes, as the real one must."""

    rules: dict[tuple[str, str], Rule] = field(default_factory=dict)
    decisions: list[tuple[AccessRequest, Decision]] = field(default_factory=list)
    #: requesters whose every request is refused at check_subject (a protection measure naming them)
    refused_by_subject: set[str] = field(default_factory=set)

    def allow(self, agency: str, purpose: str, items: Iterable[str], events: Iterable[str] = ()) -> None:
        self.rules[(agency, purpose)] = Rule(frozenset(items), frozenset(events))

    def decide(self, request: AccessRequest) -> Decision:
        did = uuid.uuid4().hex
        if (request.from_domain, request.to_domain, request.purpose) == ("registry", "registry", "registry.locate"):
            d = Decision(did, request.requester_kind == "municipality", frozenset(), ("basis-law",))
            self.decisions.append((request, d))
            return d
        if request.requester_kind == "agency":
            agency = request.requester
        else:
            agency = request.to_domain if request.from_domain == "registry" else request.from_domain
        rule = self.rules.get((agency or "", request.purpose))
        if rule is None:
            d = Decision(did, False, frozenset(), ("no-legal-basis",))
        elif request.action == "conversion":
            d = Decision(did, True, frozenset(), (), legal_basis=request.purpose)
        else:
            # like the real decision point: asking for anything beyond the rule refuses the whole request
            extra = request.items - rule.items
            if extra:
                d = Decision(did, False, frozenset(), tuple(f"item-not-allowed:{i}" for i in sorted(extra)))
            else:
                d = Decision(did, True, request.items, ("basis-law",), legal_basis=request.purpose, events=rule.events)
        self.decisions.append((request, d))
        return d

    def check_subject(self, decision: Decision, facts: SubjectFacts, request: AccessRequest) -> Decision:
        if decision.allow and request.requester in self.refused_by_subject:
            d = replace(
                decision,
                decision_id=uuid.uuid4().hex,
                allow=False,
                items=frozenset(),
                reasons=("protected",),
                parent=decision.decision_id,
            )
            self.decisions.append((request, d))
            return d
        return decision

    def actions(self) -> list[str]:
        return [r.action for r, _ in self.decisions]


def person(**overrides: str) -> dict[str, str]:
    """A valid Japanese resident of 岐阜市 in import-format text."""
    row = {
        "household": "h1",
        "relationship": "世帯主",
        "family_name": "髙橋",
        "given_name": "健一",
        "family_name_kana": "たかはし",
        "given_name_kana": "ｹﾝｲﾁ",
        "birth_date": "昭和50年4月1日",
        "sex": "男",
        "nationality": "日本",
        "town": "青柳町",
        "block": "3丁目5番12号",
        "became_resident_on": "平成10年4月1日",
        "address_set_on": "平成10年4月1日",
    }
    row.update(overrides)
    return row


CHIYODA_ADDRESS = {"town": "丸の内", "block": "1丁目1番1号"}


@dataclass
class World:
    home: Home
    net: LocalNetwork
    pdp: TablePDP

    def register(self, code: str = GIFU) -> RegisterService:
        return self.net.register(code, actor=Actor(clerk="clerk-7"))

    def releases(self, code: str = GIFU) -> ReleaseService:
        return self.net.releases(code)

    def create_agency(self, name: str, *purposes: str, items: Iterable[str] | None = None) -> AgencyService:
        rule = self.pdp.rules.get((name, purposes[0]))
        if items is None and rule is not None:
            items = sorted(rule.items)  # ask for exactly what the table allows
        svc = AgencyService.create(
            self.home,
            name,
            purposes=purposes,
            shares=self.net.key_shares(name),
            passphrase=PASSPHRASE,
            items=items,
            scrypt_n=FAST_N,
        )
        svc.engine.dispose()
        return self.net.agency_service(name)

    def agency(self, name: str) -> AgencyService:
        return self.net.agency_service(name)


def make_world(home: Home, codes: Iterable[str] = (GIFU, CHIYODA)) -> Iterator[World]:
    init_network(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    for code in codes:
        create_register(home, code, today=lambda: TODAY).engine.dispose()
    pdp = TablePDP()
    net = LocalNetwork(home, passphrase=PASSPHRASE, pdp=pdp, today=lambda: TODAY)
    yield World(home, net, pdp)
    net.close()


def shipped_network(
    home: Home,
    *,
    approve: Iterable[str],
    agencies: Iterable[tuple[str, str]] = (),
    codes: Iterable[str] = (GIFU,),
    clock: Callable[[], datetime] | None = None,
) -> Iterator[LocalNetwork]:
    """A network on the shipped policy: the key ceremony, registers, the watchdog approving the shipped PIAs of
    ``approve``, the home's own decision point and transcryptor hooks, and the agencies ``(name, purpose)``.
    With ``clock``, the policy (watchdog, decision point, transcryptors' hooks) and the registers' day follow it."""
    from importlib import resources
    from pathlib import Path

    from sekisho.policy.pia import load_pia
    from sekisho.policy.service import Watchdog, utcnow

    init_network(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    for code in codes:
        create_register(home, code, today=lambda: TODAY).engine.dispose()
    wd = Watchdog.open(home, passphrase=PASSPHRASE, scrypt_n=FAST_N, clock=clock or utcnow)
    wanted = set(approve)
    for path in sorted(Path(str(resources.files("sekisho.policy.data").joinpath("pias"))).glob("*.yaml")):
        pia = load_pia(path)
        if pia.agency in wanted:
            wd.submit_pia(pia, by="agency-officer")
            wd.approve_pia(pia.id, by="wd-officer-1")
    wd.engine.dispose()
    today = (lambda: clock().date()) if clock else (lambda: TODAY)
    network = LocalNetwork(home, passphrase=PASSPHRASE, today=today, clock=clock)  # no pdp given: the home's own
    assert network.policy_published()
    for name, purpose in agencies:
        AgencyService.create(
            home, name, purposes=[purpose], shares=network.key_shares(name), passphrase=PASSPHRASE, scrypt_n=FAST_N
        ).engine.dispose()
    yield network
    network.close()


def dump_tables(engine: sa.Engine, metadata: sa.MetaData) -> list[Mapping[str, Any]]:
    """Every row of every table of one context (for "nothing sensitive is stored" checks)."""
    out: list[Mapping[str, Any]] = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            out.extend(dict(r._mapping) for r in conn.execute(sa.select(table)))
    return out


PENSION = ("pension", "pension.benefit")
TAX = ("tax", "tax.assessment")
HEALTH = ("kyokai-kenpo", "health.kyokai")


def standard_rules(pdp: TablePDP) -> None:
    """Three agencies with different items and notices (like the legal-basis table's rows, narrowed)."""
    pdp.allow(
        *PENSION,
        ["name", "kana", "birth_date", "sex", "address", "death", "moved"],
        ["died", "moved_out", "moved_in", "moved_within", "name_changed"],
    )
    pdp.allow(*TAX, ["name", "address", "death"], ["died", "moved_in", "moved_within"])
    pdp.allow(*HEALTH, ["name", "birth_date", "sex"], ["moved_in"])


def enrol_one(world: World, code: str, handle: str, agency: str, purpose: str) -> str:
    """Enrol one resident; returns the agency's pseudonym (text) for them (the agency's table gains one row)."""
    svc = world.agency(agency)
    before = {p.pseudonym for p in svc.persons()}
    world.releases(code).enrol([handle], agency=agency, purpose=purpose)
    after = {p.pseudonym for p in svc.persons()}
    new = after - before
    if new:
        assert len(new) == 1
        return new.pop()
    # already known to the agency: the receipt of the last delivery names the person
    from sekisho.agency import store

    with svc.engine.connect() as conn:
        value = conn.execute(
            sa.select(store.receipt.c.pseudonym).order_by(store.receipt.c.id.desc()).limit(1)
        ).scalar_one()
    return svc.text(bytes(value))
