"""The text form of a domain pseudonym ``s_D·P``::

    sks1:<domain>:<52 base32 characters: the 32-byte element>:<8 base32 characters: checksum>

e.g. ``sks1:pension:dq6k…h4:7tq2m5xa``.  Base32 is RFC 4648 §6 in lower case without padding.

- The domain tag stops one domain's pseudonym from being read as another's: a parser told which domain it
  expects refuses any other, and the tag is inside the checksum, so editing it breaks the check.
- The checksum is the first 5 bytes of SHA-256 over a version label, the domain and the element: any typo —
  a changed, dropped, added or swapped character — passes with probability 2⁻⁴⁰.
- It is meant not to be human-friendly: 75 characters of letters and digits, no grouping, nothing to memorise
  or read out as "the number".  The element must also decode as a ristretto255 element (RFC 9496 §4.3.1).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Final

from sekisho.errors import InvalidInput
from sekisho.pep.group import POINT_BYTES, check_point_bytes
from sekisho.protocols.conversion import check_domain

PREFIX: Final = "sks1"
_CHECK_LABEL: Final = b"sekisho/pseudonym-text/v1\x00"
_BODY_RE: Final = re.compile(r"^[a-z2-7]{52}$")
_CHECK_RE: Final = re.compile(r"^[a-z2-7]{8}$")


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _checksum(domain: str, value: bytes) -> str:
    return _b32(hashlib.sha256(_CHECK_LABEL + domain.encode("ascii") + b"\x00" + value).digest()[:5])


def encode_pseudonym(domain: str, value: bytes) -> str:
    check_domain(domain)
    check_point_bytes(value, field="pseudonym")
    return f"{PREFIX}:{domain}:{_b32(value)}:{_checksum(domain, value)}"


def decode_pseudonym(text: str, *, domain: str | None = None) -> tuple[str, bytes]:
    """Parse a pseudonym's text form; returns (domain, 32-byte element).  With ``domain``, any other domain's
    pseudonym is refused.  Upper case and surrounding blanks are tolerated; nothing else is."""
    if not isinstance(text, str) or len(text) > 200:
        raise InvalidInput("is not a pseudonym (sks1:<domain>:<value>:<check>)", field="pseudonym")
    parts = text.strip().lower().split(":")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise InvalidInput("is not a pseudonym (sks1:<domain>:<value>:<check>)", field="pseudonym")
    _, tag, body, check = parts
    check_domain(tag, field="pseudonym.domain")
    if not _BODY_RE.match(body) or not _CHECK_RE.match(check):
        raise InvalidInput("has a malformed value or checksum", field="pseudonym")
    value = base64.b32decode(body.upper() + "====")
    # 52 characters carry 260 bits: the 4 spare bits must be zero, or two texts would name one value
    if len(value) != POINT_BYTES or _b32(value) != body:
        raise InvalidInput("has a malformed value", field="pseudonym")
    if check != _checksum(tag, value):
        raise InvalidInput("checksum does not match (a typo?)", field="pseudonym")
    if domain is not None and tag != check_domain(domain):
        raise InvalidInput("belongs to another domain", field="pseudonym")
    check_point_bytes(value, field="pseudonym")
    return tag, value
