"""PPs in bulk (the registration paths), re-randomised PPs, and the transcryptors' conversion journal."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from sekisho.errors import InvalidInput
from sekisho.pep.flows import (
    agency_decrypt,
    conversion_request,
    convert_batch,
    new_polymorphic_pseudonym,
    new_polymorphic_pseudonyms_batch,
    prepare_batch,
)
from sekisho.pep.keys import Ceremony, load_network
from sekisho.protocols.conversion import REGISTRY_DOMAIN, ConversionRequest, HopResult
from sekisho.pseudonyms import store as pep
from sekisho.pseudonyms import transcrypt
from sekisho.pseudonyms.service import open_journaled_transcryptor

from .conftest import PASSPHRASE, Net, domain_key


class _Pure:
    def __init__(self, c: Ceremony, party: str) -> None:
        self.s = c.transcryptors[party]

    def convert(self, request: ConversionRequest) -> HopResult:
        return transcrypt(self.s, request)


def _to_pension(c: Ceremony, pps: list[bytes]) -> list[bytes]:
    request = conversion_request(
        prepare_batch(pps, c.network.public_key),
        network=c.network,
        from_domain=REGISTRY_DOMAIN,
        to_domain="pension",
        purpose="enrolment",
        grant="test",
        requester="test",
    )
    return agency_decrypt(domain_key(c, "pension"), convert_batch(request, [_Pure(c, "t1"), _Pure(c, "t2")]))


def test_batch_pps_in_a_pool_equal_one_by_one_in_meaning(cer: Ceremony) -> None:
    roots = [os.urandom(32) for _ in range(10_050)]  # more than one pool chunk
    pooled = new_polymorphic_pseudonyms_batch(roots, cer.network.public_key, workers=2)
    serial = new_polymorphic_pseudonyms_batch(roots[:50], cer.network.public_key, workers=1)
    single = [new_polymorphic_pseudonym(r, cer.network.public_key) for r in roots[:50]]
    assert len(pooled) == len(roots) and all(len(pp) == 64 for pp in pooled)
    assert len(set(pooled[:50]) | set(serial) | set(single)) == 150  # fresh randomness in each
    # ... but the same persons: each converts to the same agency pseudonym
    same = _to_pension(cer, pooled[:50])
    assert same == _to_pension(cer, serial) == _to_pension(cer, single)
    last = [new_polymorphic_pseudonym(r, cer.network.public_key) for r in roots[-3:]]
    assert _to_pension(cer, pooled[-3:]) == _to_pension(cer, last)  # order kept across the pool's chunks


def test_batch_pps_refuse_a_malformed_root(cer: Ceremony) -> None:
    with pytest.raises(InvalidInput, match=r"roots\[1\]"):
        new_polymorphic_pseudonyms_batch([os.urandom(32), b"short"], cer.network.public_key)


def test_a_rerandomised_pp_is_new_bytes_for_the_same_pseudonym(cer: Ceremony) -> None:
    pp = new_polymorphic_pseudonym(os.urandom(32), cer.network.public_key)
    once, twice = prepare_batch([pp], cer.network.public_key), prepare_batch([pp], cer.network.public_key)
    assert once != twice and pp not in once + twice
    assert _to_pension(cer, [pp]) == _to_pension(cer, once) == _to_pension(cer, twice)


def test_the_conversion_journal_records_metadata_before_converting(net: Net) -> None:
    t1 = open_journaled_transcryptor(net.home, "t1", passphrase=PASSPHRASE, clock=lambda: net.clock[0])
    t2 = open_journaled_transcryptor(net.home, "t2", passphrase=PASSPHRASE, clock=lambda: net.clock[0])
    network = load_network(net.home.root)
    pps = [new_polymorphic_pseudonym(os.urandom(32), network.public_key) for _ in range(3)]
    request = conversion_request(
        prepare_batch(pps, network.public_key),
        network=network,
        from_domain=REGISTRY_DOMAIN,
        to_domain="pension",
        purpose="enrolment",
        grant=net.grant(),
        requester="municipality/212016",
    )
    result = convert_batch(request, [t1, t2])
    for t in (t1, t2):
        with t.engine.connect() as conn:
            [row] = conn.execute(sa.select(pep.access)).all()
        assert (row.requester, row.request_id, row.from_domain, row.to_domain, row.batch_size) == (
            "municipality/212016",
            request.request_id,
            REGISTRY_DOMAIN,
            "pension",
            3,
        )
        # metadata only: no ciphertext of the batch, in or out
        stored = b"".join(str(v).encode() for v in row)
        assert not any(ct in stored or ct.hex().encode() in stored for ct in request.ciphertexts + result.ciphertexts)
        t.engine.dispose()
