"""`sekisho pki …` end to end: parse, call the service, print; errors as one line and an exit code.  A card comes
from the register (through the PKI's enrolment), and the register's notices revoke it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from pep_network import FAST_N
from sekisho.cli import app
from sekisho.config import Home
from sekisho.jp.clock import japan_today

from .conftest import PASSPHRASE

runner = CliRunner()
GIFU = "212016"


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
        result = runner.invoke(app, list(args) if args[0] in ("registry", "network") else ["pki", *args], env=env)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    return run


def _shipped_policy(home: Home) -> None:
    """The key ceremony and the watchdog's approval of the PKI's shipped PIA (as `sekisho network init` and
    `sekisho pia approve` would do)."""
    from importlib import resources

    from sekisho.policy.pia import load_pia
    from sekisho.policy.service import Watchdog
    from sekisho.pseudonyms.service import init_network

    init_network(home, passphrase=PASSPHRASE.encode(), scrypt_n=FAST_N)
    wd = Watchdog.open(home, passphrase=PASSPHRASE.encode(), scrypt_n=FAST_N)
    pia = load_pia(Path(str(resources.files("sekisho.policy.data").joinpath("pias", "pki.yaml"))))
    wd.submit_pia(pia, by="pki-officer")
    wd.approve_pia(pia.id, by="wd-officer-1")
    wd.engine.dispose()


def _add(cli, given: str, kana: str, block: str) -> str:  # type: ignore[no-untyped-def]
    added = json.loads(
        cli(
            "registry", "add", "-m", GIFU, "--family-name", "髙橋", "--given-name", given,
            "--family-kana", "タカハシ", "--given-kana", kana, "--birth-date", "昭和50年4月1日", "--sex", "男",
            "--town", "青柳町", "--block", block,
            "--became-resident-on", "平成10年4月1日", "--json",
        )
    )  # fmt: skip
    return str(added["handle"])


def _certs(card: Path, tmp_path: Path) -> tuple[Path, Path]:
    doc = json.loads(card.read_text())
    auth, sign = tmp_path / f"{card.stem}-auth.pem", tmp_path / f"{card.stem}-sign.pem"
    auth.write_text(doc["slots"]["authentication"]["certificate"])
    sign.write_text(doc["slots"]["signature"]["certificate"])
    return auth, sign


def test_cli_end_to_end(cli, home: Home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = cli("init")
    assert "47 prefectural roots" in out and "no network yet" in out
    _shipped_policy(home)
    assert "pseudonym domain pki: set up" in cli("init")  # joins the network once it exists
    assert "already set up" in cli("init")
    cli("registry", "init", "-m", GIFU)
    handle = _add(cli, "健一", "ケンイチ", "3丁目5番12号")

    card = tmp_path / "kenichi.card"
    issued = json.loads(cli("issue", "--municipality", GIFU, "--handle", handle, "--card-out", str(card), "--json"))
    for secret in ("髙橋", "1975", "青柳町", handle):
        assert secret not in json.dumps(issued, ensure_ascii=False)
    auth_pem, sign_pem = _certs(card, tmp_path)
    sign = x509.load_pem_x509_certificate(sign_pem.read_bytes())
    assert "髙橋" in sign.subject.rfc4514_string()  # from the register, not from the command line
    assert "OK" in cli("verify", str(auth_pem), "--trust", "01")
    assert "OK" in cli("verify", str(sign_pem), "--trust", "01", "--purpose", "signature")
    login = cli("login", "--card", str(card), "--trust", "47")
    assert issued["subject_id"] in login
    assert len(x509.load_pem_x509_certificates(cli("export-chain", "--for", "13").encode())) == 48
    assert len(x509.load_pem_x509_certificates(cli("export-chain", "--roots").encode())) == 48

    # one certificate alone (the resident withdraws the signature certificate)
    cli("revoke", "--serial", issued["signature_serial"], "--only", "--reason", "keyCompromise")
    crl = x509.load_pem_x509_crl(cli("crl", "21").encode())
    assert crl.get_revoked_certificate_by_serial_number(int(issued["signature_serial"], 16)) is not None
    assert "revoked (keyCompromise)" in cli("verify", str(sign_pem), "--trust", "13", "--purpose", "signature", code=4)
    assert "OK" in cli("verify", str(auth_pem), "--trust", "13")

    # the death, registered at the municipality and delivered as a change notice, revokes the rest
    cli("registry", "death", handle, "-m", GIFU, "--died-on", japan_today().isoformat())
    assert json.loads(cli("registry", "deliver-notices", "-m", GIFU, "--json"))["notices"] == 1
    assert "revoked (cessationOfOperation)" in cli("verify", str(auth_pem), "--trust", "13", code=4)


def test_cli_reissue_after_a_move_and_a_lost_card(cli, home: Home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    _shipped_policy(home)
    cli("init")
    cli("registry", "init", "-m", GIFU)
    handle = _add(cli, "花子", "ハナコ", "2丁目1番1号")
    card = tmp_path / "hanako.card"
    first = json.loads(cli("issue", "--municipality", GIFU, "--handle", handle, "--card-out", str(card), "--json"))
    auth_pem, old_sign = _certs(card, tmp_path)

    today = japan_today().isoformat()
    cli("registry", "move-within", handle, "-m", GIFU, "--town", "藍川町", "--block", "18番地", "--moved-on", today)
    cli("registry", "deliver-notices", "-m", GIFU)
    [offer] = json.loads(cli("offers", "--json"))
    assert offer["kind"] == "moved_within" and offer["owner"].startswith("sks1:pki:")
    assert "revoked (affiliationChanged)" in cli("verify", str(old_sign), "--purpose", "signature", code=4)
    assert "OK" in cli("verify", str(auth_pem))

    again = json.loads(cli("issue", "--municipality", GIFU, "--handle", handle, "--card", str(card), "--json"))
    assert again["authentication_serial"] is None and again["subject_id"] == first["subject_id"]
    assert json.loads(cli("offers", "--json")) == []
    _, new_sign = _certs(card, tmp_path)
    assert "藍川町".encode() in x509.load_pem_x509_certificate(new_sign.read_bytes()).tbs_certificate_bytes
    assert "OK" in cli("verify", str(new_sign), "--purpose", "signature")

    # the card is lost: both certificates, by the card file (its certificates are public)
    assert cli("revoke", "--card", str(card)).count("revoked") == 2
    for cert, purpose in ((auth_pem, "authentication"), (new_sign, "signature")):
        assert "revoked (keyCompromise)" in cli("verify", str(cert), "--purpose", purpose, code=4)


def test_cli_refusals(cli, home: Home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    _shipped_policy(home)
    cli("init")
    cli("registry", "init", "-m", GIFU)
    missing = tmp_path / "none.card"
    err = cli("issue", "--municipality", GIFU, "--handle", "0000-0000-000", "--card-out", str(missing), code=2)
    assert "no resident" in err
    assert not missing.exists()
    # the items come from the register only
    assert "--name" in cli("issue", "--municipality", GIFU, "--handle", "h", "--name", "x", code=2)
    both = cli("issue", "--municipality", GIFU, "--handle", "h", "--card", "a", "--card-out", "b", code=2)
    assert "not both" in both
    assert "--serial or --card" in cli("revoke", code=2)
    assert "reason" in cli("revoke", "--serial", "ab", "--reason", "whim", code=2)
