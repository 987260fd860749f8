"""The calls the other parties make: the register creates polymorphic pseudonyms, a sender prepares a batch,
the batch passes through T1 and T2, the receiving domain decrypts.

    register:  pp = new_polymorphic_pseudonym(root, network.public_key)            # stored with the record
    R → A:     request = conversion_request(prepare_batch(pps, Y), from_domain=REGISTRY_DOMAIN, to_domain="a", …)
               result = convert_batch(request, [t1, t2]);  agency A: agency_decrypt(key_A, result) -> s_A·P
    A → R:     request = conversion_request(encrypt_pseudonyms([s_A·P, …], Y), from_domain="a",
               to_domain=REGISTRY_DOMAIN, …); the locator: agency_decrypt(key_R, result) -> s_R·P
    A → B:     the same with to_domain="b", under a warrant-backed grant; B decrypts s_B·P.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets as _secrets
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

from sekisho.errors import IntegrityError, InvalidInput
from sekisho.forking import die_with_parent
from sekisho.pep.elgamal import decrypt_batch, encrypt, encrypt_batch, rerandomise_batch
from sekisho.pep.group import Point
from sekisho.pep.keys import TRANSCRYPTORS, DomainKey, NetworkParams
from sekisho.pep.operations import person_point
from sekisho.protocols.conversion import REGISTRY_DOMAIN, ConversionRequest, Hop, HopResult, Hops


def new_polymorphic_pseudonym(root: bytes, public_key: Point) -> bytes:
    """``PP = Enc_Y(P)`` for a resident's 32-byte secret root: 64 bytes to store with the record.  Any PP of the
    same root converts to the same pseudonyms; the register keeps one and carries it across moves."""
    return encrypt(person_point(root), public_key).to_bytes()


#: below this many roots a process pool costs more (start-up, pickling) than it saves
POOL_THRESHOLD = 20_000
_POOL_CHUNK = 10_000


def _pps_chunk(roots: bytes, public_key: bytes) -> bytes:
    """Worker: PPs for concatenated 32-byte roots, returned concatenated (cheap to pickle both ways)."""
    key = Point.from_bytes(public_key, field="public_key")
    points = [person_point(roots[i : i + 32]).to_bytes() for i in range(0, len(roots), 32)]
    return b"".join(encrypt_batch(points, key))


def new_polymorphic_pseudonyms_batch(
    roots: Sequence[bytes], public_key: Point, *, workers: int | None = None
) -> list[bytes]:
    """``PP = Enc_Y(P)`` for many roots (registration in bulk, ``registry join-network``), in order.

    One PP costs a hash to the group, one fixed-base and one variable-base multiplication.  From
    :data:`POOL_THRESHOLD` roots on, the work is split over a process pool (``workers``, default: every CPU);
    ``workers=1`` keeps it in this process."""
    for i, root in enumerate(roots):
        if not isinstance(root, bytes) or len(root) != 32:
            raise InvalidInput("must be 32 bytes", field=f"roots[{i}]")
    n = len(roots)
    if workers is None:
        workers = (os.cpu_count() or 1) if n >= POOL_THRESHOLD else 1
    y = public_key.to_bytes()
    if workers <= 1 or n <= _POOL_CHUNK:
        return _split(_pps_chunk(b"".join(roots), y))
    blobs = [b"".join(roots[i : i + _POOL_CHUNK]) for i in range(0, n, _POOL_CHUNK)]
    # fork, where there is one: spawn and forkserver re-run the caller's main module in every worker (a CLI, a
    # test runner).  The workers touch nothing they inherit but this module: no lock, no database connection.
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    # a pool worker dies with this process (killed, it would otherwise wait on the pool's queue for ever)
    with ProcessPoolExecutor(
        min(workers, len(blobs)), mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        return [pp for out in pool.map(_pps_chunk, blobs, [y] * len(blobs)) for pp in _split(out)]


def _split(blob: bytes) -> list[bytes]:
    return [blob[i : i + 64] for i in range(0, len(blob), 64)]


def prepare_batch(ciphertexts: Sequence[bytes], public_key: Point) -> list[bytes]:
    """Re-randomise PPs (or any ciphertexts under Y) before they leave: the register stores each PP unchanged,
    and T1 must not see the same bytes twice for one person, or it could link that person's conversions."""
    return rerandomise_batch(ciphertexts, public_key)


