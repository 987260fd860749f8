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
# the real card's rules: a 4-digit authentication PIN, a signing password of 6..16 uppercase letters and digits
AUTH_PIN = "4321"
SIGNING_PASSWORD = "SIGN2026"


@pytest.fixture
def cli(home: Home, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        "SEKISHO_HOME": str(home.root),
        "SEKISHO_PASSPHRASE": PASSPHRASE,
        "SEKISHO_CARD_PIN": AUTH_PIN,
        "SEKISHO_SIGNING_PIN": SIGNING_PASSWORD,
        "SEKISHO_DB_NAMESPACE": home.namespace,
        "SEKISHO_DB": home.db_url or "",
    }

    def run(*args: str, code: int = 0, **environ: str | None) -> str:
        result = runner.invoke(
            app, list(args) if args[0] in ("registry", "network") else ["pki", *args], env=env | environ
        )
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


# --- prefecture arguments: one parser, the same forms everywhere ------------------------------------------------

SAME_PREFECTURE = ("1", "01", "北海道", "０１")  # number, JIS code, name, full-width code
NOT_A_PREFECTURE = ("0", "48", "001", "1.0", "北海", "Hokkaido", "pref-", "")


def test_parse_prefecture_accepts_number_code_and_name_of_all_47() -> None:
    from sekisho.errors import InvalidInput
    from sekisho.pki.prefectures import parse_prefecture, prefectures

    for p in prefectures():
        for form in (str(int(p.code)), p.code, p.name, f" {p.name} "):
            assert parse_prefecture(form) == p
    for bad in NOT_A_PREFECTURE:
        with pytest.raises(InvalidInput) as err:
            parse_prefecture(bad, field="for")
        assert err.value.field == "for"


def _card_at_ca_level(home: Home, tmp_path: Path, name: str) -> tuple[Path, Path, str]:
    """A card of a 北海道 resident, certified straight at the CA (the register is not what these tests are about)."""
    from sekisho.pki import hierarchy, issuance
    from sekisho.pki.card import SoftwareCard
    from sekisho.pki.oids import Purpose

    from .conftest import ITEMS, new_owner

    pki = hierarchy.Pki.open(home)
    card = SoftwareCard.create(tmp_path / f"{name}.card", auth_pin=AUTH_PIN, sign_pin=SIGNING_PASSWORD)
    issued = issuance.issue(
        pki,
        owner=new_owner(),
        municipality="011002",
        authentication_csr=card.csr(Purpose.AUTHENTICATION, pin=AUTH_PIN),
        signature_csr=card.csr(Purpose.SIGNATURE, pin=SIGNING_PASSWORD),
        items=ITEMS,
    )
    assert issued.authentication is not None and issued.signature is not None
    card.install(Purpose.AUTHENTICATION, issued.authentication)
    card.install(Purpose.SIGNATURE, issued.signature)
    pki.engine.dispose()
    auth, _ = _certs(tmp_path / f"{name}.card", tmp_path)
    return tmp_path / f"{name}.card", auth, format(issued.signature.serial_number, "x")


def test_every_prefecture_argument_takes_the_same_forms(
    cli, home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """`pki export-chain --for 1` was refused while `pki crl 1` was accepted: every command now parses its
    prefecture with one parser, so every form names the same prefecture everywhere."""
    import uvicorn

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(app))
    cli("init")
    chain = cli("export-chain", "--for", "01")
    root = cli("export-chain", "--roots", "--for", "01")
    hokkaido = x509.load_pem_x509_certificate(root.encode()).subject
    for n, form in enumerate(SAME_PREFECTURE):
        assert cli("export-chain", "--for", form) == chain, form
        assert cli("export-chain", "--roots", "--for", form) == root, form
        assert x509.load_pem_x509_crl(cli("crl", form).encode()).issuer == hokkaido, form
        card, auth, sign_serial = _card_at_ca_level(home, tmp_path, f"c{n}")
        assert "OK" in cli("verify", str(auth), "--trust", form)
        assert "logged in" in cli("login", "--card", str(card), "--trust", form)
        assert "revoked" in cli("revoke", "--serial", sign_serial, "--only", "--ca", form)
        cli("serve", "--trust", form)
    assert len(served) == len(SAME_PREFECTURE)
    card, _, sign_serial = _card_at_ca_level(home, tmp_path, "by-ca-id")
    assert "revoked" in cli("revoke", "--serial", sign_serial, "--only", "--ca", "pref-01")  # the CA's own id too


