"""A certificate asked for at one municipality's node and issued by another's, over the network: `sekisho up` on a
home set up with the README's commands (tests/node/flownet.py), then `sekisho certificate request --at 131016
--for H@212016` — the counter's party calls the home's node over mutual TLS with its terminal's signature, and the
home's node gets its timestamp and CRL from the PKI's process.  The files it returns verify with `sekisho
certificate verify` and with `pdfsig`; a JSON form stripped of its CRL verifies only `--online`, by the CRL the PKI's
process serves."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from homes import drop_namespace, new_namespace
from node.flownet import CODE, Prepared, prepare, sekisho
from node.procs import PG_URL, Running, start
from sekisho.config import Home

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils: scripts/install-system-deps"),
]
COUNTER = "131016"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prepared]:
    namespace = new_namespace()
    home = Home(root=tmp_path_factory.mktemp("certnet") / "home", db_url=PG_URL, namespace=namespace)
    home.root.mkdir()
    out = prepare(home, cards=0)
    sekisho(home, "certificate", "init", "-m", CODE)
    yield out
    drop_namespace(namespace)


@pytest.fixture(scope="module")
def network(prepared: Prepared) -> Iterator[Running]:
    running = start(prepared.home, "up", "--municipalities", f"{CODE},{COUNTER}", "--agencies", "pension")
    running.wait_for("ready:")
    yield running
    running.stop()


def test_a_counter_elsewhere_gets_a_signed_pdf_over_the_network(prepared: Prepared, network: Running) -> None:
    home, handle = prepared.home, prepared.handles[0]
    out = home.root / "juminhyo.pdf"
    said = sekisho(home, "certificate", "request", "--at", COUNTER, "--for", f"{handle}@{CODE}", "--with", "kana",
                   "--out", str(out), "--json")  # fmt: skip
    assert json.loads(said.stdout)["serial"].startswith(f"{CODE}-")
    verified = json.loads(sekisho(home, "certificate", "verify", str(out), "--json").stdout)
    assert verified["valid"] and verified["municipality"] == CODE
    report = subprocess.run(["pdfsig", str(out)], capture_output=True, text=True, timeout=60, check=False).stdout
    assert "Signature is Valid." in report and "Total document signed" in report


def test_the_json_form_over_the_network_and_a_refusal_with_its_exit_code(prepared: Prepared, network: Running) -> None:
    home, handle = prepared.home, prepared.handles[1]
    out = home.root / "juminhyo.json"
    sekisho(home, "certificate", "request", "--at", COUNTER, "--for", f"{handle}@{CODE}", "--out", str(out))
    assert "valid" in sekisho(home, "certificate", "verify", str(out)).stdout
    # its CRL stripped, it verifies only online: by the CA's current CRL from the network's PKI process
    stripped = home.root / "stripped.json"
    stripped.write_text(json.dumps({k: v for k, v in json.loads(out.read_text()).items() if k != "crl"}))
    offline = sekisho(home, "certificate", "verify", str(stripped), check=False)
    assert offline.returncode == 4 and "no revocation data" in offline.stderr
    online = json.loads(sekisho(home, "certificate", "verify", str(stripped), "--online", "--json").stdout)
    assert online["valid"] and online["municipality"] == CODE
    # the whole household's certificate over the same path
    household = home.root / "household.json"
    sekisho(home, "certificate", "request", "--at", COUNTER, "--for", f"{handle}@{CODE}", "--whole-household",
            "--with", "household", "--out", str(household))  # fmt: skip
    members = json.loads(household.read_text(encoding="utf-8"))["certificate"]["members"]
    assert members and all(m["address"] for m in members)
    assert "valid" in sekisho(home, "certificate", "verify", str(household)).stdout
    refused = sekisho(home, "certificate", "request", "--at", COUNTER, "--for", f"{handle}@{CODE}", "--with",
                      "honseki", "--out", str(home.root / "no.pdf"), check=False)  # fmt: skip
    assert refused.returncode == 3, refused.stderr
    assert "item-not-allowed:honseki" in refused.stderr
    assert not (home.root / "no.pdf").exists()
