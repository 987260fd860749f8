"""`sekisho certificate init|request|verify`: parse, call, print; errors as one line and an exit code."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sekisho.certificates.service import Desk
from sekisho.cli import app
from sekisho.config import Home

from .conftest import CHIYODA, GIFU, PASSPHRASE, Residents

runner = CliRunner()
Run = Callable[..., str]


@pytest.fixture
def cli(cert_home: Home, desk: Desk) -> Run:
    env = {
        "SEKISHO_HOME": str(cert_home.root),
        "SEKISHO_PASSPHRASE": PASSPHRASE.decode(),
        "SEKISHO_DB_NAMESPACE": cert_home.namespace,
        "SEKISHO_DB": cert_home.db_url or "",
    }

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["certificate", *args], env=env)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    return run


def test_request_then_verify_both_forms(cli: Run, residents: Residents, tmp_path: Path) -> None:
    pdf, doc = tmp_path / "juminhyo.pdf", tmp_path / "juminhyo.json"
    said = cli("request", "--at", CHIYODA, "--for", f"{residents.child}@{GIFU}", "--with", "kana,household",
               "--out", str(pdf))  # fmt: skip
    assert "certificate 212016-" in said
    assert pdf.read_bytes().startswith(b"%PDF-")
    verified = json.loads(cli("verify", str(pdf), "--json"))
    assert verified["valid"] is True and verified["municipality"] == GIFU and verified["form"] == "pdf"
    cli("request", "--at", GIFU, "--for", f"{residents.head}@{GIFU}", "--with", "honseki", "--out", str(doc))
    assert json.loads(doc.read_text(encoding="utf-8"))["certificate"]["person"]["honseki"]
    assert "valid" in cli("verify", str(doc))


def test_a_tampered_file_fails_verification_with_exit_4(cli: Run, residents: Residents, tmp_path: Path) -> None:
    pdf = tmp_path / "c.pdf"
    cli("request", "--at", CHIYODA, "--for", f"{residents.head}@{GIFU}", "--out", str(pdf))
    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0x20
    pdf.write_bytes(bytes(data))
    assert "error" in cli("verify", str(pdf), code=4)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--for", "NOHOME", "--out", "x.pdf"], 2),  # no @HOME
        (["--for", "7KQ2-X9MB-T3Y@999999", "--out", "x.pdf"], 2),  # no such municipality
        (["--for", "{h}@212016", "--out", "x.txt"], 2),  # neither .pdf nor .json
        (["--for", "{h}@212016", "--out", "x.pdf", "--with", "everything"], 2),
        (["--for", "{h}@212016", "--out", "x.pdf", "--as", "proxy"], 2),  # a proxy names its mandate
        (["--for", "{h}@212016", "--out", "x.pdf", "--as", "third-party", "--requester", "office:1"], 3),  # no reason
        (["--for", "{h}@212016", "--out", "x.pdf", "--with", "honseki"], 3),  # 本籍 at another counter
    ],
)
def test_bad_requests_say_why_in_one_line(
    cli: Run, residents: Residents, tmp_path: Path, args: list[str], code: int
) -> None:
    filled = [a.replace("{h}", residents.head).replace("x.", str(tmp_path / "x.")) for a in args]
    out = cli("request", "--at", CHIYODA, *filled, code=code)
    assert out.count("\n") == 1 and out.startswith("sekisho: error:")
    assert not (tmp_path / "x.pdf").exists()


def test_init_certifies_once(cli: Run) -> None:
    assert "certified by the organisation CA" in cli("init", "-m", CHIYODA)
    assert "already has a certificate signer" in cli("init", "-m", CHIYODA, code=2)


def test_verify_of_something_else_is_bad_input(cli: Run, tmp_path: Path) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_text("hello", encoding="utf-8")
    cli("verify", str(junk), code=2)
    cli("verify", str(tmp_path / "missing.pdf"), code=2)


def test_a_json_form_without_its_crl_fails_unless_verified_online(
    cli: Run, residents: Residents, tmp_path: Path
) -> None:
    doc = tmp_path / "juminhyo.json"
    cli("request", "--at", CHIYODA, "--for", f"{residents.head}@{GIFU}", "--out", str(doc))
    stripped = tmp_path / "stripped.json"
    data = json.loads(doc.read_text(encoding="utf-8"))
    del data["crl"]
    stripped.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    said = cli("verify", str(stripped), code=4)
    assert said.count("\n") == 1 and "no revocation data" in said
    # online, with a PKI that does not answer: unavailable (exit 5), not valid
    said = cli("verify", str(stripped), "--online", "--crl-url", "http://127.0.0.1:1/pki/crl/org.crl", code=5)
    assert said.count("\n") == 1
    cli("verify", str(stripped), "--crl-url", "http://127.0.0.1:1/pki/crl/org.crl", code=2)  # needs --online


def test_a_whole_household_and_a_jyohyo_from_the_command_line(cli: Run, residents: Residents, tmp_path: Path) -> None:
    household, jyohyo = tmp_path / "household.json", tmp_path / "jyohyo.json"
    cli("request", "--at", CHIYODA, "--for", f"{residents.child}@{GIFU}", "--whole-household", "--with", "household",
        "--out", str(household))  # fmt: skip
    members = json.loads(household.read_text(encoding="utf-8"))["certificate"]["members"]
    assert [m["relationship"] for m in members] == ["世帯主", "子"]
    assert "valid" in cli("verify", str(household))
    said = cli("request", "--at", GIFU, "--for", f"{residents.deceased}@{GIFU}", "--out", str(jyohyo), code=3)
    assert "active record only" in said and said.count("\n") == 1
    cli("request", "--at", GIFU, "--for", f"{residents.deceased}@{GIFU}", "--closed", "--out", str(jyohyo))
    assert json.loads(jyohyo.read_text(encoding="utf-8"))["certificate"]["record"] == "closed"
    assert "valid" in cli("verify", str(jyohyo))
    said = cli("request", "--at", GIFU, "--for", f"{residents.deceased}@{GIFU}", "--closed", "--whole-household",
               "--out", str(tmp_path / "no.json"), code=2)  # fmt: skip
    assert said.count("\n") == 1
