"""Ciphertext batches on the wire: the binary frame (``sekisho.protocols.frames``) against base64 in JSON.

One conversion request of n ciphertexts (64 bytes each) is encoded by the sender and decoded by the receiver;
the answer the same way back.  Measured per batch size: encode + decode time (µs per batch) and the body's size.
The frame won and is what the transcryptors, the locator and the municipality nodes speak (docs/transport.md).
Run: ``python -m bench frames`` (``--tiny`` for a smoke run).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from collections.abc import Callable

from sekisho.protocols import frames
from sekisho.protocols.conversion import ConversionRequest


def _request(n: int) -> ConversionRequest:
    return ConversionRequest(
        request_id="0123456789abcdef0123456789abcdef",
        requester="agency/tax",
        from_domain="tax",
        to_domain="registry",
        purpose="tax.assessment",
        grant="policy",
        ciphertexts=tuple(os.urandom(64) for _ in range(n)),
        key=os.urandom(32),
    )


def json_b64(request: ConversionRequest) -> bytes:
    return json.dumps(
        {
            "request_id": request.request_id,
            "requester": request.requester,
            "from_domain": request.from_domain,
            "to_domain": request.to_domain,
            "purpose": request.purpose,
            "grant": request.grant,
            "key": base64.b64encode(request.key).decode(),
            "ciphertexts": [base64.b64encode(c).decode() for c in request.ciphertexts],
        },
        separators=(",", ":"),
    ).encode()


def read_json_b64(body: bytes) -> ConversionRequest:
    d = json.loads(body)
    return ConversionRequest(
        **{k: d[k] for k in ("request_id", "requester", "from_domain", "to_domain", "purpose", "grant")},
        key=base64.b64decode(d["key"]),
        ciphertexts=tuple(base64.b64decode(c) for c in d["ciphertexts"]),
    )


def _time(fn: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - start) / rounds)
    return best * 1e6


def main(argv: list[str]) -> None:
    tiny = "--tiny" in argv
    sizes = (1, 100) if tiny else (1, 100, 10_000)
    hundred = float("nan")
    print(f"{'n':>6}  {'frame µs':>9} {'frame B':>9}  {'json+b64 µs':>11} {'json B':>9}  {'ratio':>6}")
    for n in sizes:
        req = _request(n)
        rounds = 2 if tiny else max(5, 20_000 // max(n, 1))
        f_body, j_body = frames.request_frame(req), json_b64(req)
        assert frames.read_request(f_body).ciphertexts == read_json_b64(j_body).ciphertexts == req.ciphertexts
        f = _time(lambda req=req: frames.read_request(frames.request_frame(req)), rounds)
        j = _time(lambda req=req: read_json_b64(json_b64(req)), rounds)
        print(f"{n:>6}  {f:>9.1f} {len(f_body):>9}  {j:>11.1f} {len(j_body):>9}  {j / f:>6.1f}")
        if n == 100:
            hundred = j / f
    print(f"batch of 100, encode + decode: base64-in-JSON / frame = {hundred:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
