"""The transcryptor protocol (convert, key_share): the same assertions in-process and over HTTP."""

from __future__ import annotations

import dataclasses

import pytest

from contracts.httpnet import HttpNetwork, client, transcryptor_app
from pep_network import GIFU, PASSPHRASE, World
from sekisho.errors import Forbidden, InvalidInput, Refused, SekishoError
from sekisho.pep.flows import (
    agency_decrypt,
    conversion_request,
    convert_batch,
    new_polymorphic_pseudonym,
    prepare_batch,
)
from sekisho.pep.keys import open_registry_key
from sekisho.policy.grants import INDEX_PURPOSE
from sekisho.problems import raise_for_problem
from sekisho.protocols import frames
from sekisho.protocols.conversion import REGISTRY_DOMAIN, ConversionRequest, Hops


def _request(world: World, n: int = 3, *, grant: str | None = None, to: str = REGISTRY_DOMAIN) -> ConversionRequest:
    net = world.net
    pps = [new_polymorphic_pseudonym(bytes([i + 1]) * 32, net.params.public_key) for i in range(n)]
    return conversion_request(
        prepare_batch(pps, net.params.public_key),
        network=net.params,
        from_domain=REGISTRY_DOMAIN,
        to_domain=to,
        purpose=INDEX_PURPOSE,
        grant=grant or net.grants().index_grant(municipality=GIFU, count=n),
        requester=f"municipality/{GIFU}",
    )


def _expected(world: World, n: int = 3) -> list[bytes]:
    # the same persons converted by the in-process transcryptors directly, as the reference
    from sekisho.pseudonyms.transcryptor import Transcryptor

    ts: list[Transcryptor] = world.net._open_transcryptors()
    key = open_registry_key(world.home, passphrase=PASSPHRASE)
    return agency_decrypt(key, convert_batch(_request(world, n), ts))


def test_a_batch_converts_to_the_same_pseudonyms(world: World) -> None:
    hops = world.net.hops()
    assert [h.party for h in hops] == ["t1", "t2"]  # type: ignore[attr-defined]
    request = _request(world)
    first = hops[0].convert(request)
    assert first.party == "t1" and first.request_id == request.request_id and len(first.ciphertexts) == 3
    assert first.key != request.key  # rekeyed
    result = convert_batch(request, hops)
    key = open_registry_key(world.home, passphrase=PASSPHRASE)
    assert agency_decrypt(key, result) == _expected(world)


def test_an_empty_batch_converts_to_an_empty_one(world: World) -> None:
    result = convert_batch(_request(world, 0), world.net.hops())
    assert result.ciphertexts == ()


def test_a_refused_conversion_raises_refused_without_personal_data(world: World) -> None:
    request = _request(world, grant="not-a-grant")
    with pytest.raises(Refused) as caught:
        world.net.hops()[0].convert(request)
    text = str(caught.value)
    assert all(ct.hex()[:16] not in text for ct in request.ciphertexts)
    assert request.grant not in text


def test_an_unknown_domain_is_refused_by_its_grant(world: World) -> None:
    request = _request(world)
    with pytest.raises(Refused):
        world.net.hops()[0].convert(dataclasses.replace(request, to_domain="nosuchagency"))


def test_malformed_ciphertexts_are_an_input_error(world: World) -> None:
    request = _request(world)
    bad = dataclasses.replace(request, ciphertexts=(b"\xff" * 64,))
    with pytest.raises(InvalidInput) as caught:
        world.net.hops()[0].convert(bad)
    assert caught.value.field is not None


def test_a_key_share_goes_to_the_domain_operator_only(world: World) -> None:
    hops = world.net.hops()
    shares = [h.key_share("tax", requester="agency/tax").to_bytes() for h in hops]  # type: ignore[attr-defined]
    assert len(set(shares)) == 2 and all(len(s) == 32 for s in shares)
    # the same shares as the in-process switchboard gives
    assert shares == [s.to_bytes() for s in type(world.net).key_shares(world.net, "tax")]
    with pytest.raises(InvalidInput) as caught:
        hops[0].key_share("tax", requester="agency/pension")  # type: ignore[attr-defined]
    assert caught.value.field == "requester"
    with pytest.raises(InvalidInput):
        hops[0].key_share(REGISTRY_DOMAIN, requester="agency/registry")  # type: ignore[attr-defined]


# --- the relay: both transcryptors in one call (over HTTP: T1's /relay hands on to T2) ---------------------------


def _relay(world: World) -> Hops:
    """In-process the hops one after the other; over HTTP one request to T1's /relay."""
    return world.net.http_relay() if isinstance(world.net, HttpNetwork) else world.net.hops()


