"""pki_0002 on a database that pki_0001 filled: the (municipality, handle) binding is dropped (it cannot become a
pseudonym), the certificates and their status stay, and the new tables and columns work."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from sekisho.config import Home
from sekisho.pki import store
from sekisho.storage import create_engine_for, migrate


def _upgrade(engine: sa.Engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", "sekisho.pki:migrations")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["context"] = "pki"
        command.upgrade(cfg, revision)


def test_the_handle_binding_is_dropped_and_the_certificates_stay(home: Home) -> None:
    home.party_dir("pki")  # as `pki init` does: naming a party's database creates nothing
    engine = create_engine_for(home.party_db_url("pki"), schema=home.party_schema("pki"))
    _upgrade(engine, "pki_0001")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO pki_ca (ca_id, kind, cert_der, public_key_der, subject_der, name_sha1, key_sha1,"
                " name_sha256, key_sha256, ocsp_cert_der, crl_number)"
                " VALUES ('pref-13', 'prefecture', NULL, :b, :b, :h1, :h1, :h2, :h2, :b, 0)"
            ),
            {"b": b"x", "h1": b"\x01" * 20, "h2": b"\x02" * 32},
        )
        conn.execute(
            sa.text(
                "INSERT INTO pki_cert (ca_id, serial, kind, municipality, handle, subject_id, not_before, not_after,"
                " der, issued_at, revoked_at, reason)"
                " VALUES ('pref-13', 'ab', 'authentication', '131016', '7KQ2-X9MB-T3Y', 'S', :t, :t, :b, :t, :t,"
                " 'keyCompromise')"
            ),
            {"t": now, "b": b"der"},
        )
    _upgrade(engine, "head")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("pki_cert")}
    assert {"owner", "data_as_of"} <= columns
    assert not columns & {"municipality", "handle"}
    with engine.connect() as conn:
        row = conn.execute(sa.select(store.cert)).one()
        assert (row.serial, row.owner, row.reason) == ("ab", None, "keyCompromise")
        assert conn.execute(sa.select(sa.func.count()).select_from(store.offer)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(store.issuance)).scalar_one() == 0
    migrate(engine, "pki")  # already at head: nothing to do
    engine.dispose()
