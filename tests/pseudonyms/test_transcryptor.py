"""T1 and T2 as services: the three flows, split trust, hooks before conversion, nothing plaintext at rest."""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from sekisho.errors import Conflict, IntegrityError, InvalidInput, Refused, Unavailable
from sekisho.pep.elgamal import decrypt_batch
from sekisho.pep.encoding import encode_pseudonym
from sekisho.pep.flows import (
    agency_decrypt,
    conversion_request,
    convert_batch,
    convert_registry_to_agency,
    encrypt_pseudonyms,
    new_polymorphic_pseudonym,
    prepare_batch,
)
from sekisho.pep.group import Point
from sekisho.pep.keys import DomainKey, assemble_domain_key, load_network, open_registry_key
from sekisho.pep.operations import person_point
from sekisho.protocols.conversion import REGISTRY_DOMAIN
from sekisho.pseudonyms import open_transcryptor
from sekisho.pseudonyms import store as pep_store
from sekisho.pseudonyms.grants import verify_grant
from sekisho.pseudonyms.testing import FailingAccessHook, RecordingAccessHook
from sekisho.pseudonyms.transcryptor import Transcryptor, transcrypt

from .conftest import NOW, PASSPHRASE, Net


def _key(net: Net, domain: str, t1: Transcryptor | None = None, t2: Transcryptor | None = None) -> DomainKey:
    t1, t2 = t1 or net.t1, t2 or net.t2
    return assemble_domain_key(
        load_network(net.home.root), domain, [t1.secrets.key_share(domain), t2.secrets.key_share(domain)]
    )


def _truth(net: Net, root: bytes, domain: str) -> bytes:
    """What the pseudonym must be: s_D·P with s_D = s_{D,1}·s_{D,2} (computed here only, for the test)."""
    s = net.t1.secrets.pseudonymisation_factor(domain) * net.t2.secrets.pseudonymisation_factor(domain)
    return person_point(root).mul(s).to_bytes()


def _enrol(net: Net, roots: list[bytes], domain: str = "pension", hops: list | None = None) -> list[bytes]:
    network = load_network(net.home.root)
    pps = [new_polymorphic_pseudonym(r, network.public_key) for r in roots]
    return convert_registry_to_agency(
        pps,
        network=network,
        to_domain=domain,
        purpose="enrolment",
        grant=net.grant(to_domain=domain),
        requester="municipality/131016",
        hops=hops or [net.t1, net.t2],
        agency_key=_key(net, domain),
    )


def _request(
    net: Net,
    cts: list[bytes],
    *,
    from_domain: str = REGISTRY_DOMAIN,
    to_domain: str = "pension",
    purpose: str = "enrolment",
    grant: str | None = None,
    request_id: str | None = None,
):
    network = load_network(net.home.root)
    return conversion_request(
        cts,
        network=network,
        from_domain=from_domain,
        to_domain=to_domain,
        purpose=purpose,
        grant=grant or net.grant(from_domain=from_domain, to_domain=to_domain, purpose=purpose),
        requester="municipality/131016",
        request_id=request_id,
    )


def _pps(net: Net, roots: list[bytes]) -> list[bytes]:
    y = load_network(net.home.root).public_key
    return prepare_batch([new_polymorphic_pseudonym(r, y) for r in roots], y)


ROOTS = [bytes([i]) * 32 for i in range(1, 6)]


def test_enrolment_gives_each_person_the_agencys_pseudonym(net: Net) -> None:
    out = _enrol(net, ROOTS)
    assert out == [_truth(net, r, "pension") for r in ROOTS]
    assert len(set(out)) == len(ROOTS)
    assert [req.to_domain for req, _ in net.access.records] == ["pension", "pension"]  # one record per hop


def test_same_person_same_agency_same_pseudonym_across_rerandomisation_and_reloads(net: Net) -> None:
    first = _enrol(net, ROOTS)
    # a second enrolment of the same people: other PPs (fresh randomness), other request, same pseudonyms
    assert _enrol(net, ROOTS) == first
    # reload both transcryptors and the agency's key from the encrypted key files
    access = RecordingAccessHook()
    t1 = open_transcryptor(net.home, "t1", passphrase=PASSPHRASE, access=access, clock=lambda: NOW)
    t2 = open_transcryptor(net.home, "t2", passphrase=PASSPHRASE, access=access, clock=lambda: NOW)
    network = load_network(net.home.root)
    pps = [new_polymorphic_pseudonym(r, network.public_key) for r in ROOTS]
    again = convert_registry_to_agency(
        pps,
        network=network,
        to_domain="pension",
        purpose="enrolment",
        grant=net.grant(),
        requester="municipality/131016",
        hops=[t1, t2],
        agency_key=_key(net, "pension", t1, t2),
    )
    assert again == first
    assert len(access.records) == 2


