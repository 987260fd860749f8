"""ElGamal and the PEP operations, as algebraic identities checked by hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sekisho.errors import InvalidInput
from sekisho.pep import elgamal
from sekisho.pep import operations as pep
from sekisho.pep.elgamal import Ciphertext, decrypt, encrypt, rerandomise
from sekisho.pep.group import ORDER, Point, Scalar
from sekisho.pep.operations import rekey, reshuffle, rrsk, rsk

scalars = st.integers(min_value=1, max_value=ORDER - 1).map(lambda n: Scalar.from_bytes(n.to_bytes(32, "little")))
# the one-way map sends 64 zero bytes to the identity (a valid input, not a valid message)
points = st.binary(min_size=64, max_size=64).map(Point.from_hash).filter(lambda p: not p.is_identity())

settings.register_profile("pep", max_examples=40, deadline=None)
settings.load_profile("pep")


@given(m=points, y=scalars, r=scalars)
def test_decrypt_inverts_encrypt(m: Point, y: Scalar, r: Scalar) -> None:
    assert decrypt(encrypt(m, Point.base(y), r=r), y) == m


@given(m=points, y=scalars, r=scalars, r2=scalars)
def test_rerandomise_keeps_the_plaintext_and_changes_every_byte(m: Point, y: Scalar, r: Scalar, r2: Scalar) -> None:
    c = encrypt(m, Point.base(y), r=r)
    c2 = rerandomise(c, Point.base(y), r=r2)
    assert decrypt(c2, y) == m
    assert c2.b != c.b
    assert c2.c != c.c


@given(m=points, y=scalars, s=scalars)
def test_reshuffle_multiplies_the_plaintext(m: Point, y: Scalar, s: Scalar) -> None:
    assert decrypt(reshuffle(encrypt(m, Point.base(y)), s), y) == m.mul(s)


@given(m=points, y=scalars, k=scalars)
def test_rekey_moves_to_key_k_times_y(m: Point, y: Scalar, k: Scalar) -> None:
    c = rekey(encrypt(m, Point.base(y)), k)
    assert decrypt(c, k * y) == m
    assert pep.rekey_public_key(Point.base(y), k) == Point.base(k * y)


@given(m=points, y=scalars, s=scalars, k=scalars)
def test_rsk_is_rekey_after_reshuffle_byte_for_byte(m: Point, y: Scalar, s: Scalar, k: Scalar) -> None:
    c = encrypt(m, Point.base(y))
    assert rsk(c, s, k).to_bytes() == rekey(reshuffle(c, s), k).to_bytes()
    assert rsk(c, s, k).to_bytes() == reshuffle(rekey(c, k), s).to_bytes()
    assert decrypt(rsk(c, s, k), k * y) == m.mul(s)


@given(m=points, y=scalars, s=scalars, k=scalars, r=scalars)
def test_rrsk_is_rerandomised_rsk(m: Point, y: Scalar, s: Scalar, k: Scalar, r: Scalar) -> None:
    key = Point.base(y)
    c = encrypt(m, key)
    out = rrsk(c, s, k, key, r=r)
    assert out.to_bytes() == rerandomise(rsk(c, s, k), Point.base(k * y), r=r).to_bytes()
    assert decrypt(out, k * y) == m.mul(s)


@given(m=points, y=scalars, s1=scalars, k1=scalars, s2=scalars, k2=scalars)
def test_two_hops_commute_and_compose(m: Point, y: Scalar, s1: Scalar, k1: Scalar, s2: Scalar, k2: Scalar) -> None:
    # T1 then T2 == T2 then T1 == one hop with the products: why neither transcryptor's order matters
    key = Point.base(y)
    c = encrypt(m, key)
    a = rrsk(rrsk(c, s1, k1, key), s2, k2, key.mul(k1))
    b = rrsk(rrsk(c, s2, k2, key), s1, k1, key.mul(k2))
    assert decrypt(a, k1 * k2 * y) == decrypt(b, k1 * k2 * y) == m.mul(s1 * s2)


@given(ms=st.lists(points, min_size=1, max_size=5), y=scalars, s=scalars, k=scalars)
def test_batch_rrsk_agrees_with_single(ms: list[Point], y: Scalar, s: Scalar, k: Scalar) -> None:
    key = Point.base(y)
    batch = [encrypt(m, key).to_bytes() for m in ms]
    out, key_out = pep.rrsk_batch(batch, s, k, key)
    assert key_out == Point.base(k * y)
    assert elgamal.decrypt_batch(out, k * y) == [m.mul(s).to_bytes() for m in ms]


@given(ms=st.lists(points, min_size=1, max_size=5), y=scalars)
def test_batch_encrypt_rerandomise_decrypt(ms: list[Point], y: Scalar) -> None:
    key = Point.base(y)
    cts = elgamal.encrypt_batch([m.to_bytes() for m in ms], key)
    again = elgamal.rerandomise_batch(cts, key)
    assert set(cts).isdisjoint(again)
    assert elgamal.decrypt_batch(again, y) == [m.to_bytes() for m in ms]


def test_a_ciphertext_of_the_identity_is_refused_on_decryption() -> None:
    y = Scalar.random()
    b = Point.base(Scalar.random())
    forged = Ciphertext(b, b.mul(y))  # C = y·B decrypts to the identity
    with pytest.raises(InvalidInput, match="identity"):
        decrypt(forged, y)
    with pytest.raises(InvalidInput) as err:
        elgamal.decrypt_batch([encrypt(Point.from_hash(b"\x01" * 64), Point.base(y)).to_bytes(), forged.to_bytes()], y)
    assert err.value.field == "ciphertexts[1]"


def test_identity_key_and_zero_factors_are_refused() -> None:
    c = encrypt(Point.from_hash(b"\x01" * 64), Point.base(Scalar.random())).to_bytes()
    zero = Scalar.from_bytes(bytes(32), nonzero=False)
    with pytest.raises(InvalidInput, match="identity"):
        pep.rrsk_batch([c], Scalar.random(), Scalar.random(), Point.from_bytes(bytes(32), allow_identity=True))
    with pytest.raises(InvalidInput, match="zero"):
        pep.rrsk_batch([c], zero, Scalar.random(), Point.base(Scalar.random()))


def test_person_point_is_deterministic_and_domain_separated() -> None:
    root = bytes(range(32))
    assert pep.person_point(root) == pep.person_point(root)
    assert pep.person_point(root) != Point.from_hash(b"\x01" * 64)
    assert pep.person_point(root) != pep.person_point(bytes(32))
    with pytest.raises(InvalidInput) as err:
        pep.person_point(b"short")
    assert err.value.field == "root"
