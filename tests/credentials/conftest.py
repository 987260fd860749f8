"""Credential fixtures: one PKI hierarchy and one 岐阜市 register per session, with one resident; a fresh issuer
(key certified by 岐阜県's CA, empty status list) per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from homes import session_home
from sekisho.config import Home
from sekisho.credentials import store as vc_store
from sekisho.credentials.issuer import Issuer
from sekisho.credentials.store import SqlState, open_state
from sekisho.node.local import LocalDirectory
from sekisho.node.registers import create_register
from sekisho.pki import hierarchy as pki_hierarchy
from sekisho.pki import issuance as pki_issuance
from sekisho.pki import status as pki_status
from sekisho.registry.events import CredentialEvents
from sekisho.registry.service import Actor, RegisterService
from sekisho.verifier.verify import Verifier

PASSPHRASE = b"correct horse battery staple"
PG_URL = os.environ.get("SEKISHO_TEST_DB") or None
GIFU = "212016"
TODAY = date(2026, 11, 20)
BASE = "https://gifu.example"
NONCE = "n-0S6_WzA2Mj"
AUDIENCE = "https://verifier.example"

RESIDENT = {
    "household": "h1",
    "relationship": "世帯主",
    "family_name": "髙橋",
    "given_name": "健一",
    "family_name_kana": "たかはし",
    "given_name_kana": "けんいち",
    "birth_date": "昭和50年4月1日",
    "sex": "男",
    "nationality": "日本",
    "town": "青柳町",
    "block": "3丁目5番12号",
    "katagaki": "",
    "became_resident_on": "平成10年4月1日",
    "address_set_on": "平成10年4月1日",
    "honseki": "岐阜県岐阜市青柳町3丁目5番地",
    "hittousha": "髙橋　健一",
}


@pytest.fixture(scope="session")
def net_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    with session_home(tmp_path_factory.mktemp("vc") / "home", PASSPHRASE) as h:
        yield h


@pytest.fixture(scope="session")
def pki(net_home: Home) -> pki_hierarchy.Pki:
    return pki_hierarchy.init(net_home)


@pytest.fixture(scope="session")
def register(net_home: Home) -> RegisterService:
    return create_register(
        net_home,
        GIFU,
        actor=Actor(clerk="clerk-7"),
        today=lambda: TODAY,
        directory=LocalDirectory(net_home, today=lambda: TODAY),
    )


@pytest.fixture(scope="session")
def handle(register: RegisterService) -> str:
    return register.add(RESIDENT).handle


@pytest.fixture
def state(net_home: Home, register: RegisterService) -> SqlState:
    """The issuer's tables in 岐阜市's database, emptied for each test (a fresh issuer has an empty list), with
    the cursor past the register's events so far (those of earlier tests revoke nothing of this one)."""
    st = open_state(net_home, GIFU)
    with st.engine.begin() as conn:
        for table in (vc_store.status, vc_store.secret, vc_store.cursor):
            conn.execute(table.delete())
    st.catch_up(CredentialEvents(register.engine).revoking_since)
    return st


@pytest.fixture
def issuer(pki: pki_hierarchy.Pki, tmp_path: Path, state: SqlState, register: RegisterService) -> Issuer:
    return Issuer.create(
        tmp_path / "issuer",
        municipality=GIFU,
        certify=lambda key: pki_issuance.certify_credential_issuer(pki, municipality=GIFU, public_key=key),
        passphrase=PASSPHRASE,
        base_url=BASE,
        state=state,
        events=CredentialEvents(register.engine),
        today=lambda: TODAY,
        status_size=1 << 12,
    )


@pytest.fixture
def verifier_of(pki: pki_hierarchy.Pki, issuer: Issuer) -> Callable[[str], Verifier]:
    """A verifier trusting only the root of the given prefecture (e.g. "13": 東京都, through the bridge)."""

    def make(trust: str = "21") -> Verifier:
        return Verifier(
            chain=pki_status.CredentialChainValidator(pki, trust),
            status=lambda uri: issuer.status_list_token(),
        )

    return make


@pytest.fixture
def verifier(verifier_of: Callable[[str], Verifier]) -> Verifier:
    return verifier_of("13")


@dataclass
class Batch:
    credentials: tuple[str, ...]
    keys: list[ec.EllipticCurvePrivateKey]


@pytest.fixture
def batch(issuer: Issuer, register: RegisterService, handle: str) -> Batch:
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    issued = issuer.issue_batch(handle=handle, source=register, holder_keys=[k.public_key() for k in keys])
    return Batch(credentials=issued.credentials, keys=keys)


def now_ts() -> int:
    return int(datetime.now(UTC).timestamp())