def test_two_agencies_see_different_pseudonyms(net: Net) -> None:
    pension, tax = _enrol(net, ROOTS, "pension"), _enrol(net, ROOTS, "tax")
    assert set(pension).isdisjoint(tax)
    assert [encode_pseudonym("pension", p) for p in pension] != [encode_pseudonym("tax", p) for p in tax]


def test_order_of_the_transcryptors_does_not_matter(net: Net) -> None:
    assert _enrol(net, ROOTS, hops=[net.t2, net.t1]) == [_truth(net, r, "pension") for r in ROOTS]


def test_identity_confirmation_agency_to_registry(net: Net) -> None:
    pension = _enrol(net, ROOTS)
    network = load_network(net.home.root)
    # the agency encrypts its own pseudonyms under Y; T1 and T2 reshuffle by s_R/s_A and rekey to the registry
    request = _request(
        net,
        encrypt_pseudonyms(pension, network.public_key),
        from_domain="pension",
        to_domain=REGISTRY_DOMAIN,
        purpose="identity-confirmation",
    )
    located = agency_decrypt(
        open_registry_key(net.home, passphrase=PASSPHRASE), convert_batch(request, [net.t1, net.t2])
    )
    assert located == [_truth(net, r, REGISTRY_DOMAIN) for r in ROOTS]
    # the same values the register obtains from its own PPs (registry -> registry)
    own = _request(net, _pps(net, ROOTS), to_domain=REGISTRY_DOMAIN, purpose="index")
    registry_key = open_registry_key(net.home, passphrase=PASSPHRASE)
    assert agency_decrypt(registry_key, convert_batch(own, [net.t1, net.t2])) == located


def test_cross_reference_agency_to_agency(net: Net) -> None:
    pension = _enrol(net, ROOTS, "pension")
    network = load_network(net.home.root)
    request = _request(
        net,
        encrypt_pseudonyms(pension, network.public_key),
        from_domain="pension",
        to_domain="tax",
        purpose="cross-reference.warrant",
    )
    assert agency_decrypt(_key(net, "tax"), convert_batch(request, [net.t1, net.t2])) == _enrol(net, ROOTS, "tax")


def test_one_transcryptor_alone_cannot_convert_or_decrypt(net: Net) -> None:
    truth = [_truth(net, r, "pension") for r in ROOTS]
    agency = _key(net, "pension")
    network = load_network(net.home.root)
    for alone in (net.t1, net.t2):
        request = _request(net, _pps(net, ROOTS))
        half = alone.convert(request)
        # the agency's key does not open a half conversion (it is under k_{A,i}·Y, not Y_A)
        with pytest.raises(IntegrityError):
            agency_decrypt(agency, half)
        assert decrypt_batch(half.ciphertexts, agency.secret) != truth
        # the best key one transcryptor can assemble, ỹ·κ_{A,i} = y·k_{A,i}/β_j, opens nothing either
        own = network.blinded_secret_key * alone.secrets.key_share("pension")
        full = convert_batch(_request(net, _pps(net, ROOTS)), [net.t1, net.t2])
        for cts in (half.ciphertexts, full.ciphertexts, tuple(_pps(net, ROOTS))):
            assert not set(decrypt_batch(cts, own)) & set(truth)
        # and the same transcryptor twice is not a conversion: it sees its own request id again with
        # another batch (Conflict); a hop without a store would be caught by convert_batch (IntegrityError)
        with pytest.raises((Conflict, IntegrityError)):
            convert_batch(_request(net, _pps(net, ROOTS)), [alone, alone])


def test_nothing_is_converted_when_the_access_record_fails(net: Net) -> None:
    failing = FailingAccessHook()
    t1 = Transcryptor(secrets=net.t1.secrets, policy=net.t1.policy, access=failing, engine=net.t1.engine)
    with pytest.raises(Unavailable):
        convert_batch(_request(net, _pps(net, ROOTS)), [t1, net.t2])
    assert failing.calls == 1
    assert net.access.records == []  # T2 never saw it


def test_a_transcryptor_demands_an_access_hook(net: Net) -> None:
    with pytest.raises(InvalidInput) as err:
        Transcryptor(secrets=net.t1.secrets, policy=net.t1.policy, access=None, engine=net.t1.engine)  # type: ignore[arg-type]
    assert err.value.field == "access"


