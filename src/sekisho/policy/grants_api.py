"""The grant desk's HTTP face (``sekisho.policy.grants``): a party asks the watchdog for a conversion grant.

Mounted on the watchdog's node when it holds the network's grant issuer key.  The body names the conversion
(domains, purpose, how many ciphertexts) and never a person; the answer is the signed grant, or a problem
document (403 ``refused`` with the policy's reason codes)."""

from __future__ import annotations

from typing import Annotated, Literal, Protocol

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from sekisho.protocols.access import RequesterKind

PATH = "/policy/grants"

Domain = Annotated[str, Field(min_length=1, max_length=40)]


class GrantDesk(Protocol):
    def conversion_grant(
        self,
        *,
        requester: str,
        requester_kind: RequesterKind,
        from_domain: str,
        to_domain: str,
        purpose: str,
        count: int,
        municipality: str | None = None,
    ) -> str: ...


class GrantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requester: Annotated[str, Field(min_length=1, max_length=128)]
    requester_kind: Literal["agency", "municipality", "clerk", "resident", "proxy", "third-party", "transcryptor"]
    from_domain: Domain
    to_domain: Domain
    purpose: Annotated[str, Field(min_length=1, max_length=64)]
    count: Annotated[int, Field(ge=1, le=10_000_000)]
    municipality: Annotated[str, Field(pattern=r"^\d{6}$")] | None = None


class GrantAnswer(BaseModel):
    grant: str


def router(desk: GrantDesk) -> APIRouter:
    api = APIRouter(tags=["policy"])

    @api.post(PATH, response_model=GrantAnswer)
    def conversion_grant(body: GrantRequest) -> GrantAnswer:
        """Ask the decision point about this conversion; if allowed, a short-lived grant for exactly it."""
        return GrantAnswer(grant=desk.conversion_grant(**body.model_dump()))

    return api
