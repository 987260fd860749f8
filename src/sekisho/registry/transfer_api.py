"""The origin's side of a move hand-over over HTTP (:class:`~sekisho.protocols.registry.TransferSource`).

The destination's register fetches the 転出証明書情報 and then asks the origin to close its record.  The transfer
token names a person's hand-over, so it travels in the body, never in a path or a query; the package carries the
person's root and pseudonym, so it is only ever a response body to the destination (over mutual TLS in a
deployment: the caller's certificate must name the requester the body states, which ``sekisho.wire`` checks).
The message models are the wire format of both sides (``sekisho.node.http.transfer`` builds its requests with them).
"""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from sekisho.errors import InvalidInput
from sekisho.protocols.registry import TransferPackage, TransferSource

PREFIX = "/transfers"

Code = Annotated[str, Field(pattern=r"^\d{6}$")]
# a transfer is "<code>-<base32>": letters, digits and hyphens only (a NUL or other control character never
# reaches the database, which PostgreSQL would refuse with a server error)
Token = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[0-9A-Za-z-]+$")]
Line = Annotated[str, Field(max_length=500)]


def _b64(text: str | None, *, field: str) -> bytes | None:
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("must be base64", field=field) from None


def _text(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FetchRequest(_Body):
    token: Token
    requester: Code


class CompleteRequest(_Body):
    token: Token
    requester: Code
    moved_on: date
    destination_line: Line


class PackageBody(_Body):
    """A :class:`~sekisho.protocols.registry.TransferPackage`, bytes in base64."""

    token: Token
    source: Code
    items: dict[Annotated[str, Field(max_length=50)], Annotated[str, Field(max_length=1_000)]]
    root: Annotated[str, Field(max_length=200)]
    pp: Annotated[str, Field(max_length=1_000)] | None = None
    previous_address: Line
    destination_planned: Line
    planned_on: date
    rp: Annotated[str, Field(max_length=1_000)] | None = None
    enrolments: Annotated[list[tuple[str, str, str]], Field(max_length=1_000)] = []
    support_measure: dict[str, Any] | None = None

    @classmethod
    def of(cls, p: TransferPackage) -> PackageBody:
        return cls(
            token=p.token,
            source=p.source,
            items=dict(p.items),
            root=_text(p.root) or "",
            pp=_text(p.pp),
            previous_address=p.previous_address,
            destination_planned=p.destination_planned,
            planned_on=p.planned_on,
            rp=_text(p.rp),
            enrolments=list(p.enrolments),
            support_measure=dict(p.support_measure) if p.support_measure is not None else None,
        )

    def to_domain(self) -> TransferPackage:
        return TransferPackage(
            token=self.token,
            source=self.source,
            items=dict(self.items),
            root=_b64(self.root, field="root") or b"",
            pp=_b64(self.pp, field="pp"),
            previous_address=self.previous_address,
            destination_planned=self.destination_planned,
            planned_on=self.planned_on,
            rp=_b64(self.rp, field="rp"),
            enrolments=tuple(self.enrolments),
            support_measure=self.support_measure,
        )


def router(source: TransferSource) -> APIRouter:
    """The origin's hand-over routes over ``source`` (the municipality's register acting for itself)."""
    api = APIRouter(prefix=PREFIX, tags=["transfer"])

    @api.post("/fetch", response_model=PackageBody)
    def fetch_transfer(body: FetchRequest) -> PackageBody:
        """The 転出証明書情報 of an open transfer, for the destination named as requester (access recorded here)."""
        return PackageBody.of(source.fetch_transfer(body.token, requester=body.requester))

    @api.post("/complete", status_code=204, response_class=Response)
    def complete_transfer(body: CompleteRequest) -> Response:
        """Close the record here because the requester took the person in (idempotent for that requester)."""
        source.complete_transfer(
            body.token, requester=body.requester, moved_on=body.moved_on, destination_line=body.destination_line
        )
        return Response(status_code=204)

    return api
