"""The ceremony, shares and domain keys, key files, network.json."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from sekisho.config import Home
from sekisho.errors import Conflict, IntegrityError, InvalidInput, NotFound
from sekisho.keyfile import read_key_file, write_key_file
from sekisho.pep.group import Point, Scalar
from sekisho.pep.keys import (
    Ceremony,
    NetworkParams,
    assemble_domain_key,
    ceremony,
    load_network,
    load_transcryptor,
    open_registry_key,
    save_transcryptor,
    transcryptor_key_path,
)
from sekisho.protocols.conversion import REGISTRY_DOMAIN
from sekisho.pseudonyms.service import init_network

from .conftest import FAST_N, NOW, PASSPHRASE, domain_key, seeded


def test_the_ceremony_is_reproducible_from_its_randomness() -> None:
    a, b = ceremony(randbytes=seeded(7), now=NOW), ceremony(randbytes=seeded(7), now=NOW)
    assert a.network == b.network
    assert ceremony(randbytes=seeded(8), now=NOW).network.public_key != a.network.public_key


def test_domain_key_is_the_rekeyed_network_key(cer: Ceremony) -> None:
    key = domain_key(cer, "pension")
    rekeyed = cer.network.public_key
    for t in cer.transcryptors.values():
        rekeyed = rekeyed.mul(t.rekey_factor("pension"))
    assert key.public == rekeyed
    # share order does not matter
    t1, t2 = cer.transcryptors["t1"], cer.transcryptors["t2"]
    swapped = assemble_domain_key(cer.network, "pension", [t2.key_share("pension"), t1.key_share("pension")])
    assert swapped.public == key.public


def test_registry_key_is_published_and_checked(cer: Ceremony) -> None:
    assert cer.network.domain_keys[REGISTRY_DOMAIN] == cer.registry_key.public
    t1 = cer.transcryptors["t1"]
    with pytest.raises(IntegrityError):  # a wrong share cannot pass for the registry's key
        assemble_domain_key(cer.network, REGISTRY_DOMAIN, [t1.key_share(REGISTRY_DOMAIN), t1.key_share("pension")])


def test_one_share_is_not_enough(cer: Ceremony) -> None:
    t1 = cer.transcryptors["t1"]
    with pytest.raises(InvalidInput, match="one key share from each"):
        assemble_domain_key(cer.network, "pension", [t1.key_share("pension")])


def test_factors_differ_per_domain_label_and_transcryptor(cer: Ceremony) -> None:
    t1, t2 = cer.transcryptors["t1"], cer.transcryptors["t2"]
    values = [
        t.pseudonymisation_factor(d).to_bytes() for t in (t1, t2) for d in ("pension", "tax", REGISTRY_DOMAIN)
    ] + [t.rekey_factor(d).to_bytes() for t in (t1, t2) for d in ("pension", "tax", REGISTRY_DOMAIN)]
    assert len(set(values)) == len(values)


def test_secrets_never_print(cer: Ceremony, caplog: pytest.LogCaptureFixture) -> None:
    t1 = cer.transcryptors["t1"]
    secret_texts = [
        t1.pseudonymisation_secret.hex(),
        t1.rekey_secret.hex(),
        t1.blinding.to_bytes().hex(),
        cer.registry_key.secret.to_bytes().hex(),
    ]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("%r %s %r %r", t1, t1, cer.registry_key, cer)
    printed = caplog.text + repr(t1) + str(t1) + repr(cer.registry_key) + repr(cer)
    for s in secret_texts:
        assert s not in printed


def test_key_file_round_trip_and_wrong_passphrase(tmp_path: Path, cer: Ceremony) -> None:
    path = tmp_path / "t1.key"
    save_transcryptor(path, cer.transcryptors["t1"], passphrase=PASSPHRASE, n=FAST_N)
    assert path.stat().st_mode & 0o777 == 0o600
    raw = path.read_text()
    assert cer.transcryptors["t1"].pseudonymisation_secret.hex() not in raw
    loaded = load_transcryptor(path, passphrase=PASSPHRASE)
    assert loaded.pseudonymisation_factor("tax") == cer.transcryptors["t1"].pseudonymisation_factor("tax")
    assert loaded.key_share("tax") == cer.transcryptors["t1"].key_share("tax")
    with pytest.raises(InvalidInput) as err:
        load_transcryptor(path, passphrase=b"wrong")
    assert err.value.field == "passphrase"
    with pytest.raises(Conflict):
        save_transcryptor(path, cer.transcryptors["t2"], passphrase=PASSPHRASE, n=FAST_N)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.update(party="t2"), "passphrase"),  # header swapped: the AEAD's associated data no longer fits
        (lambda d: d["kdf"].update(n=2**15), "passphrase"),
        (lambda d: d.update(ciphertext=d["ciphertext"][:-4] + "AAA="), "passphrase"),
        (lambda d: d.update(kind="domain-key"), "key_file"),
        (lambda d: d.update(format="other"), "key_file"),
        (lambda d: d["kdf"].update(n=2**30), "key_file"),
        (lambda d: d.update(nonce="***"), "key_file.nonce"),
    ],
)
def test_altered_key_files_are_refused(tmp_path: Path, edit, field: str) -> None:
    path = tmp_path / "k"
    write_key_file(path, kind="transcryptor", party="t1", secrets={"a": "b"}, passphrase=PASSPHRASE, n=FAST_N)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidInput) as err:
        read_key_file(path, kind="transcryptor", passphrase=PASSPHRASE)
    assert err.value.field == field


def test_missing_or_garbage_key_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read_key_file(tmp_path / "none", kind="transcryptor", passphrase=PASSPHRASE)
    (tmp_path / "junk").write_bytes(b"\xff\x00junk")
    with pytest.raises(InvalidInput):
        read_key_file(tmp_path / "junk", kind="transcryptor", passphrase=PASSPHRASE)


def test_network_json_round_trip_and_holds_no_secret(home: Home) -> None:
    params = init_network(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    assert load_network(home.root) == params
    text = (home.root / "network.json").read_text()
    t1 = load_transcryptor(transcryptor_key_path(home.party_dir("t1")), passphrase=PASSPHRASE)
    registry = open_registry_key(home, passphrase=PASSPHRASE)
    for secret in (t1.pseudonymisation_secret, t1.rekey_secret, t1.blinding.to_bytes(), registry.secret.to_bytes()):
        assert secret.hex() not in text
    assert registry.public == params.domain_keys[REGISTRY_DOMAIN]
    with pytest.raises(Conflict):
        init_network(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)


def test_failed_init_leaves_nothing_behind(home: Home) -> None:
    # the watchdog's key file is in the way: set-up must fail and remove what it wrote before
    (home.party_dir("watchdog") / "grant-issuer.key").write_text("in the way")
    with pytest.raises(Conflict):
        init_network(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    assert not (home.root / "network.json").exists()
    assert not (home.party_dir("t1") / "transcryptor.key").exists()
    assert not (home.party_dir("locator") / "domain-registry.key").exists()


def test_malformed_network_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_network(tmp_path)
    (tmp_path / "network.json").write_text('{"format": "sekisho-network/1", "pep": {}}')
    with pytest.raises(InvalidInput):
        load_network(tmp_path)


def test_network_params_refuse_a_bad_public_key(cer: Ceremony) -> None:
    doc = cer.network.to_json()
    doc["pep"]["public_key"] = "00" * 32
    with pytest.raises(InvalidInput):
        NetworkParams.from_json(doc)


def test_a_domain_key_must_match_its_public_half(cer: Ceremony) -> None:
    from sekisho.pep.keys import DomainKey

    with pytest.raises(IntegrityError):
        DomainKey(domain="x", secret=Scalar.random(), public=Point.base(Scalar.random()))