def encrypt_pseudonyms(pseudonyms: Sequence[bytes], public_key: Point) -> list[bytes]:
    """An agency's own pseudonyms ``s_A·P`` (32 bytes each) encrypted under Y, for A → R or A → B."""
    return encrypt_batch(pseudonyms, public_key)


def conversion_request(
    ciphertexts: Sequence[bytes],
    *,
    network: NetworkParams,
    from_domain: str,
    to_domain: str,
    purpose: str,
    grant: str,
    requester: str,
    request_id: str | None = None,
) -> ConversionRequest:
    """A request for the first transcryptor: the batch is under the network key Y."""
    request = ConversionRequest(
        request_id=request_id or _secrets.token_hex(16),
        requester=requester,
        from_domain=from_domain,
        to_domain=to_domain,
        purpose=purpose,
        grant=grant,
        ciphertexts=tuple(ciphertexts),
        key=network.public_key.to_bytes(),
    )
    request.check()
    return request


def convert_batch(request: ConversionRequest, hops: Hops) -> HopResult:
    """Pass a batch through both transcryptors, each taking the previous one's output and key (or through a
    relay, where the first hands its output to the next itself)."""
    if not isinstance(hops, Sequence):
        return checked_relay(request, hops.relay(request))
    if len(hops) != len(TRANSCRYPTORS):
        raise InvalidInput("a conversion passes through both transcryptors", field="hops")
    seen: set[str] = set()
    result: HopResult | None = None
    for hop in hops:
        if result is not None:
            request = replace(request, ciphertexts=result.ciphertexts, key=result.key)
        result = hop.convert(request)
        seen.add(result.party)
    if result is None or seen != set(TRANSCRYPTORS):
        raise IntegrityError("a conversion must pass through T1 and T2, once each", field="hops")
    return result


def checked_relay(request: ConversionRequest, result: HopResult) -> HopResult:
    """A relay's answer must be the last transcryptor's, for this request, one ciphertext per input."""
    if result.party != TRANSCRYPTORS[-1] or result.request_id != request.request_id:
        raise IntegrityError("the relay answered for another party or request", field="result")
    if len(result.ciphertexts) != len(request.ciphertexts):
        raise IntegrityError("the relay answered for another number of persons", field="result")
    return result


def agency_decrypt(key: DomainKey, result: HopResult) -> list[bytes]:
    """Decrypt a converted batch to the domain's pseudonyms (32 bytes each; ``encode_pseudonym`` for text).
    A batch under any other key than this domain's is refused, not decrypted to garbage."""
    if result.key != key.public.to_bytes():
        raise IntegrityError("the batch is not encrypted for this domain", field="key")
    return decrypt_batch(result.ciphertexts, key.secret)


def convert_registry_to_agency(
    pps: Sequence[bytes],
    *,
    network: NetworkParams,
    to_domain: str,
    purpose: str,
    grant: str,
    requester: str,
    hops: Sequence[Hop],
    agency_key: DomainKey,
) -> list[bytes]:
    """R → A end to end, every party's step in one process (enrolment; bench/ measures it): prepare at the
    municipality, T1, T2, decrypt at the agency.  Returns ``s_A·P`` for each PP, in order."""
    request = conversion_request(
        prepare_batch(pps, network.public_key),
        network=network,
        from_domain=REGISTRY_DOMAIN,
        to_domain=to_domain,
        purpose=purpose,
        grant=grant,
        requester=requester,
    )
    return agency_decrypt(agency_key, convert_batch(request, hops))
