"""The agencies' part of `sekisho demo` (what the lead's demo calls)."""

from __future__ import annotations

import hashlib

from rich.console import Console

from pep_network import GIFU, TODAY, person
from sekisho.config import Home
from sekisho.node.demo_agencies import AGENCIES, run_agencies
from sekisho.node.registers import create_register
from sekisho.pep.encoding import decode_pseudonym


def test_run_agencies_on_a_register_loaded_before_the_network(home: Home) -> None:
    reg = create_register(home, GIFU, today=lambda: TODAY)
    rows = [(i + 2, person(household=f"h{i}", block=f"2番{i + 1}号")) for i in range(6)]
    reg.import_rows(rows, source_sha256=hashlib.sha256(b"demo").hexdigest())
    reg.engine.dispose()
    console = Console(record=True, width=200)
    report = run_agencies(home, GIFU, console, passphrase=b"demo-pass")
    assert report.enrolled == {name: 6 for name, _p, _l in AGENCIES}
    assert len(report.samples) == 3
    for row in report.samples:
        assert len(set(row.values())) == 3 and all(row[name].startswith(f"sks1:{name}:") for name in row)
    assert report.shared_values == 0
    assert "sex" not in report.lookup_items and "name" in report.lookup_items
    assert all(kinds == ["died"] for kinds in report.notices.values())
    # the PKI: a fourth pseudonym for the card holder, and the death notice revoked the card
    assert report.pki_pseudonym.startswith("sks1:pki:")
    values = {decode_pseudonym(p)[1] for p in report.samples[-1].values()}
    assert decode_pseudonym(report.pki_pseudonym)[1] not in values
    assert report.card_before == ["good", "good"]
    assert report.card_after == ["revoked (cessationOfOperation)"] * 2
    text = console.export_text()
    assert "identifier values shared between any two of them: 0" in text
    assert "pseudonyms differ between agencies: yes" in text