def test_retry_is_not_counted_twice_and_a_reused_request_id_is_refused(net: Net) -> None:
    grant = net.grant(max_uses=len(ROOTS))
    cts = _pps(net, ROOTS)
    request = _request(net, cts, grant=grant, request_id="req-1")
    first = net.t1.convert(request)
    again = net.t1.convert(request)  # a retry after a lost answer: same inputs, fresh randomness
    assert first.ciphertexts != again.ciphertexts
    with net.t1.engine.connect() as conn:
        grant_id = verify_grant(grant, load_network(net.home.root).issuer_keys()).grant_id
        assert pep_store.uses(conn, grant_id) == len(ROOTS)
    with pytest.raises(Conflict) as err:
        net.t1.convert(replace(request, ciphertexts=tuple(_pps(net, ROOTS))))
    assert err.value.field == "request_id"


class _Stateless:
    """A hop without a store: the pure function behind a transcryptor's secrets."""

    def __init__(self, t: Transcryptor) -> None:
        self.secrets = t.secrets

    def convert(self, request):
        return transcrypt(self.secrets, request)


def test_convert_batch_demands_both_transcryptors(net: Net) -> None:
    request = _request(net, _pps(net, ROOTS))
    with pytest.raises(IntegrityError):
        convert_batch(request, [_Stateless(net.t1), _Stateless(net.t1)])
    with pytest.raises(InvalidInput):
        convert_batch(request, [_Stateless(net.t1)])
    result = convert_batch(request, [_Stateless(net.t2), _Stateless(net.t1)])
    assert agency_decrypt(_key(net, "pension"), result) == [_truth(net, r, "pension") for r in ROOTS]


def test_invalid_requests_fail_before_the_policy(net: Net) -> None:
    good = _request(net, _pps(net, ROOTS))
    cases = [
        (replace(good, ciphertexts=(b"\x00" * 63,)), "ciphertexts[0]"),
        (replace(good, ciphertexts=(bytes(64),)), "ciphertexts[0].B"),
        (replace(good, key=bytes(32)), "key"),
        (replace(good, key=b"\x01" * 31), "key"),
        (replace(good, to_domain="Tax"), "to_domain"),
        (replace(good, request_id="x" * 65), "request_id"),
        (replace(good, ciphertexts=list(good.ciphertexts)), "ciphertexts"),  # type: ignore[arg-type]
    ]
    for request, field in cases:
        with pytest.raises(InvalidInput) as err:
            net.t1.convert(request)
        assert err.value.field == field
    assert net.access.records == []
    with net.t1.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(pep_store.grant_use)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(pep_store.refusal)).scalar() == 0


def test_pure_transcrypt_matches_the_service(net: Net) -> None:
    request = _request(net, _pps(net, ROOTS))
    a = transcrypt(net.t1.secrets, request)
    b = net.t1.convert(request)
    assert a.key == b.key
    assert a.ciphertexts != b.ciphertexts
    agency = _key(net, "pension")
    second = transcrypt(net.t2.secrets, replace(request, ciphertexts=a.ciphertexts, key=a.key))
    assert agency_decrypt(agency, second) == [_truth(net, r, "pension") for r in ROOTS]


# --- nothing plaintext at rest or in the logs ------------------------------------------------------------


def _forms(value: bytes) -> list[str]:
    b32 = base64.b32encode(value).decode().rstrip("=")
    return [
        value.hex(),
        value.hex().upper(),
        b32,
        b32.lower(),
        base64.b64encode(value).decode(),
        base64.urlsafe_b64encode(value).decode().rstrip("="),
    ]


def _dump(engine: sa.Engine) -> tuple[list[str], bytes]:
    md = sa.MetaData()
    md.reflect(engine)
    texts: list[str] = []
    blobs = b""
    with engine.connect() as conn:
        for table in md.sorted_tables:
            for row in conn.execute(sa.select(table)):
                for v in row:
                    if isinstance(v, (bytes, bytearray, memoryview)):
                        blobs += bytes(v)
                    texts.append(str(v))
    return texts, blobs


def test_nothing_a_transcryptor_keeps_or_logs_holds_a_pseudonym(net: Net, caplog: pytest.LogCaptureFixture) -> None:
    roots = [os.urandom(32) for _ in range(8)]
    network = load_network(net.home.root)
    with caplog.at_level(logging.DEBUG):
        pension = _enrol(net, roots, "pension")
        request = _request(
            net,
            encrypt_pseudonyms(pension, network.public_key),
            from_domain="pension",
            to_domain=REGISTRY_DOMAIN,
            purpose="identity-confirmation",
        )
        convert_batch(request, [net.t1, net.t2])
        with pytest.raises(Refused):
            net.t1.convert(_request(net, _pps(net, roots), grant=net.grant(to_domain="tax")))
    secrets_: list[bytes] = []
    for r in roots:
        secrets_ += [r, person_point(r).to_bytes()]
        secrets_ += [_truth(net, r, d) for d in ("pension", REGISTRY_DOMAIN, "tax")]
    log_text = caplog.text + "".join(str(rec.args) for rec in caplog.records)
    assert "converted" in log_text
    assert "refused" in log_text
    for t in (net.t1, net.t2):
        texts, blobs = _dump(t.engine)
        assert texts, "the transcryptor stored nothing: this test would prove nothing"
        joined = "\n".join(texts)
        for value in secrets_:
            assert value not in blobs
            for form in _forms(value):
                assert form not in joined
                assert form not in log_text