def test_a_bad_prefecture_argument_is_one_line_naming_the_option(cli, home: Home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    card, auth, serial = _card_at_ca_level(home, tmp_path, "c")
    for bad in NOT_A_PREFECTURE:
        for args, field in (
            (("export-chain", "--for", bad), "for"),
            (("export-chain", "--roots", "--for", bad), "for"),
            (("crl", bad), "ca"),
            (("verify", str(auth), "--trust", bad), "trust"),
            (("login", "--card", str(card), "--trust", bad), "trust"),
            (("revoke", "--serial", serial, "--only", "--ca", bad), "ca"),
            (("serve", "--trust", bad), "trust"),
        ):
            out = cli(*args, code=2)
            assert out.strip().count("\n") == 0 and f"{field}: " in out, (args, out)


# --- the card's two secrets ----------------------------------------------------------------------------------------


def _issue_new_card(cli, home: Home, tmp_path: Path, name: str, code: int = 0, **environ: str | None) -> str:  # type: ignore[no-untyped-def]
    card = tmp_path / f"{name}.card"
    # a resident of their own per card (one live record per person: each lives at another 番)
    handle = _add(cli, "健一", "ケンイチ", f"4丁目{sum(map(ord, name)) % 60 + 1}番1号")
    return str(cli("issue", "--municipality", GIFU, "--handle", handle, "--card-out", str(card), code=code, **environ))


def test_each_card_slot_has_its_own_secret(cli, home: Home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """docs/pki.md says each slot has its own PIN, as the マイナンバーカード has; the CLI took one SEKISHO_CARD_PIN for
    both.  Now SEKISHO_CARD_PIN opens the authentication slot only and SEKISHO_SIGNING_PIN the signature slot."""
    from sekisho.errors import Refused
    from sekisho.pki.card import SoftwareCard
    from sekisho.pki.oids import Purpose

    cli("init")
    _shipped_policy(home)
    cli("init")
    cli("registry", "init", "-m", GIFU)
    _issue_new_card(cli, home, tmp_path, "k")
    card = SoftwareCard.open(tmp_path / "k.card")
    card.sign(Purpose.AUTHENTICATION, b"x", pin=AUTH_PIN)
    card.sign(Purpose.SIGNATURE, b"x", pin=SIGNING_PASSWORD)
    with pytest.raises(Refused):
        card.sign(Purpose.SIGNATURE, b"x", pin=AUTH_PIN)
    with pytest.raises(Refused):
        card.sign(Purpose.AUTHENTICATION, b"x", pin=SIGNING_PASSWORD)
    # login needs only the authentication PIN; a wrong one is refused
    assert "logged in" in cli("login", "--card", str(tmp_path / "k.card"), SEKISHO_SIGNING_PIN=None)
    assert "wrong PIN" in cli("login", "--card", str(tmp_path / "k.card"), SEKISHO_CARD_PIN="9999", code=3)


def test_a_new_cards_secrets_follow_the_real_cards_rules(cli, home: Home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    _shipped_policy(home)
    cli("init")
    cli("registry", "init", "-m", GIFU)
    refusals = (
        ({"SEKISHO_SIGNING_PIN": None}, "SEKISHO_SIGNING_PIN: set SEKISHO_SIGNING_PIN"),
        ({"SEKISHO_CARD_PIN": None}, "SEKISHO_CARD_PIN: set SEKISHO_CARD_PIN"),
        ({"SEKISHO_CARD_PIN": "12345"}, "SEKISHO_CARD_PIN: the authentication PIN is 4 digits"),
        ({"SEKISHO_CARD_PIN": "abcd"}, "SEKISHO_CARD_PIN: the authentication PIN is 4 digits"),
        ({"SEKISHO_SIGNING_PIN": "AB123"}, "SEKISHO_SIGNING_PIN: the signing password is 6 to 16"),
        ({"SEKISHO_SIGNING_PIN": "A" * 8}, "SEKISHO_SIGNING_PIN: the signing password is 6 to 16"),
        ({"SEKISHO_SIGNING_PIN": "12345678"}, "SEKISHO_SIGNING_PIN: the signing password is 6 to 16"),
        ({"SEKISHO_SIGNING_PIN": "sign2026"}, "SEKISHO_SIGNING_PIN: the signing password is 6 to 16"),
        ({"SEKISHO_SIGNING_PIN": "A1" * 9}, "SEKISHO_SIGNING_PIN: the signing password is 6 to 16"),
    )
    for n, (environ, message) in enumerate(refusals):
        out = _issue_new_card(cli, home, tmp_path, f"r{n}", code=2, **environ)
        assert message in out, (environ, out)
        assert "1234" not in out and "AB123" not in out  # the secret itself is never echoed
        assert not (tmp_path / f"r{n}.card").exists()


def test_a_refused_secret_is_refused_before_any_party_is_opened(cli, home: Home) -> None:  # type: ignore[no-untyped-def]
    out = cli("issue", "--municipality", GIFU, "--handle", "0000-0000-000", SEKISHO_CARD_PIN="12", code=2)
    assert "SEKISHO_CARD_PIN: the authentication PIN is 4 digits" in out
    assert list(home.root.iterdir()) == []
