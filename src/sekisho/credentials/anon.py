"""Unlinkable credentials with predicates: AnonCreds (CL signatures, anoncreds-rs through the ``anoncreds`` package).

Who issues (docs/credentials-anon.md): **the prefecture**, one schema, one credential definition and one revocation
registry per prefecture.  A presentation always names the credential definition it was made from, so the issuer
is the one thing every presentation reveals; with prefectural issuers that is exactly the prefecture — which is
what "reveal only the prefecture" asks for anyway — while municipal issuers would reveal the municipality in every
proof.  The municipality's register supplies the data (:func:`issue_from_register`, an access record first).

Attributes, all integers so that predicates work on them (anoncreds encodes a 32-bit integer as itself):

- ``prefecture``: JIS X 0401 code (``21`` for 岐阜県);
- ``birthdate``: ``YYYYMMDD``; "over 20 today" is the predicate ``birthdate <= YYYYMMDD of today − 20 years``;
- ``expires``: ``YYYYMMDD``, the last day the credential is valid; "not expired" is ``expires >= today``.

Revocation: a CL accumulator registry (``CL_ACCUM``) per prefecture, every credential issued by default; a
death, a move out of the prefecture or a lost card flips the credential's index in the published status list.
Holders prove non-revocation against the newest list; verifiers fetch that list — the same public document for
everybody — and never ask the issuer about a credential.  Indices are drawn at random among the free ones.

Every key is drawn and every proof is made and checked by anoncreds-rs: no part of the CL scheme is written here
(anoncreds-rs 0.2.3 draws a 2049–2050-bit modulus, which OpenSSL multiplies about twice as slowly as a 2048-bit one
— docs/benchmarks.md; that is the library's to change, not ours to redraw).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any, Protocol

from anoncreds import (
    AnoncredsError,
    Credential,
    CredentialDefinition,
    CredentialDefinitionPrivate,
    CredentialOffer,
    CredentialRequest,
    CredentialRequestMetadata,
    CredentialRevocationConfig,
    CredentialRevocationState,
    KeyCorrectnessProof,
    Presentation,
    PresentationRequest,
    PresentCredentials,
    RevocationRegistryDefinition,
    RevocationRegistryDefinitionPrivate,
    RevocationStatusList,
    Schema,
    create_link_secret,
    generate_nonce,
)

from sekisho.errors import Conflict, IntegrityError, InvalidInput, NotFound, Refused
from sekisho.jp.clock import JST

SCHEMA_NAME = "sekisho-resident"
SCHEMA_VERSION = "1.0"
ATTRIBUTES = ("prefecture", "birthdate", "expires")
SIGNATURE_TYPE = "CL"
REGISTRY_TYPE = "CL_ACCUM"
DEFAULT_CAPACITY = 1024
#: the purpose written in the register's access record when a credential is issued from it
PURPOSE = "credential-issuance"


class PresentationRejected(IntegrityError):
    """A presentation that does not verify (exit 4); the message names the rule, never a value."""


def yyyymmdd(d: date) -> int:
    return d.year * 10_000 + d.month * 100 + d.day


def years_before(today: date, years: int) -> date:
    """``today`` minus ``years`` calendar years; 29 February falls back to 28 February (a person born on 29
    February 2006 turns 20 on 1 March 2026 under 年齢計算ニ関スル法律 — born ≤ 2006-02-28 is the safe side)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def day_start(day: date) -> int:
    """Unix seconds of midnight in Japan on ``day``: the oldest status list a check on that day accepts when it
    does not prove expiry (the issuer's daily :meth:`AnonIssuer.sweep` revokes expired credentials)."""
    return int(datetime.combine(day, clock_time(0), tzinfo=JST).timestamp())


def check_prefecture(code: str) -> str:
    if len(code) != 2 or not code.isdigit() or not 1 <= int(code) <= 47:
        raise InvalidInput("a prefecture is a JIS X 0401 code 01–47", field="prefecture")
    return code


