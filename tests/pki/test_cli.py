"""`sekisho pki …` end to end: parse, call the service, print; errors as one line and an exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from sekisho.cli import app
from sekisho.config import Home

from .conftest import PASSPHRASE

runner = CliRunner()


@pytest.fixture
def cli(home: Home, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        "SEKISHO_HOME": str(home.root),
        "SEKISHO_PASSPHRASE": PASSPHRASE,
        "SEKISHO_CARD_PIN": "4321",
        "SEKISHO_DB_NAMESPACE": home.namespace,
        "SEKISHO_DB": home.db_url or "",
    }

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args) if args[0] == "registry" else ["pki", *args], env=env)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    return run


def test_cli_end_to_end(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert "47 prefectural roots" in cli("init")
    card = tmp_path / "alice.card"
    out = json.loads(
        cli(
            "issue", "--municipality", "271004", "--handle", "h-alice", "--card-out", str(card),
            "--name", "山田 花子", "--birth-date", "1990-04-01", "--sex", "F", "--address", "大阪府大阪市北区1番1号",
            "--json",
        )
    )  # fmt: skip
    for secret in ("山田", "1990", "大阪府"):
        assert secret not in json.dumps(out, ensure_ascii=False)
    doc = json.loads(card.read_text())
    auth_pem = tmp_path / "auth.pem"
    auth_pem.write_text(doc["slots"]["authentication"]["certificate"])
    sign_pem = tmp_path / "sign.pem"
    sign_pem.write_text(doc["slots"]["signature"]["certificate"])
    assert "OK" in cli("verify", str(auth_pem), "--trust", "01")
    assert "OK" in cli("verify", str(sign_pem), "--trust", "01", "--purpose", "signature")
    login = cli("login", "--card", str(card), "--trust", "47")
    assert out["subject_id"] in login
    bundle = cli("export-chain", "--for", "13")
    assert len(x509.load_pem_x509_certificates(bundle.encode())) == 48
    assert len(x509.load_pem_x509_certificates(cli("export-chain", "--roots").encode())) == 48
    cli("revoke", "--serial", out["signature_serial"], "--reason", "keyCompromise")
    crl = x509.load_pem_x509_crl(cli("crl", "27").encode())
    assert crl.get_revoked_certificate_by_serial_number(int(out["signature_serial"], 16)) is not None
    err = cli("verify", str(sign_pem), "--trust", "13", "--purpose", "signature", code=4)
    assert "revoked (keyCompromise)" in err
    assert "OK" in cli("verify", str(auth_pem), "--trust", "13")


def test_cli_issues_from_the_register(cli, home: Home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Without items on the command line, the four basic items come from the resident's register, which records
    the PKI's read; an unknown resident gets nothing (and no card is written)."""
    import sqlalchemy as sa

    from sekisho.registry import store as st
    from sekisho.registry.service import RegisterService

    cli("init")
    cli("registry", "init", "-m", "212016")
    added = json.loads(
        cli(
            "registry", "add", "-m", "212016", "--family-name", "髙橋", "--given-name", "健一",
            "--family-kana", "タカハシ", "--given-kana", "ケンイチ", "--birth-date", "昭和50年4月1日", "--sex", "男",
            "--town", "青柳町", "--block", "3丁目5番12号", "--became-resident-on", "平成10年4月1日", "--json",
        )
    )  # fmt: skip
    card = tmp_path / "k.card"
    out = json.loads(
        cli("issue", "--municipality", "212016", "--handle", added["handle"], "--card-out", str(card), "--json")
    )
    doc = json.loads(card.read_text())
    sign = x509.load_pem_x509_certificate(doc["slots"]["signature"]["certificate"].encode())
    assert "髙橋" in sign.subject.rfc4514_string()
    assert out["subject_id"]
    svc = RegisterService.open(home, "212016")
    with svc.engine.connect() as conn:
        rows = conn.execute(sa.select(st.access.c.actor_kind, st.access.c.purpose, st.access.c["items"])).all()
    assert ("pki", "pki.signature-certificate", "address,birth_date,name,sex") in [tuple(r) for r in rows]
    missing = tmp_path / "none.card"
    err = cli("issue", "--municipality", "212016", "--handle", "0000-0000-000", "--card-out", str(missing), code=2)
    assert "no resident" in err
    assert not missing.exists()
    err = cli("issue", "--municipality", "131016", "--handle", "h", "--name", "x", code=2)
    assert "all four" in err
    assert "reason" in cli("revoke", "--serial", "ab", "--reason", "whim", code=2)
