"""The PKI driven by the register, end to end on the shipped policy and the real transcryptors: a card is issued
from an enrolment (the PKI's own pseudonym and the released items), the register's change notices revoke what
they make untrue, `openssl ocsp` against the running responder sees it on the next request, and nothing in the
PKI's database names a handle or another party's identifier."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pep_network import CHIYODA, FAST_N, GIFU, PASSPHRASE, dump_tables, person, shipped_network
from sekisho.agency import store as agy
from sekisho.config import Home
from sekisho.errors import Conflict, Refused
from sekisho.node import pki_agency
from sekisho.node.local import LocalNetwork
from sekisho.pep.encoding import decode_pseudonym
from sekisho.pki import counter, hierarchy, issuance, status
from sekisho.pki import store as pki_store
from sekisho.pki.card import SoftwareCard
from sekisho.pki.oids import Purpose
from sekisho.registry import store as st
from sekisho.registry.release import ReleaseService

from .conftest import AUTH_PIN, SIGN_PIN, needs_openssl, ocsp_ask, pem, serve_pki

PENSION = ("pension", "pension.benefit")


@pytest.fixture
def net(home: Home) -> Iterator[LocalNetwork]:
    for network in shipped_network(home, approve=("pki", "pension"), agencies=(PENSION,), codes=(GIFU, CHIYODA)):
        hierarchy.init(home, secret=lambda: PASSPHRASE)
        assert pki_agency.join(network, passphrase=PASSPHRASE, scrypt_n=FAST_N)
        assert not pki_agency.join(network, passphrase=PASSPHRASE, scrypt_n=FAST_N)  # idempotent
        yield network


def _issue(net: LocalNetwork, code: str, handle: str, path: Path) -> tuple[issuance.Issued, SoftwareCard]:
    return counter.issue_at_counter(
        net, municipality=code, handle=handle, auth_pin=AUTH_PIN, sign_pin=SIGN_PIN, card_out=path
    )


def _owner(net: LocalNetwork, cert: x509.Certificate) -> str:
    with net.pki().engine.connect() as conn:
        rows = pki_store.certs_by_serial(conn, pki_store.serial_hex(cert.serial_number))
    return str(rows[0].owner)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _deliver(net: LocalNetwork, *codes: str) -> None:
    for code in codes:
        assert net.releases(code).deliver_notices().pending == 0


@needs_openssl
def test_a_card_from_the_register_is_revoked_by_the_death_notice(net: LocalNetwork, home: Home, tmp_path: Path) -> None:
    gifu = net.register(GIFU)
    r = gifu.add(person())
    issued, card = _issue(net, GIFU, r.handle, tmp_path / "card")
    assert issued.authentication is not None and issued.signature is not None
    # the signature certificate carries the register's items, as released; the authentication one nothing
    subject = issued.signature.subject.rfc4514_string()
    assert "髙橋" in subject and "健一" in subject
    assert "髙橋" not in issued.authentication.subject.rfc4514_string()
    assert issued.authentication.issuer == hierarchy.root(net.pki().engine, "21").subject  # 岐阜県
    # the release went through the policy and the access record names the PKI and its purpose
    with gifu.engine.connect() as conn:
        records = conn.execute(
            sa.select(st.access.c.actor, st.access.c.action, st.access.c.purpose, st.access.c["items"])
        ).all()
    assert ("pki", "enrolment", "pki.certificate", "address,birth_date,name,sex") in [tuple(x) for x in records]
    owner = _owner(net, issued.authentication)
    assert decode_pseudonym(owner)[0] == "pki"

    files = [pem(tmp_path / "auth.pem", [card.certificate(Purpose.AUTHENTICATION)])]
    files.append(pem(tmp_path / "sign.pem", [card.certificate(Purpose.SIGNATURE)]))
    with serve_pki(home, tmp_path / "uvicorn.log") as url:
        for f in files:
            assert f"{f}: good" in ocsp_ask(net.pki(), url, f, issuer="21", tmp_path=tmp_path)
        gifu.death(r.handle, died_on="2026-11-18")
        _deliver(net, GIFU)
        for f in files:  # the very next request
            out = ocsp_ask(net.pki(), url, f, issuer="21", tmp_path=tmp_path)
            assert f"{f}: revoked" in out
            assert "Reason: cessationOfOperation" in out
    assert [n["kind"] for n in net.agency_service("pki").notices()] == ["died"]
    assert status.offers(net.pki().engine) == []  # nothing to offer the dead


@needs_openssl
def test_a_move_revokes_the_signature_certificate_and_a_death_at_the_destination_the_rest(
    net: LocalNetwork, home: Home, tmp_path: Path
) -> None:
    gifu, chiyoda = net.register(GIFU), net.register(CHIYODA)
    r = gifu.add(person())
    issued, card = _issue(net, GIFU, r.handle, tmp_path / "card")
    assert issued.authentication is not None and issued.signature is not None
    owner = _owner(net, issued.authentication)
    auth = pem(tmp_path / "auth.pem", [issued.authentication])
    old_sign = pem(tmp_path / "sign-gifu.pem", [issued.signature])

    _, token, _ = gifu.move_out(r.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25")
    moved = chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    _deliver(net, GIFU, CHIYODA)
    assert sorted(n["kind"] for n in net.agency_service("pki").notices()) == ["moved_in", "moved_out"]
    assert [o["owner"] for o in status.offers(net.pki().engine)] == [owner]

    with serve_pki(home, tmp_path / "uvicorn.log") as url:
        out = ocsp_ask(net.pki(), url, old_sign, issuer="21", tmp_path=tmp_path)
        assert f"{old_sign}: revoked" in out and "Reason: affiliationChanged" in out
        assert f"{auth}: good" in ocsp_ask(net.pki(), url, auth, issuer="21", tmp_path=tmp_path)

        # the resident re-issues at Chiyoda's counter with the card: a new signature certificate from Tokyo's CA,
        # the same authentication certificate; the enrolment came from Chiyoda's register, the pseudonym is the same
        again, _ = counter.issue_at_counter(
            net, municipality=CHIYODA, handle=moved.resident.handle, auth_pin="", sign_pin=SIGN_PIN, card=card
        )
        assert again.authentication is None and again.signature is not None
        assert again.subject_id == issued.subject_id
        assert again.signature.issuer == hierarchy.root(net.pki().engine, "13").subject
        assert "東京都千代田区飯田橋".encode() in _der(again.signature)  # its postalAddress attribute
        assert _owner(net, again.signature) == owner  # no rebinding: a pseudonym is stable across moves
        assert status.offers(net.pki().engine) == []
        new_sign = pem(tmp_path / "sign-chiyoda.pem", [again.signature])
        assert f"{new_sign}: good" in ocsp_ask(net.pki(), url, new_sign, issuer="13", tmp_path=tmp_path)

        chiyoda.death(moved.resident.handle, died_on="2026-11-20")
        _deliver(net, GIFU, CHIYODA)
        for f, issuer in ((auth, "21"), (new_sign, "13")):
            out = ocsp_ask(net.pki(), url, f, issuer=issuer, tmp_path=tmp_path)
            assert f"{f}: revoked" in out and "Reason: cessationOfOperation" in out
    assert net.agency_service("pki").count() == 1


def test_a_notice_delivered_after_the_reissue_leaves_the_new_certificate_alone(
    net: LocalNetwork, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sekisho.agency import service as agency_service

    gifu = net.register(GIFU)
    r = gifu.add(person())
    issued, card = _issue(net, GIFU, r.handle, tmp_path / "card")
    assert issued.signature is not None
    gifu.move_within(r.handle, town="藍川町", block="18番地", moved_on="2026-11-19")
    # a minute later the resident is at the next counter, before the notices are delivered
    clock = agency_service._now
    monkeypatch.setattr(agency_service, "_now", lambda: clock() + timedelta(minutes=1))
    again, _ = counter.issue_at_counter(
        net, municipality=GIFU, handle=r.handle, auth_pin="", sign_pin=SIGN_PIN, card=card
    )
    monkeypatch.undo()
    assert again.signature is not None and "藍川町".encode() in _der(again.signature)
    _deliver(net, GIFU)
    assert [n["kind"] for n in net.agency_service("pki").notices()] == ["moved_within"]
    with net.pki().engine.connect() as conn:
        old = status.current(conn, "pref-21", issued.signature.serial_number)
        new = status.current(conn, "pref-21", again.signature.serial_number)
    assert old.state == "revoked" and old.reason is x509.ReasonFlags.superseded  # replaced at the counter
    assert new.state == "good"


def test_a_redelivered_notice_is_applied_once(net: LocalNetwork, tmp_path: Path, monkeypatch: Any) -> None:
    gifu = net.register(GIFU)
    r = gifu.add(person())
    issued, _ = _issue(net, GIFU, r.handle, tmp_path / "card")
    assert issued.authentication is not None
    gifu.death(r.handle, died_on="2026-11-18")
    monkeypatch.setattr(
        ReleaseService, "_mark_events", lambda self, ids: (_ for _ in ()).throw(RuntimeError("power cut"))
    )
    with pytest.raises(RuntimeError):
        net.releases(GIFU).deliver_notices()
    monkeypatch.undo()
    with net.pki().engine.connect() as conn:
        first = status.current(conn, "pref-21", issued.authentication.serial_number)
    assert first.state == "revoked"
    _deliver(net, GIFU)  # the event is sent again; the PKI recognises the notice id
    with net.pki().engine.connect() as conn:
        assert status.current(conn, "pref-21", issued.authentication.serial_number) == first
        assert conn.execute(sa.select(sa.func.count()).select_from(agy.notice)).scalar_one() == 1


def test_an_application_serves_once_and_only_its_own_municipality(net: LocalNetwork, tmp_path: Path) -> None:
    gifu = net.register(GIFU)
    r = gifu.add(person())
    report = net.releases(GIFU).enrol([r.handle], agency="pki", purpose="pki.certificate")
    [delivery] = report.deliveries
    agency = net.agency_service("pki")
    with pytest.raises(Refused):
        issuance.application(net.pki(), agency, delivery_id=delivery, municipality=CHIYODA)
    app = issuance.application(net.pki(), agency, delivery_id=delivery, municipality=GIFU)
    card = SoftwareCard.create(tmp_path / "card", auth_pin=AUTH_PIN, sign_pin=SIGN_PIN)
    auth_csr = card.csr(Purpose.AUTHENTICATION, pin=AUTH_PIN)
    sign_csr = card.csr(Purpose.SIGNATURE, pin=SIGN_PIN)
    issuance.issue_card(net.pki(), app, authentication_csr=auth_csr, signature_csr=sign_csr)
    with pytest.raises(Conflict):
        issuance.issue_card(net.pki(), app, authentication_csr=auth_csr, signature_csr=sign_csr)
    with pytest.raises(Conflict):
        issuance.application(net.pki(), agency, delivery_id=delivery, municipality=GIFU)
    fresh = net.releases(GIFU).enrol([r.handle], agency="pki", purpose="pki.certificate").deliveries[0]
    # measured from the fresh enrolment's own arrival: a slow run must not make it look recent
    [arrived] = agency.delivered(fresh)
    later = arrived.received_at + issuance.APPLICATION_TTL + timedelta(seconds=1)
    with pytest.raises(Refused):
        issuance.application(net.pki(), agency, delivery_id=fresh, municipality=GIFU, now=later)


def test_a_card_is_refused_for_a_resident_the_register_does_not_release(
    net: LocalNetwork, home: Home, tmp_path: Path
) -> None:
    from sekisho.policy.municipality import MunicipalityPolicy

    gifu = net.register(GIFU)
    r = gifu.add(person())
    policy = MunicipalityPolicy.open(home, GIFU)
    policy.add_measure(handle=r.handle, kind="dv", by="clerk-7", named_requesters=["pki"])
    policy.engine.dispose()
    with pytest.raises(Refused):
        _issue(net, GIFU, r.handle, tmp_path / "card")
    assert not (tmp_path / "card").exists()
    assert net.agency_service("pki").count() == 0


def test_the_pki_holds_no_handle_no_register_identifier_and_a_pseudonym_of_its_own(
    net: LocalNetwork, tmp_path: Path
) -> None:
    gifu = net.register(GIFU)
    r = gifu.add(person())
    other = gifu.add(person(household="b", given_name="花子", given_name_kana="ハナコ", sex="女"))
    net.releases(GIFU).enrol([r.handle], agency="pension", purpose="pension.benefit")
    [held] = net.agency_service("pension").persons()
    pension = held.pseudonym
    issued, _ = _issue(net, GIFU, r.handle, tmp_path / "card")
    _issue(net, GIFU, other.handle, tmp_path / "card2")
    assert issued.authentication is not None
    owner = _owner(net, issued.authentication)
    # the PKI's pseudonym differs from every other agency's for the same person, in value and text
    assert decode_pseudonym(owner)[1] != decode_pseudonym(pension)[1]
    assert owner != pension

    with gifu.engine.connect() as conn:
        rows = conn.execute(sa.select(st.resident.c.handle, st.resident.c.pp, st.resident.c.rp)).all()
    needles: list[bytes] = []
    for row in rows:
        needles += [row.handle.encode(), bytes(row.pp), bytes(row.pp).hex().encode()]
        needles += [bytes(row.rp), bytes(row.rp).hex().encode()]
    value = decode_pseudonym(pension)[1]
    needles += [value, value.hex().encode(), pension.encode(), pension.split(":")[2].encode()]
    engine = net.pki().engine
    # the agency's feed cursors are one row per municipality node it pulls notices from — a place, no person:
    # the only table allowed to name a municipality, and it has nothing else
    cursors = agy.metadata.tables["agy_feed_cursor"]
    assert {c.name for c in cursors.columns} == {"municipality", "cursor", "updated_at"}
    tables = [*pki_store.metadata.sorted_tables, *(t for t in agy.metadata.sorted_tables if t is not cursors)]
    columns = {c.name for t in tables for c in t.columns}
    assert not columns & {"handle", "municipality", "rp", "pp", "root"}
    checked = 0
    for metadata in (pki_store.metadata, agy.metadata):  # certificate bodies included
        for table_row in dump_tables(engine, metadata):
            for v in table_row.values():
                blob = bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
                assert not any(n in blob for n in needles), sorted(table_row)
                checked += 1
    assert checked > 100
