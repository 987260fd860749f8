"""PKI fixtures: one hierarchy per test session (47 roots, bridge, organisation CA), shared by the tests that
only add citizens to it; tests that need a pristine PKI use the ``home`` fixture themselves."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509

from sekisho.config import Home
from sekisho.pki import service
from sekisho.pki.card import SoftwareCard
from sekisho.pki.oids import Purpose
from sekisho.pki.profiles import BasicItems
from sekisho.storage import create_engine_for

PASSPHRASE = "correct horse battery staple"
AUTH_PIN = "1234"
SIGN_PIN = "sign-pin-5678"
PG_URL = os.environ.get("SEKISHO_TEST_DB") or None


@pytest.fixture(scope="session", autouse=True)
def _passphrase() -> Iterator[None]:
    old = os.environ.get("SEKISHO_PASSPHRASE")
    os.environ["SEKISHO_PASSPHRASE"] = PASSPHRASE
    yield
    if old is None:
        os.environ.pop("SEKISHO_PASSPHRASE", None)
    else:
        os.environ["SEKISHO_PASSPHRASE"] = old


@pytest.fixture(scope="session")
def pki_home(tmp_path_factory: pytest.TempPathFactory, _passphrase: None) -> Iterator[Home]:
    namespace = f"t{uuid.uuid4().hex[:10]}_" if PG_URL else ""
    h = Home(root=tmp_path_factory.mktemp("pki") / "home", db_url=PG_URL, namespace=namespace)
    h.root.mkdir()
    yield h
    if PG_URL:
        engine = create_engine_for(PG_URL)
        with engine.begin() as conn:
            for schema in list(
                conn.execute(
                    sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": namespace + "%"}
                ).scalars()
            ):
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture(scope="session")
def pki(pki_home: Home) -> service.Pki:
    return service.init(pki_home)


ITEMS = BasicItems(name="髙橋 𠮷子", birth_date=date(1987, 6, 5), sex="female", address="沖縄県那覇市泉崎一丁目2番2号")


@dataclass
class Citizen:
    municipality: str
    handle: str
    card: SoftwareCard
    auth: x509.Certificate
    sign: x509.Certificate
    items: BasicItems


NewCitizen = Callable[..., Citizen]


@pytest.fixture
def new_citizen(pki: service.Pki, tmp_path: Path) -> NewCitizen:
    counter = iter(range(1_000_000))

    def make(municipality: str = "472018", *, items: BasicItems = ITEMS, **kw: object) -> Citizen:
        n = next(counter)
        handle = f"h-{uuid.uuid4().hex[:12]}"
        card = SoftwareCard.create(tmp_path / f"card-{n}.card", auth_pin=AUTH_PIN, sign_pin=SIGN_PIN)
        issued = service.issue(
            pki,
            municipality=municipality,
            handle=handle,
            authentication_csr=card.csr(Purpose.AUTHENTICATION, pin=AUTH_PIN),
            signature_csr=card.csr(Purpose.SIGNATURE, pin=SIGN_PIN),
            items=items,
            **kw,  # type: ignore[arg-type]
        )
        assert issued.authentication is not None
        assert issued.signature is not None
        card.install(Purpose.AUTHENTICATION, issued.authentication)
        card.install(Purpose.SIGNATURE, issued.signature)
        return Citizen(municipality, handle, card, issued.authentication, issued.signature, items)

    return make
