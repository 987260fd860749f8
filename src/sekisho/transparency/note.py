"""C2SP signed notes (c2sp.org/signed-note) with Ed25519, and cosignatures (c2sp.org/tlog-cosignature, v1).

The byte formats are those of golang.org/x/mod/sumdb/note, so that the Go tooling verifies our notes:

    note      = text (ends in "\\n") || "\\n" || signature line+
    line      = "— " || key name || " " || base64(key ID[4] || signature) || "\\n"
    key ID    = SHA-256(key name || 0x0A || type || public key)[:4]             (signed-note, "Signatures")
    vkey      = key name || "+" || hex(key ID) || "+" || base64(type || public key)  (signed-note, "Verifier keys")

Type 0x01 is an Ed25519 signature over the note text; type 0x04 a timestamped Ed25519 cosignature over
"cosignature/v1\\ntime <t>\\n" || text, with an 8-byte big-endian timestamp before the 64-byte signature
(tlog-cosignature, "Format" and "Ed25519 signed message").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sekisho.errors import IntegrityError, InvalidInput

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
_KNOWN_ALGS = (ALG_ED25519, ALG_COSIGNATURE_V1)

#: signed-note: verifiers MUST accept at least 16 signatures; the Go implementation stops at 100
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20
_DASH = "\u2014 "
_COSIG_MAX_TIMESTAMP = (1 << 63) - 1


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, field: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("not standard base64", field=field) from None
    if b64(data) != text:  # one encoding per value: no stray padding bits
        raise InvalidInput("not canonical base64", field=field)
    return data


def check_key_name(name: str) -> str:
    """signed-note: key names are non-empty and contain no Unicode space and no '+'."""
    if not name or "+" in name or any(c.isspace() for c in name) or any(ord(c) < 0x20 for c in name):
        raise InvalidInput("a key name must be non-empty, without spaces or '+'", field="key_name")
    return name


def key_id(name: str, alg: int, public_key: bytes) -> int:
    """SHA-256(key name || 0x0A || type || public key)[:4], big-endian (signed-note, "Signatures")."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class Verifier:
    """A verifier key: who (name), which key (id) and how (Ed25519 note signature or cosignature/v1)."""

    name: str
    alg: int
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if self.alg not in _KNOWN_ALGS:
            raise InvalidInput("unsupported signature type", field="vkey")
        if len(self.public_key) != 32:
            raise InvalidInput("an Ed25519 public key is 32 bytes", field="vkey")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.alg, self.public_key)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{b64(bytes([self.alg]) + self.public_key)}"

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse ``<name>+<hex key ID>+<base64(type || key)>``; the key ID must match the key (signed-note)."""
        parts = vkey.strip().split("+", 2)  # the base64 part may contain "+"
        if len(parts) != 3:
            raise InvalidInput("a vkey has three '+'-separated parts", field="vkey")
        name, hex_id, b64 = parts
        if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
            raise InvalidInput("the key ID is 8 lowercase hex digits", field="vkey")
        raw = unb64(b64, "vkey")
        if len(raw) != 33:
            raise InvalidInput("the key is one type byte and 32 key bytes", field="vkey")
        verifier = cls(name=name, alg=raw[0], public_key=raw[1:])
        if verifier.key_id != int(hex_id, 16):
            raise InvalidInput("the key ID does not match the key", field="vkey")
        return verifier

    def signed_message(self, text: str, timestamp: int | None) -> bytes:
        if self.alg == ALG_COSIGNATURE_V1:
            return f"cosignature/v1\ntime {timestamp}\n{text}".encode()
        return text.encode("utf-8")

    def verify(self, text: str, sig: bytes) -> int | None:
        """Verify one signature body (key ID already stripped); return the cosignature timestamp, if any."""
        key = Ed25519PublicKey.from_public_bytes(self.public_key)
        timestamp: int | None = None
        if self.alg == ALG_COSIGNATURE_V1:
            if len(sig) != 8 + 64:
                raise IntegrityError("a cosignature is an 8-byte time and a 64-byte signature", field="signature")
            timestamp = int.from_bytes(sig[:8], "big")
            if timestamp > _COSIG_MAX_TIMESTAMP:
                raise IntegrityError("the cosignature time is out of range", field="signature")
            sig = sig[8:]
        elif len(sig) != 64:
            raise IntegrityError("an Ed25519 signature is 64 bytes", field="signature")
        try:
            key.verify(sig, self.signed_message(text, timestamp))
        except InvalidSignature:
            raise IntegrityError(f"bad signature by key {self.name}", field="signature") from None
        return timestamp


class Signer:
    """An Ed25519 note signer (type 0x01) or cosigner (type 0x04).  Never prints its private key."""

    __slots__ = ("_key", "verifier")

    def __init__(self, name: str, private_key: Ed25519PrivateKey, *, alg: int = ALG_ED25519) -> None:
        self._key = private_key
        self.verifier = Verifier(name=name, alg=alg, public_key=_raw_public(private_key.public_key()))

    def __repr__(self) -> str:
        return f"Signer({self.verifier.vkey!r})"

    @property
    def name(self) -> str:
        return self.verifier.name

    @classmethod
    def from_skey(cls, skey: str) -> Signer:
        """The Go note package's private key text ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>``."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise InvalidInput("not a note signer key", field="skey")
        raw = unb64(parts[4], "skey")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise InvalidInput("not an Ed25519 note signer key", field="skey")
        signer = cls(parts[2], Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if f"{signer.verifier.key_id:08x}" != parts[3]:
            raise InvalidInput("the key ID does not match the key", field="skey")
        return signer

    def sign(self, text: str, *, timestamp: int | None = None) -> str:
        """One signature line over ``text`` (for a cosigner, at ``timestamp``, POSIX seconds)."""
        check_text(text)
        v = self.verifier
        if v.alg == ALG_COSIGNATURE_V1:
            if timestamp is None or not (0 < timestamp <= _COSIG_MAX_TIMESTAMP):
                raise InvalidInput("a cosignature needs a positive timestamp", field="timestamp")
            body = timestamp.to_bytes(8, "big") + self._key.sign(v.signed_message(text, timestamp))
        else:
            body = self._key.sign(v.signed_message(text, None))
        return f"{_DASH}{v.name} {b64(v.key_id.to_bytes(4, 'big') + body)}\n"


def check_text(text: str) -> None:
    """signed-note: the text is UTF-8 without control characters other than newline, and ends in a newline."""
    if not text.endswith("\n"):
        raise InvalidInput("the note text must end with a newline", field="note")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise InvalidInput("the note text contains a control character", field="note")


@dataclass(frozen=True, slots=True)
class SignatureLine:
    name: str
    key_id: int
    sig: bytes  # without the key ID

    def line(self) -> str:
        return f"{_DASH}{self.name} {b64(self.key_id.to_bytes(4, 'big') + self.sig)}\n"


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    signatures: tuple[SignatureLine, ...]

    def encode(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_lines(self, lines: Iterable[SignatureLine]) -> Note:
        """Add signature lines, dropping exact duplicates (a cosignature collected twice)."""
        have = list(self.signatures)
        for s in lines:
            if s not in have:
                have.append(s)
        return Note(self.text, tuple(have))


def parse_signature_lines(block: str) -> list[SignatureLine]:
    if not block.endswith("\n"):
        raise InvalidInput("a signature line must end with a newline", field="note")
    out: list[SignatureLine] = []
    for line in block[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise InvalidInput("a signature line starts with an em dash and a space", field="note")
        name, sep, b64 = line[len(_DASH) :].partition(" ")
        if not sep:
            raise InvalidInput("a signature line has a key name and a signature", field="note")
        check_key_name(name)
        raw = unb64(b64, "note")
        if len(raw) < 5:
            raise InvalidInput("a signature is a key ID and at least one byte", field="note")
        out.append(SignatureLine(name, int.from_bytes(raw[:4], "big"), raw[4:]))
        if len(out) > MAX_SIGNATURES:
            raise InvalidInput("too many signatures", field="note")
    return out


def parse_note(message: str | bytes) -> Note:
    """Split a signed note into text and signature lines (signed-note, "Format"); verifies nothing."""
    if isinstance(message, bytes):
        if len(message) > MAX_NOTE_BYTES:
            raise InvalidInput("the note is too long", field="note")
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("a note must be UTF-8", field="note") from None
    if len(message) > MAX_NOTE_BYTES:
        raise InvalidInput("the note is too long", field="note")
    if any(ord(c) < 0x20 and c != "\n" for c in message):
        raise InvalidInput("the note contains a control character", field="note")
    # the text is separated from the signatures by the *last* empty line
    split = message.rfind("\n\n")
    if split < 0:
        raise InvalidInput("a note has a text, an empty line and signatures", field="note")
    text, block = message[: split + 1], message[split + 2 :]
    return Note(text, tuple(parse_signature_lines(block)))


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    verifier: Verifier
    timestamp: int | None


def open_note(message: str | bytes, verifiers: Sequence[Verifier]) -> tuple[Note, list[VerifiedSignature]]:
    """Verify a note against known keys (signed-note, "Signatures").

    Lines from unknown keys (name and ID not both matching) are ignored; a line from a known key that fails
    rejects the whole note; at least one known signature must verify.  Returns the note and the verified
    signatures, one per known key (repeated identical lines collapse).
    """
    note = parse_note(message)
    by_id: dict[tuple[str, int], Verifier] = {}
    for v in verifiers:
        ident = (v.name, v.key_id)
        if ident in by_id and by_id[ident] != v:
            raise InvalidInput("two trusted keys share a name and key ID", field="vkey")
        by_id[ident] = v
    verified: dict[tuple[str, int], VerifiedSignature] = {}
    for s in note.signatures:
        known = by_id.get((s.name, s.key_id))
        if known is None:
            continue
        ts = known.verify(note.text, s.sig)
        verified.setdefault((s.name, s.key_id), VerifiedSignature(known, ts))
    if not verified:
        raise IntegrityError("the note carries no signature by a trusted key", field="note")
    return note, list(verified.values())
