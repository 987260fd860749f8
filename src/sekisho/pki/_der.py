"""Just enough DER (X.690) to encode the two extensions cryptography has no class for: policyMappings
(RFC 5280 §4.2.1.5) and subjectDirectoryAttributes (RFC 5280 §4.2.1.8, RFC 3739 §3.2.2).  Encoding only;
every parse goes through cryptography.
"""

from __future__ import annotations

from datetime import date

from cryptography.x509 import ObjectIdentifier


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def seq(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


def set_of(*items: bytes) -> bytes:
    return _tlv(0x31, b"".join(sorted(items)))  # DER orders SET OF by encoding


def oid(value: ObjectIdentifier) -> bytes:
    arcs = [int(a) for a in value.dotted_string.split(".")]
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def utf8(text: str) -> bytes:
    return _tlv(0x0C, text.encode("utf-8"))


def printable(text: str) -> bytes:
    return _tlv(0x13, text.encode("ascii"))


def generalized_date(day: date) -> bytes:
    # RFC 3739 dateOfBirth: GeneralizedTime at 12:00 GMT, so that no time zone shifts the day
    return _tlv(0x18, f"{day:%Y%m%d}120000Z".encode("ascii"))
