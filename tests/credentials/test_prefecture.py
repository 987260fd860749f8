"""Prefecture-run issuance (sekisho.credentials.prefecture): one key and one shared status list for 岐阜県, two
municipalities vouching for their residents, register events revoking through the prefecture."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from tests.credentials.conftest import AUDIENCE, NONCE, PASSPHRASE, RESIDENT, TODAY, now_ts

from sekisho.config import Home
from sekisho.credentials import prefecture
from sekisho.credentials import store as vc_store
from sekisho.credentials.issuer import Issuer
from sekisho.credentials.store import CONTEXT, SqlState, open_state
from sekisho.errors import Forbidden
from sekisho.node.local import LocalDirectory
from sekisho.node.registers import create_register
from sekisho.pki import hierarchy as pki_hierarchy
from sekisho.pki import issuance as pki_issuance
from sekisho.pki import status as pki_status
from sekisho.registry.events import CredentialEvents
from sekisho.registry.service import Actor, RegisterService
from sekisho.storage import open_party_db
from sekisho.vc import sdjwt
from sekisho.verifier.verify import Verified, Verifier

OGAKI = "212024"  # 大垣市, also in 岐阜県
KEYS = {"212016": b"gifu-city-ref-key", OGAKI: b"ogaki-city-ref-key"}


@pytest.fixture(scope="module")
def ogaki(net_home: Home) -> RegisterService:
    return create_register(
        net_home,
        OGAKI,
        actor=Actor(clerk="clerk-3"),
        today=lambda: TODAY,
        directory=LocalDirectory(net_home, today=lambda: TODAY),
    )


@pytest.fixture
def desk(pki: pki_hierarchy.Pki, net_home: Home, tmp_path: Path) -> prefecture.PrefectureDesk:
    # the shared list in the prefecture's database (the PKI party's, where its login issuer lives too), emptied
    shared = SqlState(open_party_db(net_home, "pki", [CONTEXT]))
    with shared.engine.begin() as conn:
        conn.execute(vc_store.status.delete())
    issuer = Issuer.create(
        tmp_path / "pref",
        municipality="21",
        certify=lambda key: pki_issuance.certify_credential_issuer(pki, municipality="21", public_key=key),
        passphrase=PASSPHRASE,
        base_url="https://pref.gifu.example",
        state=shared,
        today=lambda: TODAY,
        status_size=1 << 12,
    )
    return prefecture.PrefectureDesk(issuer, shared)


def _cursor(net_home: Home, register: RegisterService) -> SqlState:
    """The municipality's own cursor over its register's events, past those of earlier tests."""
    st = open_state(net_home, register.code)
    st.forward_events(CredentialEvents(register.engine).revoking_since, lambda latest: None)
    return st


def _issue(
    desk: prefecture.PrefectureDesk, register: RegisterService, handle: str, n: int = 2
) -> tuple[tuple[str, ...], list[ec.EllipticCurvePrivateKey]]:
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(n)]
    issued = prefecture.vouch(
        desk,
        register,
        CredentialEvents(register.engine),
        municipality=register.code,
        key=KEYS[register.code],
        handle=handle,
        holder_keys=[k.public_key() for k in keys],
    )
    return issued.credentials, keys


def _verify(verifier: Verifier, credential: str, key: ec.EllipticCurvePrivateKey, claims: list[str]) -> Verified:
    text = sdjwt.present(credential, claims, holder_key=key, nonce=NONCE, audience=AUDIENCE, iat=now_ts())
    return verifier.verify(text, nonce=NONCE, audience=AUDIENCE)


def test_two_municipalities_one_key_one_list_and_only_the_prefecture_shows(
    pki: pki_hierarchy.Pki,
    desk: prefecture.PrefectureDesk,
    register: RegisterService,
    handle: str,
    ogaki: RegisterService,
) -> None:
    other = ogaki.add({**RESIDENT, "given_name": "花子", "given_name_kana": "はなこ"}).handle
    gifu_creds, gifu_keys = _issue(desk, register, handle)
    ogaki_creds, ogaki_keys = _issue(desk, ogaki, other)
    verifier = Verifier(
        chain=pki_status.CredentialChainValidator(pki, "13"), status=lambda uri: desk.issuer.status_list_token()
    )
    seen = set()
    for cred, key in [*zip(gifu_creds, gifu_keys, strict=True), *zip(ogaki_creds, ogaki_keys, strict=True)]:
        verified = _verify(verifier, cred, key, ["prefecture"])
        assert verified.issuer == "21" and verified.claims == {"prefecture": "岐阜県"}
        parts = sdjwt.split(cred)
        header = sdjwt.unverified_header(parts.jwt, field="jwt")
        payload = sdjwt.unverified_payload(parts.jwt, field="jwt")
        # nothing visible names the municipality: iss, the status list, the certificate's subject
        assert payload["iss"] == "https://pref.gifu.example/credentials/21"
        assert payload["status"]["status_list"]["uri"] == "https://pref.gifu.example/credentials/21/status"
        leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
        assert leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "21"
        seen.add(payload["status"]["status_list"]["idx"])
    assert len(seen) == 4  # drawn from one list, none shared
    # the municipality is there for a verifier the resident shows it to
    assert _verify(verifier, gifu_creds[0], gifu_keys[0], ["municipality"]).claims == {"municipality": "岐阜市"}


def test_register_events_revoke_through_the_prefecture_and_only_the_vouching_municipalitys(
    pki: pki_hierarchy.Pki,
    net_home: Home,
    desk: prefecture.PrefectureDesk,
    register: RegisterService,
    ogaki: RegisterService,
) -> None:
    dying = register.add({**RESIDENT, "household": "h9", "given_name": "一郎"}).handle
    neighbour = ogaki.add({**RESIDENT, "household": "h8", "given_name": "次郎"}).handle
    cursor = _cursor(net_home, register)
    dead_creds, dead_keys = _issue(desk, register, dying)
    live_creds, live_keys = _issue(desk, ogaki, neighbour)
    verifier = Verifier(
        chain=pki_status.CredentialChainValidator(pki, "21"), status=lambda uri: desk.issuer.status_list_token()
    )
    _verify(verifier, dead_creds[0], dead_keys[0], ["prefecture"])
    # 大垣市 cannot reach 岐阜市's resident, even with the right reference: its calls name its own subjects
    ref = prefecture.resident_ref(KEYS[register.code], CredentialEvents(register.engine).canonical(dying))
    assert desk.revoke(municipality=OGAKI, events={ref: datetime.now(UTC)}) == 0
    assert desk.revoke_all(municipality=OGAKI, refs=[ref]) == 0
    _verify(verifier, dead_creds[0], dead_keys[0], ["prefecture"])
    # the death, pushed by 岐阜市's node: both credentials of the batch revoked, the neighbour's untouched
    register.death(dying, died_on="2026-11-19")
    assert (
        prefecture.push_events(
            desk, CredentialEvents(register.engine), cursor, municipality=register.code, key=KEYS[register.code]
        )
        >= 1
    )
    for cred, key in zip(dead_creds, dead_keys, strict=True):
        with pytest.raises(sdjwt.VerificationFailed, match="revoked"):
            _verify(verifier, cred, key, ["prefecture"])
    _verify(verifier, live_creds[0], live_keys[0], ["prefecture"])
    # a second push sends nothing new
    assert (
        prefecture.push_events(
            desk, CredentialEvents(register.engine), cursor, municipality=register.code, key=KEYS[register.code]
        )
        == 0
    )


def test_the_desk_refuses_what_is_not_its_prefectures_or_not_the_callers(
    desk: prefecture.PrefectureDesk, register: RegisterService, handle: str
) -> None:
    keys = [ec.generate_private_key(ec.SECP256R1()).public_key()]
    items = register.credential_items(handle)
    ref = prefecture.resident_ref(b"k", handle)
    with pytest.raises(Forbidden, match="prefecture"):  # 千代田区 is not in 岐阜県
        desk.issue(municipality="131016", ref=ref, items=items, holder_keys=keys)
    with pytest.raises(Forbidden, match="own residents"):  # 大垣市 vouching with 岐阜市's record
        desk.issue(municipality=OGAKI, ref=ref, items=items, holder_keys=keys)
