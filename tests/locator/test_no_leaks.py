"""Nothing a transcryptor or the locator stores or logs holds an agency's pseudonym or anything about a person."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from typing import Any

import pytest

from pep_network import CHIYODA, GIFU, HEALTH, PENSION, TAX, World, dump_tables, enrol_one, person, standard_rules
from sekisho.locator import store as loc
from sekisho.pep.encoding import decode_pseudonym
from sekisho.pseudonyms import store as pep


def _forms(value: bytes) -> list[bytes]:
    """A 32-byte value in every form it could be written in."""
    b32 = base64.b32encode(value).decode().rstrip("=")
    return [value, value.hex().encode(), b32.encode(), b32.lower().encode(), base64.b64encode(value).rstrip(b"=")]


def _blob(rows: Iterable[dict[str, Any]]) -> bytes:
    out = bytearray()
    for row in rows:
        for v in row.values():
            out += bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else str(v).encode()
            out += b"\x00"
    return bytes(out)


def test_transcryptors_and_locator_keep_no_pseudonym_and_no_personal_data(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    standard_rules(world.pdp)
    for agency, purpose in (PENSION, TAX, HEALTH):
        world.create_agency(agency, purpose)
    gifu, chiyoda = world.register(GIFU), world.register(CHIYODA)
    people = [
        person(household="a"),
        person(household="b", family_name="渡邊", given_name="花子", family_name_kana="ワタナベ",
               given_name_kana="ハナコ", sex="女", birth_date="1988-02-29", block="3丁目5番1号"),
    ]  # fmt: skip
    residents = [gifu.add(p) for p in people]
    pseudonyms = [enrol_one(world, GIFU, r.handle, a, p) for r in residents for a, p in (PENSION, TAX, HEALTH)]
    for agency, purpose in (PENSION, TAX):
        mine = [t for t in pseudonyms if t.startswith(f"sks1:{agency}:")]
        world.agency(agency).lookup(mine, purpose=purpose, network=world.net)
    gifu.death(residents[0].handle, died_on="2026-11-18")
    _, token, _ = gifu.move_out(
        residents[1].handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25"
    )
    chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
    for code in (GIFU, CHIYODA):
        world.releases(code).deliver_notices()

    secrets = [f for t in pseudonyms for f in _forms(decode_pseudonym(t)[1])] + [t.encode() for t in pseudonyms]
    personal = [
        s.encode()
        for p in people
        for s in (p["family_name"], p["given_name"], p["family_name_kana"], p["given_name_kana"], p["block"])
    ] + [b"1975-04-01", b"1988-02-29", b"2026-11-18", "飯田橋".encode(), "青柳町".encode()]
    personal += [r.handle.encode() for r in residents]

    stores = {
        "t1": dump_tables(world.net._open_transcryptors()[0].engine, pep.metadata),
        "t2": dump_tables(world.net._open_transcryptors()[1].engine, pep.metadata),
        "locator": dump_tables(world.net.locator_service().engine, loc.metadata),
    }
    assert all(stores.values())  # they did record their work
    for party, rows in stores.items():
        blob = _blob(rows)
        for needle in secrets + personal:
            assert needle not in blob, party
    # the locator holds exactly: a registry pseudonym, a municipality code, a time
    assert {tuple(sorted(r)) for r in stores["locator"]} == {("municipality", "rp", "since")}
    assert {r["municipality"] for r in stores["locator"]} == {GIFU, CHIYODA}

    logged = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert caplog.records  # the parties do log their work
    for needle in secrets + personal:
        assert needle not in logged
