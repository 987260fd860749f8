"""The home municipality's certificate desk: one request → the decision, the register's read (access record first),
the form, its signature.

The desk works on two protocols the composition root fills (``sekisho.node.residence``): a :class:`Gate` — the
decision point and the municipality's protections; it records a refusal and raises :class:`Refused` — and an
:class:`ItemSource`, the register's read.  Nothing is rendered or signed before the register's access record is
in the public log, and nothing leaves on a refusal.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sekisho.certificates.model import Certificate, Request, new_serial
from sekisho.certificates.render import render
from sekisho.certificates.signing import DocumentSigner, SignerRevoked
from sekisho.errors import InvalidInput
from sekisho.jp.clock import JST

Form = Literal["pdf", "json"]
FORMS: tuple[Form, ...] = ("pdf", "json")
MEDIA = {"pdf": "application/pdf", "json": "application/json"}


@dataclass(frozen=True, slots=True)
class Allowed:
    items: frozenset[str]
    legal_basis: str | None
    #: a whole household's certificate: the members it may show (the resident's protections decided each one)
    members: tuple[str, ...] = ()


class Gate(Protocol):
    def allow(self, request: Request) -> Allowed:
        """Decide (and record the decision); on a refusal record it with the resident and raise ``Refused``."""
        ...

    def refuse(self, request: Request, reasons: tuple[str, ...]) -> None:
        """Record with the resident a request the desk refuses before any decision (reason codes only)."""
        ...


class ItemSource(Protocol):
    def items(self, request: Request, *, allowed: Allowed) -> Mapping[str, Any]:
        """The register's read of the allowed items, its access record in the public log before it returns."""
        ...


@dataclass(frozen=True, slots=True)
class Issued:
    serial: str
    form: Form
    body: bytes

    @property
    def media_type(self) -> str:
        return MEDIA[self.form]


def form_of(value: str) -> Form:
    if value == "pdf":
        return "pdf"
    if value == "json":
        return "json"
    raise InvalidInput("must be pdf or json", field="form")


class Desk:
    """Municipality ``signer.municipality``'s issuing desk."""

    def __init__(
        self,
        *,
        signer: DocumentSigner,
        gate: Gate,
        source: ItemSource,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.signer = signer
        self.gate = gate
        self.source = source
        self.clock = clock

    @property
    def municipality(self) -> str:
        return self.signer.municipality

    async def async_issue(self, request: Request, *, form: Form) -> Issued:
        if request.home != self.municipality:
            raise InvalidInput("the resident's home is another municipality", field="home")
        request.check_reason()
        # the desk's own key first: a revoked key signs nothing a verifier would accept, so the request is refused
        # before the decision point, 本人通知 or the register's read (no access record of a read that leads
        # nowhere) — recorded with the resident as refused, as every refusal is.  The CRL checked here is the one
        # the form then carries.  A PKI that does not answer: unavailable, nothing recorded.
        crl = await asyncio.to_thread(self._checked_signer, request)
        # the decision and the register's read block on their databases: off the event loop
        allowed = await asyncio.to_thread(self.gate.allow, request)
        released = await asyncio.to_thread(self.source.items, request, allowed=allowed)
        at = self.clock()
        certificate = Certificate.build(
            request=request,
            released=released,
            items=allowed.items,
            at=at,
            serial=new_serial(self.municipality, at.astimezone(JST).date()),
        )
        if form == "json":
            doc = certificate.document()
            # the CRL rides along (the CA signed it): the form verifies offline with its revocation status
            body = _json(
                {"certificate": doc, "jws": self.signer.sign_document(doc), "crl": base64.b64encode(crl).decode()}
            )
        else:
            pdf = await asyncio.to_thread(render, certificate)
            body = await self.signer.async_sign_pdf(pdf, certificate=certificate, crl=crl)
        return Issued(serial=certificate.serial, form=form, body=body)

    def _checked_signer(self, request: Request) -> bytes:
        try:
            return self.signer.current_crl(now=self.clock())
        except SignerRevoked:
            self.gate.refuse(request, ("signer-revoked",))
            raise

    def issue(self, request: Request, *, form: Form) -> Issued:
        """:meth:`async_issue` for a caller without an event loop (the CLI, in-process)."""
        return asyncio.run(self.async_issue(request, form=form))


def _json(value: Mapping[str, Any]) -> bytes:
    import json

    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
