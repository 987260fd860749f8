"""Issuing certificates of residence at the home's desk: what goes on them, who is refused and why, what the
resident sees (access records, 本人通知)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509

from sekisho.certificates.model import Request, parse_items
from sekisho.certificates.service import Desk
from sekisho.certificates.signing import CRL_REUSE, DocumentSigner
from sekisho.certificates.verify import verify_document, verify_pdf
from sekisho.config import Home
from sekisho.errors import InvalidInput, Refused, Unavailable
from sekisho.policy.municipality import MunicipalityPolicy
from sekisho.registry import store as st

from .conftest import CHIYODA, GIFU, PASSPHRASE, Residents


def ask(
    handle: str, *, counter: str = CHIYODA, kind: str = "self", items: tuple[str, ...] = (), **kw: object
) -> Request:
    return Request(handle=handle, home=GIFU, counter=counter, kind=kind, items=parse_items(items), **kw)  # type: ignore[arg-type]


def records(desk: Desk, handle: str) -> list[sa.Row[object]]:
    engine = desk.gate.register.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rid = conn.execute(sa.select(st.resident.c.id).where(st.resident.c.handle == handle)).scalar_one()
        return list(
            conn.execute(
                sa.select(st.access).where(st.access.c.resident_id == rid, st.access.c.action == "certificate")
            ).all()
        )


def test_a_wide_area_pdf_verifies_and_its_access_is_recorded_first(
    desk: Desk, residents: Residents, org_root: x509.Certificate
) -> None:
    before = len(records(desk, residents.child))
    issued = desk.issue(ask(residents.child, items=("kana", "household", "resident_since")), form="pdf")
    verified = verify_pdf(issued.body, roots=[org_root])
    assert verified.municipality == GIFU
    assert verified.serial == issued.serial
    assert verified.signed_at is not None
    after = records(desk, residents.child)
    assert len(after) == before + 1
    last = after[-1]
    assert (last.actor_kind, last.actor, last.purpose, last.decision) == (
        "municipality", CHIYODA, "certificate.wide-area", "allow"
    )  # fmt: skip
    assert {"name", "birth_date", "sex", "address", "kana", "household", "resident_since"} <= set(
        last.items.replace(",", " ").split()
    )


def test_the_json_form_says_what_was_asked_and_nothing_more(
    desk: Desk, residents: Residents, org_root: x509.Certificate
) -> None:
    issued = desk.issue(ask(residents.child, items=("household",)), form="json")
    data = json.loads(issued.body)
    doc = data["certificate"]
    assert doc["person"]["name"] == "髙橋\u3000𠮷子"  # stored exactly as given
    assert doc["person"]["birth_date"] == "平成31年4月30日"
    assert doc["person"]["household_head"] == "髙橋\u3000健一"
    assert doc["person"]["relationship"] == "子"
    assert "honseki" not in doc["person"] and "kana" not in doc["person"]
    assert doc["omitted"] == ["honseki"]
    assert doc["counter"] == {"code": CHIYODA, "name": "東京都千代田区", "wide_area": True}
    assert verify_document(data, roots=[org_root]).serial == issued.serial


def test_foreign_residents_dates_are_gregorian(desk: Desk, residents: Residents) -> None:
    doc = json.loads(desk.issue(ask(residents.foreigner), form="json").body)["certificate"]
    assert doc["person"]["birth_date"] == "1995年7月14日"
    assert doc["person"]["name"] == "NGUYEN VAN AN"


def test_honseki_only_at_the_home_counter(desk: Desk, residents: Residents) -> None:
    with pytest.raises(Refused) as refused:
        desk.issue(ask(residents.head, items=("honseki",)), form="json")
    assert "item-not-allowed:honseki" in refused.value.message
    doc = json.loads(desk.issue(ask(residents.head, counter=GIFU, items=("honseki",)), form="json").body)
    assert doc["certificate"]["person"]["honseki"] == "岐阜県岐阜市青柳町3丁目5番地"
    assert doc["certificate"]["purpose"] == "certificate.self"
    denied = [r for r in records(desk, residents.head) if r.decision == "deny"]
    assert denied and "item-not-allowed:honseki" in denied[-1].reason_codes


def test_a_third_party_without_a_reason_is_refused_before_the_register_is_asked(
    desk: Desk, residents: Residents
) -> None:
    before = len(records(desk, residents.head))
    with pytest.raises(Refused) as refused:
        desk.issue(ask(residents.head, kind="third-party", requester="office:lawyer-1"), form="json")
    assert refused.value.field == "reason"
    assert len(records(desk, residents.head)) == before


def test_a_third_party_with_a_reason_gets_the_basic_four_only(desk: Desk, residents: Residents) -> None:
    request = ask(residents.child, kind="third-party", requester="office:lawyer-1", reason="債権回収の訴訟提起のため")
    doc = json.loads(desk.issue(request, form="json").body)["certificate"]
    assert set(doc["person"]) == {"name", "birth_date", "sex", "address"}
    with pytest.raises(Refused, match="item-not-allowed:kana"):
        desk.issue(
            ask(residents.child, kind="third-party", requester="office:lawyer-1", reason="訴訟", items=("kana",)),
            form="json",
        )


@pytest.mark.parametrize(
    ("kind", "requester", "reason", "code"),
    [
        ("third-party", "office:lawyer-1", "訴訟のため", "protected-third-party"),
        ("proxy", "mandate:42", None, "protected-third-party"),
        ("proxy", "office:named-1", None, "protected-requester-named"),
    ],
)
def test_a_protected_resident_is_refused_to_third_parties_and_the_named_requester(
    desk: Desk, residents: Residents, kind: str, requester: str, reason: str | None, code: str
) -> None:
    with pytest.raises(Refused) as refused:
        desk.issue(ask(residents.protected, kind=kind, requester=requester, reason=reason), form="pdf")
    assert code in refused.value.message
    last = records(desk, residents.protected)[-1]
    assert last.decision == "deny" and code in last.reason_codes and last.items == ""


def test_a_protected_resident_still_gets_their_own_but_not_from_a_kiosk(desk: Desk, residents: Residents) -> None:
    doc = json.loads(desk.issue(ask(residents.protected), form="json").body)["certificate"]
    assert doc["person"]["name"] == "佐藤\u3000花子"
    with pytest.raises(Refused, match="protected-self-service"):
        desk.issue(ask(residents.protected, self_service=True), form="json")
    # anyone else may use a kiosk
    assert desk.issue(ask(residents.head, self_service=True), form="json").serial


def test_a_proxys_certificate_notifies_the_registered_resident(
    cert_home: Home, desk: Desk, residents: Residents
) -> None:
    policy = MunicipalityPolicy.open(cert_home, GIFU)
    try:
        before = policy.notifications(residents.head)
        desk.issue(ask(residents.head, kind="proxy", requester="mandate:7", copies=2), form="json")
        after = policy.notifications(residents.head)
    finally:
        policy.engine.dispose()
    assert len(after) == len(before) + 1
    assert after[-1]["requester_category"] == "proxy"
    assert after[-1]["copies"] == 2
    assert after[-1]["certificate"] == "certificate.proxy"


def test_bad_requests_are_bad_input(residents: Residents) -> None:
    with pytest.raises(InvalidInput):
        ask(residents.head, items=("everything",))
    with pytest.raises(InvalidInput):
        ask(residents.head, kind="proxy")  # a proxy names its mandate
    with pytest.raises(InvalidInput):
        ask(residents.head, copies=11)


def test_a_household_member_asks_as_the_resident_does(desk: Desk, residents: Residents) -> None:
    doc = json.loads(desk.issue(ask(residents.child, kind="household", requester=residents.head), form="json").body)
    assert doc["certificate"]["requester_kind"] == "household"
    assert doc["certificate"]["purpose"] == "certificate.wide-area"
    with pytest.raises(Refused, match="not-same-household"):
        desk.issue(ask(residents.child, kind="household", requester=residents.foreigner), form="json")
    last = records(desk, residents.child)[-1]
    assert last.decision == "deny" and "not-same-household" in last.reason_codes


def test_a_desk_whose_key_was_revoked_signs_nothing_and_records_a_refusal(
    cert_home: Home, desk: Desk, residents: Residents, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from sekisho.pki.hierarchy import Pki
    from sekisho.pki.signers import certify_document_signer
    from sekisho.pki.status import crl, revoke

    pki = Pki.open(cert_home)
    chain = DocumentSigner.create_files(
        tmp_path,
        certify=lambda key: certify_document_signer(pki, municipality=GIFU, public_key=key),
        passphrase=PASSPHRASE,
    )
    fetched: list[bytes] = []

    def fetch() -> bytes:
        fetched.append(crl(pki, ca_id="org").public_bytes(Encoding.DER))
        return fetched[-1]

    signer = DocumentSigner.open(
        tmp_path, municipality=GIFU, passphrase=PASSPHRASE, ask_timestamp=desk.signer.ask_timestamp, fetch_crl=fetch
    )
    now = [datetime.now(UTC)]
    own = Desk(signer=signer, gate=desk.gate, source=desk.source, clock=lambda: now[0])
    proxy = ask(residents.head, kind="proxy", requester="mandate:8")
    first = json.loads(own.issue(proxy, form="json").body)
    own.issue(ask(residents.head), form="json")
    assert len(fetched) == 1  # one CRL serves the desk until CRL_REUSE has passed
    assert first["crl"] == base64.b64encode(fetched[0]).decode()  # the CRL the desk checked is the one it embeds

    revoke(pki.engine, serial=f"{chain[0].serial_number:x}", reason=x509.ReasonFlags.key_compromise, ca_id="org")
    # the desk fetches again once the CRL it holds is CRL_REUSE old (measured from the CA's clock, which a slow
    # first issue may have put past the desk's fixed one): the next CRL says so
    now[0] = datetime.now(UTC) + CRL_REUSE + timedelta(seconds=1)
    policy = MunicipalityPolicy.open(cert_home, GIFU)
    try:
        notified = len(policy.notifications(residents.head))
        allowed = [r for r in records(desk, residents.head) if r.decision == "allow"]
        for form in ("json", "pdf"):
            with pytest.raises(Unavailable, match="revoked") as refused:
                own.issue(proxy, form=form)  # type: ignore[arg-type]
            assert refused.value.field == "signer"
            last = records(desk, residents.head)[-1]
            assert (last.decision, last.reason_codes, last.items) == ("deny", "signer-revoked", "")
        # nothing else was written: no access record of a read, no 本人通知 of a certificate never issued
        assert [r for r in records(desk, residents.head) if r.decision == "allow"] == allowed
        assert len(policy.notifications(residents.head)) == notified
    finally:
        policy.engine.dispose()
        pki.engine.dispose()


def test_a_crl_that_is_not_the_organisation_cas_is_not_used(desk: Desk, residents: Residents) -> None:
    signer = DocumentSigner(GIFU, desk.signer.key, desk.signer.chain, desk.signer.ask_timestamp, lambda: b"junk")
    with pytest.raises(Unavailable, match="CRL") as refused:
        Desk(signer=signer, gate=desk.gate, source=desk.source).issue(ask(residents.head), form="json")
    assert refused.value.field == "revocation"


def test_a_whole_households_certificate_shows_each_member_and_records_each(desk: Desk, residents: Residents) -> None:
    before = {h: len(records(desk, h)) for h in (residents.head, residents.child)}
    issued = desk.issue(ask(residents.child, scope="household", items=("kana", "household")), form="json")
    doc = json.loads(issued.body)["certificate"]
    assert doc["scope"] == "household" and "person" not in doc
    names = [m["name"] for m in doc["members"]]
    assert names == ["髙橋\u3000健一", "髙橋\u3000𠮷子"]  # the head first
    assert [m["relationship"] for m in doc["members"]] == ["世帯主", "子"]
    assert {m["household_head"] for m in doc["members"]} == {"髙橋\u3000健一"}
    assert all("honseki" not in m for m in doc["members"])
    for h in (residents.head, residents.child):
        after = records(desk, h)
        assert len(after) == before[h] + 1
        assert (after[-1].decision, after[-1].purpose, after[-1].actor) == ("allow", "certificate.wide-area", CHIYODA)
    # 本籍 is refused for the whole household at another counter, as for one person
    with pytest.raises(Refused, match="item-not-allowed:honseki"):
        desk.issue(ask(residents.child, scope="household", items=("honseki",)), form="json")


def test_a_protected_member_is_withheld_from_a_third_partys_household_certificate(
    desk: Desk, residents: Residents
) -> None:
    third = ask(residents.protected_member, kind="third-party", requester="office:lawyer-2", reason="訴訟のため",
                scope="household")  # fmt: skip
    doc = json.loads(desk.issue(third, form="json").body)["certificate"]
    assert [m["name"] for m in doc["members"]] == ["佐藤\u3000桜"]
    assert "花子" not in json.dumps(doc, ensure_ascii=False)  # named nowhere, not even as withheld
    last = records(desk, residents.protected)[-1]
    assert last.decision == "deny" and "protected-third-party" in last.reason_codes and last.items == ""
    # the member herself gets the whole household, her protected mother included
    own = json.loads(desk.issue(ask(residents.protected_member, scope="household"), form="json").body)
    assert [m["name"] for m in own["certificate"]["members"]] == ["佐藤\u3000花子", "佐藤\u3000桜"]
    # and a third party asking for the protected resident's household is refused whole
    with pytest.raises(Refused, match="protected-third-party"):
        desk.issue(
            ask(residents.protected, kind="third-party", requester="office:lawyer-2", reason="訴訟", scope="household"),
            form="json",
        )


def test_a_closed_records_copy_is_issued_from_the_jyohyo(desk: Desk, residents: Residents) -> None:
    with pytest.raises(Refused, match="active record only"):
        desk.issue(ask(residents.deceased), form="json")
    issued = desk.issue(ask(residents.deceased, closed=True, items=("household",)), form="json")
    doc = json.loads(issued.body)["certificate"]
    assert doc["record"] == "closed"
    assert doc["certification"] == "この写しは除票の原本と相違ないことを証明する。"
    assert doc["person"]["name"] == "田中\u3000一郎"
    closure = doc["person"]["closed"]
    assert (closure["reason"], closure["on"], closure["destination"]) == ("死亡", "令和8年11月1日", "")
    last = records(desk, residents.deceased)[-1]
    assert (last.decision, last.purpose) == ("allow", "certificate.wide-area")
    # an active record has no 除票
    with pytest.raises(Refused, match="closed record only"):
        desk.issue(ask(residents.head, closed=True), form="json")
    with pytest.raises(InvalidInput):
        ask(residents.deceased, closed=True, scope="household")
