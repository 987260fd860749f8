"""The destination's side of a move hand-over over HTTP: 転入 with a transfer token, asked by this municipality's
own clerk terminal at its own node (``POST /moves/in``).

The node then takes the person over from the municipality of origin (``sekisho.registry.transfer_api`` on that
node): fetch the package, write the *incoming* record, ask the origin to close its record and move the locator's
entry, activate.  Every step is idempotent, so the clerk repeats the same request after any failure — a timeout, a
503, a node killed mid-way — and the move completes exactly once (``tests/node/test_handover_crash.py``).
The token travels in the body, never in the URL; the answer names the new record by its handle only.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from sekisho.errors import Refused
from sekisho.registry.transfer_api import Line, Token
from sekisho.wire.guard import Caller, terminal_caller

PREFIX = "/moves"


class Destination(Protocol):
    """The register that takes the person in (``RegisterService`` wired to reach the origin over HTTP)."""

    def move_in(
        self, row: dict[str, str], *, moved_on: str, household: str | None = None, transfer: str | None = None
    ) -> Any: ...


class MoveInRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    transfer: Token
    moved_on: date
    town: Line
    block: Line
    katagaki: Line = ""
    postal_code: Annotated[str, Field(pattern=r"^\d{3}-?\d{4}$")] | None = None
    relationship: Annotated[str, Field(max_length=20)] = ""
    household: Annotated[str, Field(max_length=40, pattern=r"^[0-9A-Za-z-]+$")] | None = None
    filed_on: date | None = None


class MoveInAnswer(BaseModel):
    handle: str
    household: str
    status: str
    #: the move had been completed by an earlier request (a retry): nothing new was written
    already_done: bool


def router(code: str, destination: Callable[[Caller], AbstractContextManager[Destination]]) -> APIRouter:
    """``POST /moves/in`` on municipality ``code``'s node; ``destination(caller)`` opens the register for one
    request, acting for the clerk terminal that signed it."""
    api = APIRouter(prefix=PREFIX, tags=["moves"])
    own = f"municipality/{code}"

    @api.post("/in", response_model=MoveInAnswer)
    def move_in(body: MoveInRequest, clerk: Annotated[Caller, Depends(terminal_caller)]) -> MoveInAnswer:
        """転入 with a transfer token from another municipality (idempotent: repeat it after any failure)."""
        if clerk.party.name != own:
            raise Refused("only this municipality's own terminals file a move-in here", field="party")
        row = {
            "town": body.town,
            "block": body.block,
            "katagaki": body.katagaki,
            "postal_code": body.postal_code or "",
            "relationship": body.relationship,
            "filed_on": body.filed_on.isoformat() if body.filed_on else "",
        }
        with destination(clerk) as register:
            result = register.move_in(
                row, moved_on=body.moved_on.isoformat(), household=body.household, transfer=body.transfer
            )
        r = result.resident
        return MoveInAnswer(
            handle=r.handle, household=r.household, status=r.status.value, already_done=result.already_done
        )

    return api