def _json(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(obj.to_json())
    return out


# ---------------------------------------------------------------------------------------------------------------
# the issuer (a prefecture)


@dataclass(frozen=True, slots=True)
class PublicIssuerData:
    """What a prefecture publishes: enough for holders to prove and for anyone to verify, nothing about anyone.

    The tails file is public too (holders need it for their witness); verifiers do not."""

    prefecture: str
    schema_id: str
    schema: Mapping[str, Any]
    cred_def_id: str
    cred_def: Mapping[str, Any]
    rev_reg_id: str
    rev_reg_def: Mapping[str, Any]
    status_list: Mapping[str, Any]
    tails_path: str

    @property
    def timestamp(self) -> int:
        return int(self.status_list["timestamp"])

    def to_json(self) -> dict[str, Any]:
        return {
            "prefecture": self.prefecture,
            "schema_id": self.schema_id,
            "schema": self.schema,
            "cred_def_id": self.cred_def_id,
            "cred_def": self.cred_def,
            "rev_reg_id": self.rev_reg_id,
            "rev_reg_def": self.rev_reg_def,
            "status_list": self.status_list,
            "tails_path": self.tails_path,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PublicIssuerData:
        try:
            return cls(**{k: data[k] for k in cls.__slots__})
        except KeyError:
            raise InvalidInput("incomplete issuer data", field="issuer") from None


@dataclass(frozen=True, slots=True)
class Offer:
    offer: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Issued:
    credential: Mapping[str, Any]
    index: int


class AnonIssuer:
    """One prefecture's AnonCreds issuer: its keys, its revocation registry and who holds which index.

    ``subject`` is the caller's opaque reference to a credential's holder (the register hands over a handle);
    it never enters a credential.  ``clock`` gives Unix seconds (status list timestamps)."""

    def __init__(self, state: dict[str, Any], *, clock: Callable[[], int] | None = None) -> None:
        self._s = state
        self._clock = clock or (lambda: int(time.time()))
        # on the real clock a list is never dated ahead of it (see _next_timestamp); a test's clock is its own
        self._wait_for_clock = clock is None
        self._cache: dict[str, Any] = {}

    # --- set-up ----------------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        prefecture: str,
        *,
        directory: Path,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], int] | None = None,
    ) -> AnonIssuer:
        """Keys, schema, credential definition and an empty revocation registry of ``capacity`` credentials;
        the tails file is written into ``directory``."""
        check_prefecture(prefecture)
        if not 2 <= capacity <= 1 << 20:
            raise InvalidInput("a revocation registry holds 2..1048576 credentials", field="capacity")
        issuer_id = f"sekisho:prefecture:{prefecture}"
        schema_id = f"{issuer_id}/schema/{SCHEMA_NAME}/{SCHEMA_VERSION}"
        cred_def_id = f"{issuer_id}/credential-definition/{SCHEMA_NAME}"
        rev_reg_id = f"{issuer_id}/revocation-registry/{SCHEMA_NAME}/1"
        schema = Schema.create(SCHEMA_NAME, SCHEMA_VERSION, issuer_id, list(ATTRIBUTES))
        cred_def, cred_def_private, key_proof = CredentialDefinition.create(
            schema_id, schema, issuer_id, "default", SIGNATURE_TYPE, support_revocation=True
        )
        directory.mkdir(parents=True, exist_ok=True)
        rev_def, rev_private = RevocationRegistryDefinition.create(
            cred_def_id, cred_def, issuer_id, "1", REGISTRY_TYPE, capacity, tails_dir_path=str(directory)
        )
        clock_ = clock or (lambda: int(time.time()))
        status = RevocationStatusList.create(
            cred_def, rev_reg_id, rev_def, rev_private, issuer_id, issuance_by_default=True, timestamp=clock_()
        )
        state = {
            "prefecture": prefecture,
            "issuer_id": issuer_id,
            "schema_id": schema_id,
            "schema": _json(schema),
            "cred_def_id": cred_def_id,
            "cred_def": _json(cred_def),
            "cred_def_private": _json(cred_def_private),
            "key_proof": _json(key_proof),
            "rev_reg_id": rev_reg_id,
            "rev_reg_def": _json(rev_def),
            "rev_reg_private": _json(rev_private),
            "status_list": _json(status),
            "capacity": capacity,
            # subject -> index; an index once used is never handed out again
            "indices": {},
            "revoked": [],
        }
        return cls(state, clock=clock)

    def to_json(self) -> dict[str, Any]:
        """The whole state, private keys included: store it as a party's key file (sealed, 0600)."""
        return json.loads(json.dumps(self._s))  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, state: Mapping[str, Any], *, clock: Callable[[], int] | None = None) -> AnonIssuer:
        return cls(dict(state), clock=clock)

    # --- objects -------------------------------------------------------------------------------------------

    def _obj(self, key: str, kind: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = kind.load(json.dumps(self._s[key]))
        return self._cache[key]

    @property
    def prefecture(self) -> str:
        return str(self._s["prefecture"])

    def public(self) -> PublicIssuerData:
        return PublicIssuerData(
            prefecture=self.prefecture,
            schema_id=self._s["schema_id"],
            schema=self._s["schema"],
            cred_def_id=self._s["cred_def_id"],
            cred_def=self._s["cred_def"],
            rev_reg_id=self._s["rev_reg_id"],
            rev_reg_def=self._s["rev_reg_def"],
            status_list=self._s["status_list"],
            tails_path=str(self._s["rev_reg_def"]["value"]["tailsLocation"]),
        )

    # --- issuance ------------------------------------------------------------------------------------------

    def offer(self) -> Offer:
        key_proof = self._obj("key_proof", KeyCorrectnessProof)
        return Offer(_json(CredentialOffer.create(self._s["schema_id"], self._s["cred_def_id"], key_proof)))

    def _free_index(self) -> int:
        used = set(self._s["indices"].values()) | set(self._s["revoked"])
        capacity = int(self._s["capacity"])
        # anoncreds-rs (0.2.3) accepts indices 1 .. capacity − 1
        if len(used) >= capacity - 1:
            raise Conflict("the revocation registry is full", field="capacity")
        # drawn at random: an index says nothing about when or where a credential was issued
        while True:
            index = 1 + secrets.randbelow(capacity - 1)
            if index not in used:
                return index

    def issue(
        self,
        *,
        subject: str,
        offer: Offer,
        request: Mapping[str, Any],
        birthdate: date,
        expires: date,
    ) -> Issued:
        """Sign a credential for the holder's ``request`` (which hides their link secret); a subject that
        already holds a live credential has it revoked first (one live credential per person)."""
        if subject in self._s["indices"]:
            self.revoke(subject)
        index = self._free_index()
        config = CredentialRevocationConfig(
            self._obj("rev_reg_def", RevocationRegistryDefinition),
            self._obj("rev_reg_private", RevocationRegistryDefinitionPrivate),
            RevocationStatusList.load(json.dumps(self._s["status_list"])),
            index,
        )
        values = {
            "prefecture": str(int(self.prefecture)),
            "birthdate": str(yyyymmdd(birthdate)),
            "expires": str(yyyymmdd(expires)),
        }
        try:
            cred = Credential.create(
                self._obj("cred_def", CredentialDefinition),
                self._obj("cred_def_private", CredentialDefinitionPrivate),
                CredentialOffer.load(json.dumps(offer.offer)),
                CredentialRequest.load(json.dumps(request)),
                values,
                None,
                config,
            )
        except AnoncredsError:
            raise InvalidInput("the credential request does not match the offer", field="request") from None
        self._s["indices"][subject] = index
        # kept so that the credential is revoked on its expiry day (:meth:`sweep`): a login proves
        # non-revocation only, not expiry (a range predicate would cost it more than all the rest)
        self._s.setdefault("expires", {})[subject] = yyyymmdd(expires)
        return Issued(_json(cred), index)

    # --- revocation ----------------------------------------------------------------------------------------

    def revoke(self, subject: str) -> int:
        """Revoke ``subject``'s credential (death, move out of the prefecture, lost card) and publish a new
        status list; returns its timestamp.  ``NotFound`` if the subject holds no live credential."""
        if subject not in self._s["indices"]:
            raise NotFound("no live credential for that subject", field="subject")
        return self._revoke([subject])

    def sweep(self, today: date) -> int:
        """The day's publication: revoke every credential whose expiry is before ``today`` and publish a status
        list of today even when none expired — relying parties require one (``sekisho.login.protocol``), so a
        prefecture that stops sweeping stops logins rather than letting expired cards in.  Returns how many
        credentials expired."""
        cutoff = yyyymmdd(today)
        expires = self._s.setdefault("expires", {})
        expired = sorted(s for s in self._s["indices"] if int(expires.get(s, cutoff)) < cutoff)
        self._revoke(expired)  # none expired: the same list, newly dated
        return len(expired)

    def _next_timestamp(self) -> int:
        # strictly later than the list it replaces: a proof made against the old list names the old timestamp.
        # Not later than the clock either: a relying party's request proves non-revocation "no later than now"
        # (the list's timestamp must lie in the request's non_revoked interval), so a list dated a second ahead
        # — a second update within one second — would refuse every login for that second. Wait for it instead.
        last = int(self._s["status_list"]["timestamp"])
        ahead = last + 1 - time.time()
        if self._wait_for_clock and 0 < ahead <= 2:  # further ahead is another clock's list: not worth a wait
            time.sleep(ahead)
        return max(self._clock(), last + 1)

    def _revoke(self, subjects: list[str]) -> int:
        indices = [self._s["indices"].pop(s) for s in subjects]
        for s in subjects:
            self._s.setdefault("expires", {}).pop(s, None)
        self._s["revoked"].extend(indices)
        old = RevocationStatusList.load(json.dumps(self._s["status_list"]))
        timestamp = self._next_timestamp()
        # (``update_timestamp_only`` of anoncreds 0.2.3's Python wrapper fails on its own handle: an update with
        # no index dates the list just as well)
        new = old.update(
            self._obj("cred_def", CredentialDefinition),
            self._obj("rev_reg_def", RevocationRegistryDefinition),
            self._obj("rev_reg_private", RevocationRegistryDefinitionPrivate),
            None,
            indices or None,
            timestamp,
        )
        self._s["status_list"] = _json(new)
        return timestamp

    def on_register_event(self, *, subject: str, kind: str) -> bool:
        """A register change that makes the credential untrue: death, a move out of the prefecture, a lost
        card.  Returns whether a credential was revoked (idempotent: a repeat finds none)."""
        if kind not in ("died", "moved_out", "card_lost"):
            return False
        if subject not in self._s["indices"]:
            return False
        self.revoke(subject)
        return True


def subject_of(municipality: str, handle: str) -> str:
    """The issuer's reference to a resident: handles are unique within one register only."""
    return f"{municipality}:{handle}"


class RegisterEvents:
    """The register's event sink for the issuer (``RegisterService.deliver_events``): a death or a move out
    revokes the credential.  A move to another municipality of the same prefecture revokes it too — the record
    it was issued from is closed; the new register issues a new one."""

    def __init__(self, issuer: AnonIssuer, *, on_change: Callable[[], None] | None = None) -> None:
        self.issuer = issuer
        self._on_change = on_change

    def deliver(self, *, kind: str, municipality: str, handle: str, event_date: date, extra: dict[str, Any]) -> None:
        if self.issuer.on_register_event(subject=subject_of(municipality, handle), kind=kind) and self._on_change:
            self._on_change()


class ResidentSource(Protocol):
    """A municipality's register as issuance reads it (``sekisho.registry.service.RegisterService``): ``show``
    writes the access record in the read's own transaction, before the record is returned."""

    code: str

    def show(self, handle: str, *, purpose: str = ...) -> Any: ...


def issue_from_register(
    issuer: AnonIssuer,
    register: ResidentSource,
    *,
    handle: str,
    offer: Offer,
    request: Mapping[str, Any],
    today: date,
    valid_for_days: int = 365,
) -> Issued:
    """Issue ``handle``'s credential from the register of their municipality (which must lie in the issuer's
    prefecture): the read writes its access record first; a closed record or an incomplete birth date is
    refused."""
    from datetime import timedelta

    if register.code[:2] != issuer.prefecture:
        raise Refused("the register is not in the issuer's prefecture", field="municipality")
    resident = register.show(handle, purpose=PURPOSE)
    if str(getattr(resident.status, "value", resident.status)) != "active":
        raise Refused("the resident's record is not active", field="status")
    born = resident.birth_date
    if born.year is None or born.month is None or born.day is None or born.approximate:
        raise Conflict("the register's birth date is not complete", field="birth_date")
    return issuer.issue(
        subject=subject_of(register.code, handle),
        offer=offer,
        request=request,
        birthdate=date(born.year, born.month, born.day),
        expires=today + timedelta(days=valid_for_days),
    )


# ---------------------------------------------------------------------------------------------------------------
# the holder (the resident's wallet)


@dataclass(slots=True)
class AnonHolder:
    """A wallet's AnonCreds side: the link secret (never leaves) and the credentials it holds."""

    link_secret: str = field(default_factory=create_link_secret, repr=False)
    link_secret_id: str = "default"  # noqa: S105 (a name, not a secret)
    _pending: dict[str, Any] = field(default_factory=dict, repr=False)
    credentials: list[HeldCredential] = field(default_factory=list, repr=False)

    def request(self, public: PublicIssuerData, offer: Offer) -> dict[str, Any]:
        """A credential request for ``offer``: it commits to the link secret without revealing it."""
        req, meta = CredentialRequest.create(
            secrets.token_hex(16),  # entropy: fresh per request, so requests are unlinkable too
            None,
            CredentialDefinition.load(json.dumps(public.cred_def)),
            self.link_secret,
            self.link_secret_id,
            CredentialOffer.load(json.dumps(offer.offer)),
        )
        body = _json(req)
        self._pending[body["nonce"]] = _json(meta)
        return body

    def receive(self, public: PublicIssuerData, request: Mapping[str, Any], issued: Issued) -> HeldCredential:
        meta = self._pending.pop(str(request["nonce"]), None)
        if meta is None:
            raise InvalidInput("no pending request for this credential", field="credential")
        try:
            cred = Credential.load(json.dumps(issued.credential)).process(
                CredentialRequestMetadata.load(json.dumps(meta)),
                self.link_secret,
                CredentialDefinition.load(json.dumps(public.cred_def)),
                RevocationRegistryDefinition.load(json.dumps(public.rev_reg_def)),
            )
        except AnoncredsError:
            raise PresentationRejected("the credential's signature does not verify", field="credential") from None
        held = HeldCredential(credential=cred, index=issued.index, public=public)
        self.credentials.append(held)
        return held


@dataclass(slots=True)
class HeldCredential:
    credential: Credential
    index: int
    public: PublicIssuerData
    _state: CredentialRevocationState | None = None
    _state_list: Mapping[str, Any] | None = None

    def refresh(self, public: PublicIssuerData) -> None:
        """Bring the non-revocation witness up to ``public``'s status list (the holder fetches the list like
        everybody else; nobody learns whose witness is updated)."""
        rev_def = RevocationRegistryDefinition.load(json.dumps(public.rev_reg_def))
        new_list = RevocationStatusList.load(json.dumps(public.status_list))
        try:
            if self._state is None or self._state_list is None:
                self._state = CredentialRevocationState.create(rev_def, new_list, self.index, public.tails_path)
            elif self._state_list["timestamp"] != public.status_list["timestamp"]:
                self._state = CredentialRevocationState.create(
                    rev_def,
                    new_list,
                    self.index,
                    public.tails_path,
                    self._state,
                    RevocationStatusList.load(json.dumps(self._state_list)),
                )
        except AnoncredsError:
            # anoncreds refuses to build a witness for a revoked index
            raise Refused("the credential has been revoked", field="credential") from None
        self._state_list = public.status_list
        self.public = public


# ---------------------------------------------------------------------------------------------------------------
# presentation requests, presentations, verification


#: the referent of an attribute a presentation proves without revealing it (when nothing else is asked)
HIDDEN = "held"


def presentation_request(
    *,
    cred_def_ids: Iterable[str],
    today: date,
    at: int,
    reveal_prefecture: bool = False,
    min_age: int | None = None,
    nonce: str | None = None,
    name: str = "sekisho",
    prove_expiry: bool = False,
) -> dict[str, Any]:
    """A verifier's request: reveal the prefecture or nothing; prove ``birthdate <= today − min_age years`` and
    non-revocation at ``at`` (Unix seconds).  Expiry is the issuer's daily sweep, checked by :func:`verify`'s day
    rule (a status list of ``today``), not a predicate: each CL range proof costs about as much as the rest of the
    proof together (docs/benchmarks.md), so an age check proves one predicate, not two.  ``prove_expiry`` adds
    ``expires >= today`` for a verifier that cannot require a list of the day.  ``cred_def_ids``: the prefectures
    the verifier accepts (the restriction)."""
    restriction = [{"cred_def_id": c} for c in cred_def_ids]
    if not restriction:
        raise InvalidInput("name at least one accepted issuer", field="issuer")
    attrs: dict[str, Any] = {}
    if reveal_prefecture:
        attrs["prefecture"] = {"name": "prefecture", "restrictions": restriction}
    preds: dict[str, Any] = {}
    if prove_expiry:
        preds["valid"] = {"name": "expires", "p_type": ">=", "p_value": yyyymmdd(today), "restrictions": restriction}
    if min_age is not None:
        if not 0 <= min_age <= 150:
            raise InvalidInput("an age is 0..150", field="min_age")
        preds["age"] = {
            "name": "birthdate",
            "p_type": "<=",
            "p_value": yyyymmdd(years_before(today, min_age)),
            "restrictions": restriction,
        }
    if not attrs and not preds:
        # a presentation must name the credential somehow: an attribute proved but not revealed shows nothing
        attrs[HIDDEN] = {"name": "prefecture", "restrictions": restriction}
    return {
        "name": name,
        "version": "1.0",
        "nonce": nonce or generate_nonce(),
        "requested_attributes": attrs,
        "requested_predicates": preds,
        "non_revoked": {"from": 0, "to": at},
    }


def nonce_for(*parts: bytes) -> str:
    """An AnonCreds nonce (a decimal of at most 80 bits) bound to ``parts`` — e.g. a login challenge and the
    pseudonym it logs in — so that a presentation answers that one exchange only."""

    digest = hashlib.sha256(b"sekisho-anoncreds-nonce-v1\x00" + b"\x00".join(parts)).digest()
    return str(int.from_bytes(digest[:10], "big"))


def present(held: HeldCredential, holder: AnonHolder, request: Mapping[str, Any]) -> dict[str, Any]:
    """Answer ``request`` from ``held``: reveal what it asks for, prove its predicates and non-revocation."""
    public = held.public
    if held._state is None:
        held.refresh(public)
    present_creds = PresentCredentials()
    ts = public.timestamp
    for ref in request.get("requested_attributes", {}):
        present_creds.add_attributes(held.credential, ref, reveal=ref != HIDDEN, timestamp=ts, rev_state=held._state)
    for ref in request.get("requested_predicates", {}):
        present_creds.add_predicates(held.credential, ref, timestamp=ts, rev_state=held._state)
    try:
        pres = Presentation.create(
            PresentationRequest.load(json.dumps(request)),
            present_creds,
            {},
            holder.link_secret,
            {public.schema_id: Schema.load(json.dumps(public.schema))},
            {public.cred_def_id: CredentialDefinition.load(json.dumps(public.cred_def))},
        )
    except AnoncredsError:
        # a predicate that does not hold cannot be proved: the credential does not satisfy the request
        raise Refused("the credential does not satisfy the request", field="request") from None
    return _json(pres)


_P_TYPES = {">=": "GE", "<=": "LE", ">": "GT", "<": "LT"}


def _check_proof_matches_request(presentation: Mapping[str, Any], request: Mapping[str, Any]) -> None:
    """What anoncreds-rs leaves to the caller (0.2.3): it checks each predicate proof against the bound written
    *in the proof*, so an "over 18" proof passes a request for "over 20".  The proof's predicates and revealed
    attributes must be exactly the request's."""
    try:
        [proof] = presentation["proof"]["proofs"]
        primary = proof["primary_proof"]
        got = sorted(
            (g["predicate"]["attr_name"], g["predicate"]["p_type"], int(g["predicate"]["value"]))
            for g in primary["ge_proofs"]
        )
        revealed = set(primary["eq_proof"]["revealed_attrs"])
        wanted = sorted(
            (p["name"], _P_TYPES[p["p_type"]], int(p["p_value"])) for p in request["requested_predicates"].values()
        )
        asked = {a["name"] for ref, a in request.get("requested_attributes", {}).items() if ref != HIDDEN}
    except (KeyError, TypeError, ValueError):
        raise PresentationRejected("the presentation is malformed", field="proof") from None
    if got != wanted:
        raise PresentationRejected("the predicates proved are not the ones requested", field="predicates")
    if revealed != asked:
        raise PresentationRejected("the attributes revealed are not the ones requested", field="revealed_attrs")


@dataclass(frozen=True, slots=True)
class Verified:
    prefecture: str
    #: the revealed attributes, by requested name (only those asked for)
    revealed: Mapping[str, str]


def verify(
    presentation: Mapping[str, Any],
    request: Mapping[str, Any],
    issuers: Iterable[PublicIssuerData],
    *,
    today: date | None = None,
) -> Verified:
    """Check ``presentation`` against ``request`` with the issuers' published data (their newest status lists):
    every proof, the predicates, non-revocation, and that nothing beyond the request is revealed.  A request that
    does not prove expiry needs ``today``, and the issuer's list must be of that day (the day rule: without the
    day's sweep an expired credential would pass).  Raises :class:`PresentationRejected` naming the rule that
    failed; returns the issuing prefecture and what was revealed."""
    proves_expiry = any(
        isinstance(p, Mapping) and p.get("name") == "expires" for p in request.get("requested_predicates", {}).values()
    )
    if not proves_expiry and today is None:
        raise InvalidInput("a request that proves no expiry needs today's date", field="today")
    by_def = {p.cred_def_id: p for p in issuers}
    try:
        ids = presentation["identifiers"]
        requested = presentation["requested_proof"]
        [ident] = ids
        issuer = by_def[ident["cred_def_id"]]
    except (KeyError, TypeError, ValueError):
        raise PresentationRejected("the presentation names no accepted issuer", field="identifiers") from None
    parts = ("revealed_attrs", "unrevealed_attrs", "self_attested_attrs", "predicates")
    if not isinstance(requested, Mapping) or not all(isinstance(requested.get(k, {}), Mapping) for k in parts):
        raise PresentationRejected("the presentation is malformed", field="requested_proof")
    revealed_attrs = requested.get("revealed_attrs", {})
    if not all(isinstance(v, Mapping) and isinstance(v.get("raw"), str) for v in revealed_attrs.values()):
        raise PresentationRejected("the presentation is malformed", field="revealed_attrs")
    if not isinstance(ident, Mapping):
        raise PresentationRejected("the presentation is malformed", field="identifiers")
    if ident.get("rev_reg_id") != issuer.rev_reg_id or ident.get("timestamp") != issuer.timestamp:
        raise PresentationRejected(
            "the non-revocation proof is not against the issuer's newest status list", field="timestamp"
        )
    if not proves_expiry and today is not None and issuer.timestamp < day_start(today):
        raise PresentationRejected("the issuer's status list is not of today (no sweep yet)", field="timestamp")
    asked = set(request.get("requested_attributes", {}))
    shown = set(requested.get("revealed_attrs", {})) | set(requested.get("unrevealed_attrs", {}))
    if shown - asked or requested.get("self_attested_attrs") or requested.get("revealed_attr_groups"):
        raise PresentationRejected("the presentation shows attributes that were not asked for", field="requested_proof")
    _check_proof_matches_request(presentation, request)
    try:
        ok = Presentation.load(json.dumps(presentation)).verify(
            PresentationRequest.load(json.dumps(request)),
            {issuer.schema_id: Schema.load(json.dumps(issuer.schema))},
            {issuer.cred_def_id: CredentialDefinition.load(json.dumps(issuer.cred_def))},
            {issuer.rev_reg_id: RevocationRegistryDefinition.load(json.dumps(issuer.rev_reg_def))},
            [RevocationStatusList.load(json.dumps(issuer.status_list))],
        )
    except AnoncredsError:
        raise PresentationRejected(
            "the presentation is malformed or does not match the request", field="proof"
        ) from None
    if not ok:
        raise PresentationRejected("the proof does not verify", field="proof")
    revealed = {ref: str(v["raw"]) for ref, v in requested.get("revealed_attrs", {}).items()}
    return Verified(prefecture=issuer.prefecture, revealed=revealed)
