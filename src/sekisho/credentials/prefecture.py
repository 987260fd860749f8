"""Prefecture-run issuance: one issuer key and one shared Token Status List per prefecture, so that a credential
shows the prefecture and never the municipality unless its ``municipality`` claim is disclosed (docs/credentials.md,
"Prefecture-run issuance").

The municipality vouches for its resident: it reads its register (the access record first), and hands the
prefecture's :class:`PrefectureDesk` the resident's items with an opaque reference (:func:`resident_ref`, a keyed
digest of the handle under a key only the municipality holds).  The desk signs with the prefecture's key (``x5c``
through the prefecture's CA, ``CN=<prefecture code>``) and draws every status index uniformly at random from the
prefecture's one list, shared by all its municipalities; it keeps per index only the municipality's code, the
reference, the bit and when it was issued.  Register events reach it as :meth:`PrefectureDesk.revoke` calls of the
municipality that vouched: a municipality can set the bits of its own residents' credentials only, since the
desk's key for a credential is the caller's code with the reference.

What is built here is the prefecture's side and its in-process use (``tests/credentials/test_prefecture.py``);
the call over the network's mutual TLS from the municipality's node, and the wallet's OpenID4VCI flow against the
prefecture, are not (docs/credentials.md says what remains).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from sekisho.credentials.issuer import Issued, Issuer
from sekisho.errors import Forbidden, InvalidInput

#: characters of a resident reference: 60 bits of a keyed digest (two residents of a municipality of 400,000
#: share one with a chance of about 1 in 10^7, and would then share revocation: the safe side)
REF_CHARS = 10


def resident_ref(key: bytes, handle: str) -> str:
    """The municipality's reference for a resident at its prefecture: HMAC-SHA-256 of the handle under the
    municipality's own key, base64url, ``REF_CHARS`` characters.  Stable for one person (revocation finds every
    batch) and meaningless without the key: the prefecture never learns the handle."""
    mac = hmac.new(key, handle.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii")[:REF_CHARS]


def _check_ref(ref: str) -> str:
    if (
        not isinstance(ref, str)
        or len(ref) != REF_CHARS
        or not all(c.isascii() and (c.isalnum() or c in "-_") for c in ref)
    ):
        raise InvalidInput("not a resident reference", field="ref")
    return ref


class SharedStatus(Protocol):
    """The prefecture's status entries (``sekisho.credentials.store.SqlState`` on the prefecture's database)."""

    def revoke_issued_before(self, subjects: Mapping[str, datetime]) -> int: ...

    def revoke(self, handles: Iterable[str]) -> int: ...


class _Vouched:
    """The municipality's answer as the issuer reads it (``ResidentSource``)."""

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items = dict(items)

    def credential_items(self, handle: str) -> dict[str, Any]:
        return dict(self._items)


class PrefectureDesk:
    """A prefecture's issuance desk: its :class:`~sekisho.credentials.issuer.Issuer` (made with the prefecture's
    two-digit code, so ``iss`` is ``<base>/credentials/<prefecture>``) over the shared status list."""

    def __init__(self, issuer: Issuer, status: SharedStatus) -> None:
        if len(issuer.municipality) != 2 or not issuer.municipality.isdigit():
            raise InvalidInput("a prefecture's issuer is named by its two-digit code", field="issuer")
        if issuer.events is not None:
            raise InvalidInput("a prefecture's issuer reads no register: municipalities revoke", field="issuer")
        self.issuer = issuer
        self.status = status

    @property
    def prefecture(self) -> str:
        return self.issuer.municipality

    def _subject(self, municipality: str, ref: str) -> str:
        if len(municipality) != 6 or not municipality.isdigit():
            raise InvalidInput("a local government code has 6 digits", field="municipality")
        if municipality[:2] != self.prefecture:
            raise Forbidden("the municipality is not of this prefecture", field="municipality")
        # 16 characters: the width of the status table's subject column
        return municipality + _check_ref(ref)

    def issue(
        self,
        *,
        municipality: str,
        ref: str,
        items: Mapping[str, Any],
        holder_keys: Sequence[ec.EllipticCurvePublicKey],
    ) -> Issued:
        """A batch for the resident ``municipality`` vouches for (``municipality`` is the authenticated caller,
        never a field of the body): its items must be of that municipality."""
        subject = self._subject(municipality, ref)
        if str(items.get("municipality_code")) != municipality:
            raise Forbidden("a municipality vouches for its own residents only", field="municipality_code")
        return self.issuer.issue_batch(handle=subject, source=_Vouched(items), holder_keys=holder_keys)

    def revoke(self, *, municipality: str, events: Mapping[str, datetime]) -> int:
        """Register events of ``municipality`` (the authenticated caller): for each resident reference, set the
        bits of the credentials issued before the event (to the end of its second); returns how many credentials
        that is.  Another municipality's residents are out of reach: the subject is built from the caller."""
        return self.status.revoke_issued_before({self._subject(municipality, r): at for r, at in events.items()})

    def revoke_all(self, *, municipality: str, refs: Iterable[str]) -> int:
        """Every credential of these residents (a lost phone, at the counter)."""
        return self.status.revoke([self._subject(municipality, r) for r in refs])


# ---------------------------------------------------------------------------------------------------------------
# the municipality's side


class _Register(Protocol):
    def credential_items(self, handle: str) -> dict[str, Any]: ...


class _Events(Protocol):
    def canonical(self, handle: str) -> str: ...

    def revoking_since(self, after: int) -> list[tuple[int, str, datetime]]: ...


class _Cursor(Protocol):
    """The municipality's cursor over its register's events (``sekisho.credentials.store.SqlState``)."""

    def forward_events(
        self,
        read: Callable[[int], list[tuple[int, str, datetime]]],
        send: Callable[[Mapping[str, datetime]], None],
    ) -> int: ...


def vouch(
    desk: PrefectureDesk,
    register: _Register,
    events: _Events,
    *,
    municipality: str,
    key: bytes,
    handle: str,
    holder_keys: Sequence[ec.EllipticCurvePublicKey],
) -> Issued:
    """The municipality's side of an issuance: its register's read (which writes the access record before it
    returns), then the desk.  In-process here; over the network this is one mutually authenticated call."""
    canonical = events.canonical(handle)
    items = register.credential_items(canonical)
    return desk.issue(municipality=municipality, ref=resident_ref(key, canonical), items=items, holder_keys=holder_keys)


def push_events(desk: PrefectureDesk, events: _Events, cursor: _Cursor, *, municipality: str, key: bytes) -> int:
    """Send the register's revoking events since the municipality's cursor to its prefecture, then move the
    cursor (a failed send leaves it: the next push sends them again, and a repeat sets no further bit)."""

    def send(latest: Mapping[str, datetime]) -> None:
        desk.revoke(municipality=municipality, events={resident_ref(key, h): at for h, at in latest.items()})

    return cursor.forward_events(events.revoking_since, send)