def test_a_relayed_batch_converts_to_the_same_pseudonyms_as_the_last_hop(world: World) -> None:
    request = _request(world)
    result = convert_batch(request, _relay(world))
    assert (result.party, result.request_id, len(result.ciphertexts)) == ("t2", request.request_id, 3)
    key = open_registry_key(world.home, passphrase=PASSPHRASE)
    assert agency_decrypt(key, result) == _expected(world)


def test_a_relayed_refusal_is_refused_and_journals_nothing(world: World) -> None:
    request = _request(world, grant="not-a-grant")
    with pytest.raises(Refused) as caught:
        convert_batch(request, _relay(world))
    assert request.grant not in str(caught.value)


def _relayed(world: World, then: object) -> SekishoError:
    request = _request(world, 1)
    body = frames.request_frame(request, then=then) if then is not None else frames.request_frame(request)
    response = world.net._transcryptor_client("t1").post(  # type: ignore[attr-defined]
        "/relay", content=body, headers={"content-type": frames.MEDIA_TYPE}
    )
    with pytest.raises(SekishoError) as caught:
        raise_for_problem(response)
    return caught.value


@pytest.mark.parametrize("world", ["http"], indirect=True)
def test_a_relay_that_does_not_say_where_the_result_goes_is_an_input_error(world: World) -> None:
    for then in (None, "locator", {"to": "somewhere"}):
        refused = _relayed(world, then)
        assert isinstance(refused, InvalidInput) and refused.field == "then"


@pytest.mark.parametrize("world", ["http"], indirect=True)
def test_t2_sends_the_locator_only_a_batch_under_the_registrys_key_asked_by_the_converting_party(
    world: World,
) -> None:
    query = {"request_id": "r-1", "requester": "tax", "purpose": "tax.assessment", "items": ["name"]}
    # the conversion is the municipality's; a query in the tax office's name goes nowhere
    refused = _relayed(world, {"to": "confirm", "query": query})
    assert isinstance(refused, Forbidden) and refused.field == "requester"


# --- HTTP only: the body and the problem documents -----------------------------------------------------------


@pytest.fixture
def t1_http(world: World):  # type: ignore[no-untyped-def]
    [t1, _] = world.net._open_transcryptors()
    with client(transcryptor_app(t1), "t1") as c:
        yield c


@pytest.mark.parametrize(
    "body",
    [b"", b"\x00\x00", b"\x00\x00\x00\x05{}", b"\x00\x00\x00\x02[]", b"\xff\xff\xff\xff{}", b"\x00\x00\x00\x02{}"],
)
def test_a_malformed_body_is_a_problem_document(t1_http, body: bytes) -> None:  # type: ignore[no-untyped-def]
    response = t1_http.post("/convert", content=body, headers={"content-type": frames.MEDIA_TYPE})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:sekisho:problem:invalid-input" and problem["field"]


def test_a_batch_of_the_wrong_length_is_refused_naming_the_field(world: World, t1_http) -> None:  # type: ignore[no-untyped-def]
    body = frames.request_frame(_request(world, 2))
    response = t1_http.post("/convert", content=body[:-1], headers={"content-type": frames.MEDIA_TYPE})
    assert response.status_code == 422 and response.json()["field"] == "ciphertexts"


def test_a_refusal_over_http_is_403_and_names_no_value(world: World, t1_http) -> None:  # type: ignore[no-untyped-def]
    request = _request(world, grant="not-a-grant")
    response = t1_http.post("/convert", content=frames.request_frame(request))
    assert response.status_code == 403
    assert response.json()["type"] == "urn:sekisho:problem:refused"
    assert not any(ct.hex()[:16] in response.text for ct in request.ciphertexts)


def test_the_openapi_documents_the_binary_bodies(t1_http) -> None:  # type: ignore[no-untyped-def]
    doc = t1_http.get("/openapi.json").json()
    convert = doc["paths"]["/convert"]["post"]
    assert frames.MEDIA_TYPE in convert["requestBody"]["content"]
    assert frames.MEDIA_TYPE in convert["responses"]["200"]["content"]
    assert "application/problem+json" in convert["responses"]["default"]["content"]
    assert "/key-share" in doc["paths"]


def test_errors_map_back_to_their_kind() -> None:
    from sekisho.errors import Conflict, Unavailable
    from sekisho.problems import error_from_problem, problem_body

    for exc in (Refused("no", field="grant"), Conflict("held", field="rp"), Unavailable("down", field="party")):
        back = error_from_problem(exc.status, problem_body(exc))
        assert type(back) is type(exc) and back.field == exc.field and back.message == exc.message
    assert isinstance(error_from_problem(502, None), Unavailable)
    assert type(error_from_problem(500, {"title": "x"})) is SekishoError