@pytest.mark.parametrize("party", ["t1", "t2"])
@pytest.mark.parametrize(
    "case",
    ["expired", "not-yet-valid", "other-pair", "other-purpose", "forged", "unknown-issuer", "used-up", "malformed"],
)
def test_each_transcryptor_alone_refuses(net: Net, party: str, case: str) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from sekisho.pseudonyms.grants import GrantIssuer

    t = net.t1 if party == "t1" else net.t2
    cts = _pps(net, ROOTS)
    grant = net.grant()
    if case == "expired":
        net.clock[0] = NOW + timedelta(days=31)
    elif case == "not-yet-valid":
        grant = net.grant()
        net.clock[0] = NOW - timedelta(days=2)
    elif case == "other-pair":
        grant = net.grant(to_domain="tax")
    elif case == "other-purpose":
        grant = net.grant(purpose="research")
    elif case == "forged":
        head, payload, sig = grant.split(".")
        # the same payload with more uses, under the genuine signature
        import json

        body = json.loads(base64.urlsafe_b64decode(payload + "=="))
        body["max"] = 10**6
        forged = base64.urlsafe_b64encode(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
        grant = f"{head}.{forged.decode().rstrip('=')}.{sig}"
    elif case == "unknown-issuer":
        grant = GrantIssuer(Ed25519PrivateKey.generate()).issue(
            from_domain=REGISTRY_DOMAIN,
            to_domain="pension",
            purpose="enrolment",
            max_uses=10,
            not_before=NOW - timedelta(days=1),
            not_after=NOW + timedelta(days=1),
        )
    elif case == "used-up":
        grant = net.grant(max_uses=len(ROOTS) + 2)
        t.convert(_request(net, cts, grant=grant))
        net.access.records.clear()
    elif case == "malformed":
        grant = grant[:-10]
    request = _request(net, cts, grant=grant)
    with pytest.raises(Refused) as err:
        t.convert(request)
    assert err.value.field == "grant"
    assert net.access.records == []  # a refusal is not an access: the access hook is not called
    with t.engine.connect() as conn:
        reasons = conn.execute(sa.select(pep_store.refusal.c.reason, pep_store.refusal.c.request_id)).all()
    assert [tuple(r) for r in reasons] == [(str(err.value), request.request_id)]
    # the other transcryptor has its own journal and counters
    other = net.t2 if party == "t1" else net.t1
    with other.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(pep_store.refusal)).scalar() == 0


def test_counts_are_kept_by_each_transcryptor_independently(net: Net) -> None:
    grant = net.grant(max_uses=6)
    # T2 alone has already served 5 (say T1's database lost them, or a request went to T2 only)
    net.t2.convert(_request(net, _pps(net, ROOTS), grant=grant))
    # through both: T1 counts 5 of 6 and converts; T2 would pass 6 and refuses on its own
    with pytest.raises(Refused, match="no uses left"):
        convert_batch(_request(net, _pps(net, ROOTS), grant=grant), [net.t1, net.t2])
    # and the other way round
    grant = net.grant(max_uses=6)
    net.t1.convert(_request(net, _pps(net, ROOTS), grant=grant))
    with pytest.raises(Refused, match="no uses left"):
        convert_batch(_request(net, _pps(net, ROOTS), grant=grant), [net.t1, net.t2])


def test_a_batch_under_another_domains_key_is_not_decrypted(net: Net) -> None:
    result = convert_batch(_request(net, _pps(net, ROOTS)), [net.t1, net.t2])
    with pytest.raises(IntegrityError):
        agency_decrypt(_key(net, "tax"), result)
    assert Point.from_bytes(result.key) == _key(net, "pension").public


def test_concurrent_requests_never_pass_the_cap(net: Net) -> None:
    from concurrent.futures import ThreadPoolExecutor

    grant = net.grant(max_uses=6)
    requests = [_request(net, _pps(net, ROOTS[:1]), grant=grant) for _ in range(12)]

    def attempt(request) -> str:
        try:
            net.t1.convert(request)
        except Refused:
            return "refused"
        return "converted"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(attempt, requests))
    assert outcomes.count("converted") == 6
    assert outcomes.count("refused") == 6
    with net.t1.engine.connect() as conn:
        grant_id = verify_grant(grant, load_network(net.home.root).issuer_keys()).grant_id
        assert pep_store.uses(conn, grant_id) == 6
