"""A transcryptor: one of the two parties (T1, the ministry; T2, the watchdog) that convert pseudonyms blindly.

Each applies ``rrsk`` with *its own* factors only — reshuffle ``s_{to,i}·s_{from,i}⁻¹``, rekey ``k_{to,i}``,
fresh randomness — so a conversion needs both, in either order (the factors commute), and neither learns a
plaintext: it sees ElGamal ciphertexts under keys whose secrets it does not hold (Verheul & Jacobs 2017,
"Polymorphic pseudonymisation"; libpep README, n-PEP: "confidentiality and pseudonym unlinkability hold as long
as at least one of them remains uncompromised").

:func:`transcrypt` is the pure computation.  :class:`Transcryptor` wraps it with the two hooks, in the order the
privacy rules demand: validate → ``policy.authorise`` → ``access.record`` → convert.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from sekisho.errors import InvalidInput, Refused
from sekisho.pep.elgamal import check_batch
from sekisho.pep.group import Point
from sekisho.pep.keys import TranscryptorSecrets
from sekisho.pep.operations import rekey_public_key, rrsk_validated
from sekisho.protocols.conversion import (
    AccessHook,
    ConversionRequest,
    HopResult,
    JournalHook,
    PolicyHook,
    RecordingPolicyHook,
)
from sekisho.pseudonyms import store
from sekisho.pseudonyms.grants import Clock, utcnow

log = logging.getLogger("sekisho.pseudonyms.transcryptor")


def _prepare(request: ConversionRequest) -> tuple[Point, list[bytes]]:
    """Every input check, before any hook runs: a malformed request is an input error, not a refusal."""
    if not isinstance(request, ConversionRequest):
        raise InvalidInput("must be a ConversionRequest", field="request")
    request.check()
    key = Point.from_bytes(request.key, field="key")
    return key, check_batch(request.ciphertexts)


def _convert(secrets: TranscryptorSecrets, request: ConversionRequest, key: Point, batch: list[bytes]) -> HopResult:
    s, k = secrets.conversion_factors(request.from_domain, request.to_domain)
    key_out = rekey_public_key(key, k)
    out = rrsk_validated(batch, s, k, key_out)
    return HopResult(party=secrets.party, request_id=request.request_id, ciphertexts=tuple(out), key=key_out.to_bytes())


def transcrypt(secrets: TranscryptorSecrets, request: ConversionRequest) -> HopResult:
    """This transcryptor's half of a conversion, as a pure function of its secrets and the request (no hooks)."""
    key, batch = _prepare(request)
    return _convert(secrets, request, key, batch)


class Transcryptor:
    """The transcryptor service: its secrets, its policy, its access-record hook and its own database.

    There is no default access hook: an access record must be written before anything is converted, and a
    silent no-op would defeat that.  Refusals are journaled in ``pep_refusal`` (metadata only) and the access
    hook is *not* called for them (nothing was released)."""

    def __init__(
        self,
        *,
        secrets: TranscryptorSecrets,
        policy: PolicyHook,
        access: AccessHook,
        engine: sa.Engine,
        clock: Clock = utcnow,
    ) -> None:
        if not isinstance(access, AccessHook):
            raise InvalidInput("a transcryptor needs an access-record hook", field="access")
        if not isinstance(policy, PolicyHook):
            raise InvalidInput("a transcryptor needs a policy hook", field="policy")
        self.secrets = secrets
        self.policy = policy
        self.access = access
        self.engine = engine
        self._clock = clock

    @property
    def party(self) -> str:
        return self.secrets.party

    def convert(self, request: ConversionRequest) -> HopResult:
        key, batch = _prepare(request)
        recording = self.policy if isinstance(self.policy, RecordingPolicyHook) else None
        journal = self.access if isinstance(self.access, JournalHook) else None
        written: list[Any] = []
        try:
            if recording is not None and journal is not None:
                # the recorded decision and the journal row in one transaction: one durable commit per hop
                grant = recording.authorise_recording(
                    request, lambda conn, g: written.append(journal.record_in(conn, request, g))
                )
            else:
                grant = self.policy.authorise(request)
        except Refused as exc:
            with self.engine.begin() as conn:
                store.record_refusal(conn, request=request, reason=str(exc), now=self._clock())
            # kept in the journal and raised to the requester: not a warning of this party's own health
            log.info(
                "%s refused request_id=%s requester=%s from=%s to=%s purpose=%s n=%d: %s",
                self.party,
                request.request_id,
                request.requester,
                request.from_domain,
                request.to_domain,
                request.purpose,
                len(batch),
                exc,
            )
            raise
        if journal is not None and written:
            journal.publish(written[0])  # raises -> nothing converted
        else:
            self.access.record(request, grant)  # raises -> nothing converted
        result = _convert(self.secrets, request, key, batch)
        log.info(
            "%s converted request_id=%s requester=%s from=%s to=%s purpose=%s grant=%s n=%d",
            self.party,
            request.request_id,
            request.requester,
            request.from_domain,
            request.to_domain,
            request.purpose,
            grant.grant_id,
            len(batch),
        )
        return result

    def __repr__(self) -> str:
        return f"Transcryptor(party={self.party!r})"
