"""The binary body of a request or answer that carries a batch: a small JSON header, then fixed-size records.

    u32 big-endian  H = length of the header
    H bytes         the header: a UTF-8 JSON object (metadata; never a pseudonym or a ciphertext)
    the rest        the records, concatenated, each of the size the endpoint fixes (docs/transport.md)

A batch of ciphertexts (64 bytes each) or registry pseudonyms (32 bytes each) travels as raw bytes: no base64,
no JSON string per element.  ``docs/transport.md`` gives each endpoint's layout and the measurement that chose it.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from sekisho.errors import InvalidInput
from sekisho.protocols.conversion import ConversionRequest, HopResult

MEDIA_TYPE: Final = "application/octet-stream"
CIPHERTEXT: Final = 64  # an ElGamal ciphertext on ristretto255: two points
POINT: Final = 32  # a ristretto255 point (a public key, a registry pseudonym s_R·P)
MAX_HEADER: Final = 64 * 1024
_LEN = struct.Struct(">I")


def pack(header: Mapping[str, Any], records: Iterable[bytes] = ()) -> bytes:
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return b"".join((_LEN.pack(len(head)), head, *records))


def unpack(body: bytes) -> tuple[dict[str, Any], memoryview]:
    """The header and the records' bytes of a frame; a malformed frame is an input error naming only where."""
    if len(body) < _LEN.size:
        raise InvalidInput("must be a frame: a 4-byte header length, a JSON header, the records", field="body")
    (size,) = _LEN.unpack_from(body)
    if size > MAX_HEADER or _LEN.size + size > len(body):
        raise InvalidInput("the header length is beyond the body or the limit", field="body")
    try:
        header = json.loads(body[_LEN.size : _LEN.size + size])
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the header must be a UTF-8 JSON object", field="header") from None
    if not isinstance(header, dict):
        raise InvalidInput("the header must be a JSON object", field="header")
    return header, memoryview(body)[_LEN.size + size :]


def split(records: memoryview | bytes, size: int, *, count: object, field: str = "records") -> list[bytes]:
    """``count`` records of ``size`` bytes each, exactly."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise InvalidInput("must be a count of records", field="n")
    if len(records) != count * size:
        raise InvalidInput(f"must be n records of {size} bytes", field=field)
    data = bytes(records)
    return [data[i : i + size] for i in range(0, len(data), size)]


def text(header: Mapping[str, Any], name: str) -> str:
    value = header.get(name)
    if not isinstance(value, str):
        raise InvalidInput("must be a string", field=name)
    return value


# --- a conversion request and a hop's result -----------------------------------------------------------------

_REQUEST_FIELDS: Final = ("request_id", "requester", "from_domain", "to_domain", "purpose", "grant")


def request_frame(request: ConversionRequest, **extra: Any) -> bytes:
    """Header: the request's metadata and ``n`` (and ``extra``, e.g. a relay's ``then``); records: the key
    (32 bytes), then ``n`` ciphertexts (64)."""
    header: dict[str, Any] = {**extra, **{name: getattr(request, name) for name in _REQUEST_FIELDS}}
    header["n"] = len(request.ciphertexts)
    return pack(header, (request.key, *request.ciphertexts))


def read_request(body: bytes) -> ConversionRequest:
    header, records = unpack(body)
    key, cts = _key_and_batch(header, records)
    request = ConversionRequest(
        **{name: text(header, name) for name in _REQUEST_FIELDS}, ciphertexts=tuple(cts), key=key
    )
    request.check()
    return request


def result_header(result: HopResult) -> dict[str, Any]:
    return {"party": result.party, "request_id": result.request_id, "n": len(result.ciphertexts)}


def result_records(result: HopResult) -> tuple[bytes, ...]:
    return (result.key, *result.ciphertexts)


def result_frame(result: HopResult, **extra: Any) -> bytes:
    """Header: ``party``, ``request_id``, ``n`` (and ``extra``); records: the key, then ``n`` ciphertexts."""
    return pack({**result_header(result), **extra}, result_records(result))


def read_result(header: Mapping[str, Any], records: memoryview | bytes) -> HopResult:
    key, cts = _key_and_batch(header, records)
    return HopResult(
        party=text(header, "party"), request_id=text(header, "request_id"), ciphertexts=tuple(cts), key=key
    )


def _key_and_batch(header: Mapping[str, Any], records: memoryview | bytes) -> tuple[bytes, list[bytes]]:
    if len(records) < POINT:
        raise InvalidInput("must begin with the 32-byte key", field="key")
    key = bytes(records[:POINT])
    return key, split(records[POINT:], CIPHERTEXT, count=header.get("n"), field="ciphertexts")


def points_frame(header: Mapping[str, Any], points: Sequence[bytes]) -> bytes:
    """Header (with ``n``); records: ``n`` 32-byte points (registry pseudonyms)."""
    return pack({**header, "n": len(points)}, points)


def read_points(header: Mapping[str, Any], records: memoryview | bytes) -> list[bytes]:
    return split(records, POINT, count=header.get("n"), field="rps")
