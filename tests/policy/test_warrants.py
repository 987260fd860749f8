"""Cross-referencing A → B under warrants, checked by each real transcryptor on its own; R → A and A → R under the
legal basis and the approved PIA, from each transcryptor's own verified copies."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from sekisho.config import Home
from sekisho.errors import InvalidInput, Refused
from sekisho.jp.legal import default_table
from sekisho.pep.flows import (
    agency_decrypt,
    conversion_request,
    convert_batch,
    encrypt_pseudonyms,
    new_polymorphic_pseudonym,
    prepare_batch,
)
from sekisho.pep.keys import DomainKey, NetworkParams, assemble_domain_key, load_network
from sekisho.pep.operations import person_point
from sekisho.policy import store as pst
from sekisho.policy.hook import TranscryptorPolicy, open_transcryptor_policy
from sekisho.policy.service import LocalWatchdogSource, Watchdog
from sekisho.policy.signing import public_keys
from sekisho.protocols.conversion import REGISTRY_DOMAIN, ConversionRequest
from sekisho.protocols.warrants import Warrant, check_fields
from sekisho.pseudonyms import init_network, open_transcryptor
from sekisho.pseudonyms import store as pep_store
from sekisho.pseudonyms.store import Ledger
from sekisho.pseudonyms.testing import RecordingAccessHook
from sekisho.pseudonyms.transcryptor import Transcryptor

from .conftest import FAST_N, NOW, OFFICER, PASSPHRASE, Clock, file_samples, open_watchdog
from .helpers import request_for, warrant_for

TABLE = default_table()
MEANS_TEST = TABLE.row("welfare.means-test")  # welfare-saitama → pension | tax
CRIMINAL = TABLE.row("tax.criminal-investigation")  # tax → pension | kyokai-kenpo, sealing allowed


class FlakySource(LocalWatchdogSource):
    """The watchdog as a transcryptor reaches it, with an off switch."""

    def __init__(self, watchdog: Watchdog) -> None:
        super().__init__(watchdog)
        self.down = False

    def pia_statements(self) -> list[str]:
        if self.down:
            raise ConnectionError("watchdog unreachable")
        return super().pia_statements()

    def revocation_list(self) -> str:
        if self.down:
            raise ConnectionError("watchdog unreachable")
        return super().revocation_list()


@dataclass
class Net:
    home: Home
    watchdog: Watchdog
    clock: Clock
    network: NetworkParams
    t1: Transcryptor
    t2: Transcryptor
    hooks: dict[str, TranscryptorPolicy]
    sources: dict[str, FlakySource]
    access: RecordingAccessHook

    def key(self, domain: str) -> DomainKey:
        shares = [self.t1.secrets.key_share(domain), self.t2.secrets.key_share(domain)]
        return assemble_domain_key(self.network, domain, shares)

    def party(self, name: str) -> Transcryptor:
        return {"t1": self.t1, "t2": self.t2}[name]


@pytest.fixture
def net(home: Home, clock: Clock) -> Iterator[Net]:
    init_network(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    wd = open_watchdog(home, clock)
    file_samples(wd)
    access = RecordingAccessHook()
    hooks, sources, ts = {}, {}, {}
    for party in ("t1", "t2"):
        sources[party] = FlakySource(wd)
        hooks[party] = open_transcryptor_policy(
            home, party, source=sources[party], ledger=Ledger(), clock=clock, refresh_every=timedelta(0)
        )
        ts[party] = open_transcryptor(
            home, party, passphrase=PASSPHRASE, access=access, policy=hooks[party], clock=clock
        )
    yield Net(home, wd, clock, load_network(home.root), ts["t1"], ts["t2"], hooks, sources, access)
    for t in ts.values():
        t.engine.dispose()
    for h in hooks.values():
        h.engine.dispose()
    wd.engine.dispose()


def _pseudonyms(net: Net, domain: str, roots: list[bytes]) -> list[bytes]:
    """R → domain for these roots (enrolment under the domain's legal basis and PIA), decrypted by the domain."""
    purpose = {"welfare-saitama": "welfare.public-assistance", "pension": "pension.benefit", "tax": "tax.assessment"}[
        domain
    ]
    pps = [new_polymorphic_pseudonym(r, net.network.public_key) for r in roots]
    req = conversion_request(
        prepare_batch(pps, net.network.public_key),
        network=net.network,
        from_domain=REGISTRY_DOMAIN,
        to_domain=domain,
        purpose=purpose,
        grant="legal-basis",
        requester="municipality/131016",
    )
    return agency_decrypt(net.key(domain), convert_batch(req, [net.t1, net.t2]))


def _cross(
    net: Net,
    grant: str,
    *,
    n: int = 2,
    frm: str = "welfare-saitama",
    to: str = "pension",
    purpose: str = "welfare.means-test",
    request_id: str | None = None,
) -> ConversionRequest:
    fake = [person_point(os.urandom(32)).to_bytes() for _ in range(n)]
    return conversion_request(
        encrypt_pseudonyms(fake, net.network.public_key),
        network=net.network,
        from_domain=frm,
        to_domain=to,
        purpose=purpose,
        grant=grant,
        requester=f"agency/{frm}",
        request_id=request_id,
    )


def test_a_warrant_converts_a_to_b_through_both_and_each_counts_in_its_own_store(net: Net) -> None:
    roots = [os.urandom(32) for _ in range(3)]
    welfare = _pseudonyms(net, "welfare-saitama", roots)
    direct = _pseudonyms(net, "pension", roots)
    wid, token = warrant_for(net.watchdog, MEANS_TEST, persons=3)
    req = conversion_request(
        encrypt_pseudonyms(welfare, net.network.public_key),
        network=net.network,
        from_domain="welfare-saitama",
        to_domain="pension",
        purpose="welfare.means-test",
        grant=token,
        requester="agency/welfare-saitama",
    )
    got = agency_decrypt(net.key("pension"), convert_batch(req, [net.t1, net.t2]))
    assert got == direct  # the same pseudonyms B holds: A's list matched into B's domain, and nothing else
    for t in (net.t1, net.t2):
        with t.engine.connect() as conn:
            assert pep_store.uses(conn, wid) == 3
    grants = [g for _r, g in net.access.records if g.grant_id == wid]
    assert len(grants) == 2 and all(g.max_uses == 3 and g.legal_basis == "welfare.means-test" for g in grants)


WRONG = {
    "no warrant": ("warrant-token-required", lambda net: "legal-basis"),
    "forged": ("warrant-invalid", lambda net: warrant_for(net.watchdog, MEANS_TEST)[1][:-4] + "AAAA"),
    "another agency's": (
        "warrant-other-agency",
        lambda net: warrant_for(net.watchdog, TABLE.row("tax.examination"))[1],
    ),
    "refusal statement": (
        "warrant-invalid",
        lambda net: net.watchdog.reject_warrant(
            net.watchdog.request_warrant(
                requester="welfare-saitama",
                target="pension",
                purpose="welfare.means-test",
                legal_basis="welfare.means-test",
                case_reference="c1",
                persons=1,
                not_after=NOW + timedelta(days=1),
                by="x",
            ),
            by=OFFICER,
            reasons=["insufficient-grounds"],
        ),
    ),
}


@pytest.mark.parametrize("party", ["t1", "t2"])
@pytest.mark.parametrize("case", sorted(WRONG))
def test_each_transcryptor_alone_refuses_a_bad_warrant(net: Net, party: str, case: str) -> None:
    reason, make = WRONG[case]
    with pytest.raises(Refused) as exc:
        net.party(party).convert(_cross(net, make(net)))
    assert reason in str(exc.value)
    assert net.access.records == [] or all(g.grant_id for _r, g in net.access.records)
    with net.party(party).engine.connect() as conn:  # journaled as a refusal, with codes only
        assert reason in conn.execute(sa.select(pep_store.refusal.c.reason)).scalars().one()


@pytest.mark.parametrize("party", ["t1", "t2"])
def test_each_transcryptor_alone_refuses_the_wrong_target(net: Net, party: str) -> None:
    token = warrant_for(net.watchdog, MEANS_TEST, target="tax")[1]
    with pytest.raises(Refused) as exc:
        net.party(party).convert(_cross(net, token))  # the warrant names tax, the request pension
    assert "warrant-other-target" in str(exc.value)


@pytest.mark.parametrize("party", ["t1", "t2"])
def test_each_transcryptor_counts_persons_alone_and_stops_at_the_cap(net: Net, party: str) -> None:
    wid, token = warrant_for(net.watchdog, MEANS_TEST, persons=3)
    t, other = net.party(party), net.party("t2" if party == "t1" else "t1")
    first = _cross(net, token, n=2, request_id="req-1")
    t.convert(first)
    t.convert(first)  # a retry of the same request costs nothing
    with pytest.raises(Refused) as exc:
        t.convert(_cross(net, token, n=2))
    assert "warrant-exhausted" in str(exc.value)
    t.convert(_cross(net, token, n=1))  # the last person still fits
    with pytest.raises(Refused):
        t.convert(_cross(net, token, n=1))
    with t.engine.connect() as conn:
        assert pep_store.uses(conn, wid) == 3
    # the other transcryptor has counted nothing: its own store, its own count
    with other.engine.connect() as conn:
        assert pep_store.uses(conn, wid) == 0
    other.convert(_cross(net, token, n=3))


@pytest.mark.parametrize("party", ["t1", "t2"])
def test_each_transcryptor_alone_refuses_after_expiry(net: Net, party: str) -> None:
    token = warrant_for(net.watchdog, MEANS_TEST, days=2)[1]
    net.party(party).convert(_cross(net, token))
    net.clock.advance(days=2)
    with pytest.raises(Refused) as exc:
        net.party(party).convert(_cross(net, token))
    assert "warrant-expired" in str(exc.value)


@pytest.mark.parametrize("party", ["t1", "t2"])
def test_each_transcryptor_alone_refuses_after_revocation(net: Net, party: str) -> None:
    wid, token = warrant_for(net.watchdog, MEANS_TEST)
    net.party(party).convert(_cross(net, token))
    net.watchdog.revoke_warrant(wid, by=OFFICER, reason="case-closed")
    with pytest.raises(Refused) as exc:
        net.party(party).convert(_cross(net, token))
    assert "warrant-revoked" in str(exc.value)


def test_a_transcryptor_that_cannot_hear_the_watchdog_refuses_once_its_list_is_stale(net: Net) -> None:
    token = warrant_for(net.watchdog, MEANS_TEST)[1]
    net.t1.convert(_cross(net, token))  # holds a fresh list
    net.sources["t1"].down = True
    net.clock.advance(hours=23)
    net.t1.convert(_cross(net, token))  # the copy it holds is still within its next update
    net.clock.advance(hours=2)
    with pytest.raises(Refused) as exc:
        net.t1.convert(_cross(net, token))
    assert "revocation-list-stale" in str(exc.value)
    net.t2.convert(_cross(net, token))  # T2 heard the watchdog all along


def test_an_older_revocation_list_cannot_unrevoke(net: Net) -> None:
    wid, token = warrant_for(net.watchdog, MEANS_TEST)
    before = net.watchdog.revocation_list()
    net.watchdog.revoke_warrant(wid, by=OFFICER, reason="case-closed")
    hook = net.hooks["t1"]
    hook.refresh()

    class Replay(FlakySource):
        def revocation_list(self) -> str:
            return before

    hook.source = Replay(net.watchdog)
    with pytest.raises(Refused) as exc:
        net.t1.convert(_cross(net, token))
    assert "warrant-revoked" in str(exc.value)


def test_sealed_until_is_carried_and_bounded(net: Net) -> None:
    sealed = (NOW + timedelta(days=400)).date()
    wid, token = warrant_for(net.watchdog, CRIMINAL, sealed_until=sealed)
    net.t1.convert(_cross(net, token, frm="tax", to="kyokai-kenpo", purpose="tax.criminal-investigation"))
    with net.t1.engine.connect() as conn:
        row = conn.execute(sa.select(pst.decision).where(pst.decision.c.warrant == wid)).one()
    assert row.allow and row.sealed_until == sealed
    d = net.watchdog.decision_point().decide(request_for(CRIMINAL, "cross-reference", frozenset(), warrant=wid))
    assert d.allow and d.sealed_until == sealed
    # a task whose row allows no sealing cannot have a sealed warrant; nor can sealing outlast the row's limit
    for row_, until in ((MEANS_TEST, date(2027, 1, 1)), (CRIMINAL, (NOW + timedelta(days=30 + 731)).date())):
        wid2 = net.watchdog.request_warrant(
            requester=row_.agency or "",
            target=sorted(row_.targets)[0],
            purpose=row_.purpose,
            legal_basis=row_.id,
            case_reference="c2",
            persons=1,
            not_after=NOW + timedelta(days=30),
            sealed_until=until,
            by="x",
        )
        with pytest.raises(Refused):
            net.watchdog.approve_warrant(wid2, by=OFFICER)


def test_registry_to_agency_needs_the_legal_basis_and_an_approved_pia_at_each_transcryptor(net: Net) -> None:
    roots = [os.urandom(32)]
    assert len(_pseudonyms(net, "pension", roots)) == 1
    net.watchdog.revoke_pia("pension-kyufu-2026", by=OFFICER, reason="incident-reported")
    for t in (net.t1, net.t2):
        pps = [new_polymorphic_pseudonym(roots[0], net.network.public_key)]
        req = conversion_request(
            prepare_batch(pps, net.network.public_key),
            network=net.network,
            from_domain=REGISTRY_DOMAIN,
            to_domain="pension",
            purpose="pension.benefit",
            grant="legal-basis",
            requester="municipality/131016",
        )
        with pytest.raises(Refused) as exc:
            t.convert(req)
        assert "pia-revoked" in str(exc.value)
    # no row at all: a purpose the table does not know
    with pytest.raises(Refused) as exc:
        net.t2.convert(replace(req, purpose="pension.marketing"))
    assert "purpose-unknown" in str(exc.value)


def test_agency_to_registry_is_identity_confirmation(net: Net) -> None:
    fake = [person_point(os.urandom(32)).to_bytes()]
    req = conversion_request(
        encrypt_pseudonyms(fake, net.network.public_key),
        network=net.network,
        from_domain="pension",
        to_domain=REGISTRY_DOMAIN,
        purpose="pension.benefit",
        grant="legal-basis",
        requester="agency/pension",
    )
    net.t1.convert(req)
    with pytest.raises(Refused) as exc:  # the welfare office's means test has no identity confirmation
        net.t1.convert(replace(req, from_domain="welfare-saitama", purpose="welfare.means-test", request_id="r2"))
    assert "action-not-allowed:conversion" in str(exc.value)


def test_the_watchdog_decision_point_checks_warrants_too(net: Net) -> None:
    dp = net.watchdog.decision_point()
    wid, _ = warrant_for(net.watchdog, MEANS_TEST, persons=2)
    req = request_for(MEANS_TEST, "cross-reference", frozenset(), warrant=wid, count=2)
    assert dp.decide(req).allow
    assert dp.decide(req).reasons == ("warrant-exhausted",)
    assert dp.decide(replace(req, warrant=None)).reasons == ("warrant-missing",)
    assert dp.decide(replace(req, warrant="0" * 32)).reasons == ("warrant-unknown",)
    pending = net.watchdog.request_warrant(
        requester="welfare-saitama",
        target="pension",
        purpose="welfare.means-test",
        legal_basis="welfare.means-test",
        case_reference="c3",
        persons=1,
        not_after=NOW + timedelta(days=3),
        by="x",
    )
    assert dp.decide(replace(req, warrant=pending, count=1)).reasons == ("warrant-not-approved",)
    assert public_keys(net.home)


def test_a_warrants_days_are_days_in_japan() -> None:
    """``sealed_until`` is a date in Japan: a warrant that starts at 01:00 on the 24th in Japan (16:00 UTC on
    the 23rd) cannot be sealed until the 23rd, and may be until the 24th."""
    start = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    w = Warrant(
        id="0" * 32,
        requester="tax",
        target="kyokai-kenpo",
        purpose="tax.criminal-investigation",
        legal_basis="x",
        case_reference="case/2026-0001",
        persons=1,
        not_before=start,
        not_after=start + timedelta(days=30),
        sealed_until=date(2026, 11, 24),
    )
    check_fields(w)
    with pytest.raises(InvalidInput) as exc:
        check_fields(replace(w, sealed_until=date(2026, 11, 23)))
    assert exc.value.field == "sealed_until"
