"""Certificate fixtures: one PKI (organisation CA, time-stamp authority) and one 岐阜市 register per session, with a
household of two, a foreign resident and a protected resident; 岐阜市's certificate signer certified once; the
desk opened on SQLite or PostgreSQL (``SEKISHO_TEST_DB``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography import x509

from homes import session_home
from sekisho.certificates.service import Desk
from sekisho.certificates.signing import DocumentSigner
from sekisho.config import Home
from sekisho.node.registers import create_register
from sekisho.node.residence import municipality_root, open_desk
from sekisho.pki import hierarchy as pki_service
from sekisho.pki.profiles import ORGANISATION
from sekisho.pki.signers import certify_document_signer
from sekisho.policy.municipality import MunicipalityPolicy
from sekisho.policy.service import Watchdog
from sekisho.registry.service import Actor

PASSPHRASE = b"correct horse battery staple"
PG_URL = os.environ.get("SEKISHO_TEST_DB") or None
GIFU = "212016"  # 岐阜市: the home
CHIYODA = "131016"  # 千代田区: a counter elsewhere (広域交付)

HEAD = {
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
CHILD = {
    **HEAD,
    "relationship": "子",
    "given_name": "𠮷子",
    "given_name_kana": "よしこ",
    "birth_date": "平成31年4月30日",
    "sex": "女",
    "became_resident_on": "平成31年4月30日",
    "address_set_on": "平成31年4月30日",
}
FOREIGNER = {
    "household": "f1",
    "relationship": "世帯主",
    "alphabet_name": "NGUYEN VAN AN",
    "birth_date": "1995-07-14",
    "sex": "M",
    "nationality": "ベトナム",
    "foreign_category": "中長期在留者",
    "residence_status": "技術・人文知識・国際業務",
    "period_of_stay": "3年",
    "stay_expiry": "2028-03-31",
    "residence_card_number": "AB12345678CD",
    "became_foreign_resident_on": "2023-04-01",
    "town": "藍川町",
    "block": "18番地",
    "became_resident_on": "2023-04-05",
    "address_set_on": "2023-04-05",
}
PROTECTED = {**HEAD, "household": "p1", "family_name": "佐藤", "given_name": "花子", "family_name_kana": "さとう",
             "given_name_kana": "はなこ", "sex": "女", "hittousha": "佐藤　花子"}  # fmt: skip
#: a member of the protected resident's household, under no measure of their own
PROTECTED_MEMBER = {**PROTECTED, "relationship": "子", "given_name": "桜", "given_name_kana": "さくら",
                    "birth_date": "平成20年5月5日", "became_resident_on": "平成20年5月5日",
                    "address_set_on": "平成20年5月5日"}  # fmt: skip
#: died: the home keeps the closed record (除票)
DECEASED = {**HEAD, "household": "d1", "family_name": "田中", "given_name": "一郎", "family_name_kana": "たなか",
            "given_name_kana": "いちろう", "birth_date": "昭和20年1月2日", "hittousha": "田中　一郎"}  # fmt: skip

needs_poppler = pytest.mark.skipif(
    shutil.which("pdfsig") is None or shutil.which("pdftoppm") is None,
    reason="poppler-utils is installed by scripts/install-system-deps",
)
if (shutil.which("pdfsig") is None or shutil.which("pdftoppm") is None) and os.environ.get("CI"):
    raise RuntimeError("poppler-utils missing: run scripts/install-system-deps")


@dataclass
class Residents:
    head: str
    child: str
    foreigner: str
    protected: str
    protected_member: str
    deceased: str


@pytest.fixture(scope="session")
def cert_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    with session_home(tmp_path_factory.mktemp("certificates") / "home", PASSPHRASE) as h:
        yield h


@pytest.fixture(scope="session")
def pki(cert_home: Home) -> pki_service.Pki:
    return pki_service.init(cert_home)


@pytest.fixture(scope="session")
def org_root(pki: pki_service.Pki) -> x509.Certificate:
    """The published trust root: the organisation CA's certificate."""
    return pki_service.ca_certificate(pki.engine, ORGANISATION)


@pytest.fixture(scope="session")
def residents(cert_home: Home) -> Residents:
    register = create_register(cert_home, GIFU, actor=Actor(clerk="clerk-7"))
    try:
        head = register.add(HEAD)
        protected = register.add(PROTECTED)
        deceased = register.add(DECEASED).handle
        register.death(deceased, died_on="2026-11-01")
        out = Residents(
            head=head.handle,
            child=register.add(CHILD, household=head.household).handle,
            foreigner=register.add(FOREIGNER).handle,
            protected=protected.handle,
            protected_member=register.add(PROTECTED_MEMBER, household=protected.household).handle,
            deceased=deceased,
        )
    finally:
        register.engine.dispose()
    policy = MunicipalityPolicy.open(cert_home, GIFU)
    policy.add_measure(
        handle=out.protected, kind="dv", by="clerk-7", provisional=False, named_requesters=["office:named-1"]
    )
    policy.register_for_notices(out.head)
    policy.engine.dispose()
    return out


@pytest.fixture(scope="session")
def signer_chain(cert_home: Home, pki: pki_service.Pki) -> list[x509.Certificate]:
    return DocumentSigner.create_files(
        municipality_root(cert_home, GIFU, create=True),
        certify=lambda key: certify_document_signer(pki, municipality=GIFU, public_key=key),
        passphrase=PASSPHRASE,
    )


@pytest.fixture(scope="session")
def desk(cert_home: Home, residents: Residents, signer_chain: list[x509.Certificate]) -> Desk:
    Watchdog.open(cert_home, create=True).engine.dispose()  # the national decision point's tables
    return open_desk(cert_home, GIFU, passphrase=PASSPHRASE)
