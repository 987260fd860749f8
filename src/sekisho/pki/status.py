"""Certificate status, one transaction each: revocation (by the register's change notices, by serial, a whole
lost card), the offers of a new signature certificate a change leaves, CRLs (RFC 5280) and the OCSP responder
(RFC 6960), and relying parties that check revocation through that responder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy.engine import Engine

from sekisho.errors import Conflict, InvalidInput, NotFound, Refused
from sekisho.pep.encoding import decode_pseudonym
from sekisho.pki import profiles, revocation, store
from sekisho.pki.hierarchy import DOMAIN, Pki, ca_of, cross_certificates, root, utcnow
from sekisho.pki.oids import Purpose
from sekisho.pki.prefectures import prefecture, prefecture_of_municipality
from sekisho.pki.verify import OcspChecker, RelyingParty
from sekisho.protocols.agency import Notice

log = logging.getLogger("sekisho.pki")

#: a change the register recorded less than this before a certificate's data arrived may not be in it (clocks of
#: two parties, and the time from the register's read to the PKI's receipt): such a certificate is revoked
CHANGE_MARGIN = timedelta(seconds=5)


# What each register change does to the owner's certificates (the notices of the PKI's legal-basis row):
#   died         both, cessationOfOperation: the holder no longer exists as a resident
#   moved_*      signature only, affiliationChanged: its address is no longer true; a new one is offered
#                (moved_in too: the destination's notice may arrive before the origin's moved_out)
#   name_changed signature only, superseded: its name is no longer true; a new one is offered
# A lost card is not a register event: revoke_card, keyCompromise.
_RULES: dict[str, tuple[tuple[str, ...], x509.ReasonFlags, bool]] = {
    "died": (("authentication", "signature"), x509.ReasonFlags.cessation_of_operation, False),
    "moved_out": (("signature",), x509.ReasonFlags.affiliation_changed, True),
    "moved_in": (("signature",), x509.ReasonFlags.affiliation_changed, True),
    "moved_within": (("signature",), x509.ReasonFlags.affiliation_changed, True),
    "name_changed": (("signature",), x509.ReasonFlags.superseded, True),
}


@dataclass(frozen=True, slots=True)
class EventOutcome:
    revoked: tuple[str, ...]  # "ca_id:serial"
    reason: x509.ReasonFlags
    #: the signature certificate's contents changed: the resident is offered a new one
    offer_new_signature: bool


def apply_event(
    conn: sa.Connection, *, owner: str, kind: str, recorded_at: datetime | None, now: datetime
) -> EventOutcome | None:
    """Apply one register change to ``owner``'s live certificates, in the caller's transaction; ``None`` for a
    change that concerns no certificate.  A certificate whose data arrived after the register recorded the change
    (plus :data:`CHANGE_MARGIN` for the clocks) already holds it and is kept: a notice delivered after the resident
    re-issued at the counter does not revoke the new certificate.  Idempotent: a repeat finds nothing to revoke."""
    rule = _RULES.get(kind)
    if rule is None:
        return None
    kinds, reason, offer = rule
    revoked: list[str] = []
    signature = False
    for row in store.live_certs_of(conn, owner, kinds):
        as_of = store.aware(row.data_as_of) if row.data_as_of is not None else None
        if as_of is not None and recorded_at is not None and as_of >= recorded_at + CHANGE_MARGIN:
            continue  # its data arrived after the change was recorded: it already holds it
        if store.mark_revoked(conn, row.ca_id, row.serial, at=now, reason=reason.value):
            revoked.append(f"{row.ca_id}:{row.serial}")
            signature = signature or row.kind == "signature"
    offered = offer and signature
    if offered:
        o = store.offer.c
        if conn.execute(sa.select(o.owner).where(o.owner == owner)).first() is None:
            conn.execute(store.offer.insert().values(owner=owner, kind=kind, offered_at=now, taken_at=None))
        else:
            conn.execute(store.offer.update().where(o.owner == owner).values(kind=kind, offered_at=now, taken_at=None))
    return EventOutcome(revoked=tuple(revoked), reason=reason, offer_new_signature=offered)


def on_register_event(
    engine: Engine, *, owner: str, kind: str, recorded_at: datetime | None = None, at: datetime | None = None
) -> EventOutcome:
    """:func:`apply_event` in a transaction of its own (the notice hook runs it inside the notice's)."""
    if kind not in _RULES:
        raise InvalidInput("not a register event the PKI handles", field="kind")
    decode_pseudonym(owner, domain=DOMAIN)
    when = at or utcnow()
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    with engine.begin() as conn:
        outcome = apply_event(conn, owner=owner, kind=kind, recorded_at=recorded_at, now=when)
    assert outcome is not None
    return outcome


def on_notice(conn: sa.Connection, pseudonym: str, notice: Notice) -> None:
    """The PKI's notice hook: a change notice revokes what it makes untrue, in the notice's own transaction."""
    outcome = apply_event(conn, owner=pseudonym, kind=notice.kind, recorded_at=notice.recorded_at, now=utcnow())
    if outcome is not None and outcome.revoked:
        log.info("pki: notice kind=%s revoked n=%d", notice.kind, len(outcome.revoked))


def offers(engine: Engine) -> list[dict[str, Any]]:
    """Open offers of a new signature certificate: owner (the PKI's pseudonym), the change, when."""
    o = store.offer.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(store.offer).where(o.taken_at.is_(None)).order_by(o.offered_at, o.owner)).all()
    return [{"owner": r.owner, "kind": r.kind, "offered_at": store.aware(r.offered_at)} for r in rows]


def _serial(serial: str) -> str:
    try:
        return store.serial_hex(int(serial.removeprefix("0x").replace(":", ""), 16))
    except ValueError:
        raise InvalidInput("a serial number is hexadecimal", field="serial") from None


def _one_by_serial(conn: sa.Connection, serial: str, ca_id: str | None) -> sa.Row[Any]:
    rows = [r for r in store.certs_by_serial(conn, _serial(serial)) if ca_id is None or r.ca_id == ca_id]
    if not rows:
        raise NotFound("no certificate with that serial number", field="serial")
    if len(rows) > 1:
        raise Conflict("two CAs issued that serial number: name the CA", field="ca")
    row: sa.Row[Any] = rows[0]
    return row


def revoke(
    engine: Engine,
    *,
    serial: str,
    reason: x509.ReasonFlags,
    ca_id: str | None = None,
    at: datetime | None = None,
) -> str:
    """Revoke one certificate by serial (hex); ``ca_id`` disambiguates if two CAs used the same serial."""
    if reason is x509.ReasonFlags.remove_from_crl:
        raise InvalidInput("removeFromCRL is for delta CRLs only", field="reason")
    with engine.begin() as conn:
        row = _one_by_serial(conn, serial, ca_id)
        if row.revoked_at is not None:
            raise Conflict("the certificate is already revoked", field="serial")
        store.mark_revoked(conn, row.ca_id, row.serial, at=at or utcnow(), reason=reason.value)
    return f"{row.ca_id}:{row.serial}"


def revoke_card(
    engine: Engine,
    *,
    serial: str,
    reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise,
    ca_id: str | None = None,
    at: datetime | None = None,
) -> tuple[str, ...]:
    """Revoke every live certificate of the card that holds certificate ``serial`` (a lost or stolen card: both
    keys are on it).  Not a register event: the resident reports it at the counter or the PKI's help line."""
    if reason is x509.ReasonFlags.remove_from_crl:
        raise InvalidInput("removeFromCRL is for delta CRLs only", field="reason")
    with engine.begin() as conn:
        row = _one_by_serial(conn, serial, ca_id)
        if row.kind not in ("authentication", "signature") or row.subject_id is None:
            raise InvalidInput("names no card's certificate (revoke it alone)", field="serial")
        live = store.live_certs_of_card(conn, row.subject_id)
        if not live:
            raise Conflict("the card's certificates are already revoked", field="serial")
        when = at or utcnow()
        for r in live:
            store.mark_revoked(conn, r.ca_id, r.serial, at=when, reason=reason.value)
    return tuple(f"{r.ca_id}:{r.serial}" for r in live)


def current(conn: sa.Connection, ca_id: str, serial: int) -> revocation.Status:
    """The status of one certificate as the database has it now (in the caller's transaction)."""
    row = store.cert_row(conn, ca_id, store.serial_hex(serial))
    if row is None:
        return revocation.Status("unknown")
    if row.revoked_at is None:
        return revocation.Status("good")
    return revocation.Status("revoked", store.aware(row.revoked_at), x509.ReasonFlags(row.reason))


def crl(pki: Pki, *, ca_id: str, now: datetime | None = None) -> x509.CertificateRevocationList:
    """A fresh, complete CRL of one CA (RFC 5280 §5), with the next CRL number."""
    when = now or utcnow()
    with pki.engine.connect() as conn:
        ca_of(conn, ca_id)  # NotFound before any key file is touched
    key = pki.keyring.ca_key(ca_id)
    with pki.engine.begin() as conn:
        row = ca_of(conn, ca_id)
        number = store.next_crl_number(conn, ca_id)
        entries = [
            revocation.RevokedEntry(int(r.serial, 16), store.aware(r.revoked_at), x509.ReasonFlags(r.reason))
            for r in store.revoked_of(conn, ca_id)
        ]
    return revocation.build_crl(
        issuer=_name_of(row),
        issuer_key=key,
        entries=entries,
        number=number,
        now=when,
    )


def _name_of(row: sa.Row[Any]) -> x509.Name:
    # the CA's name exactly as it appears in its certificates' issuer field; the bridge has no certificate
    # of its own (nobody trusts it directly), so its name comes from the profile that names it
    if row.cert_der is not None:
        return x509.load_der_x509_certificate(row.cert_der).subject
    return profiles.ca_name(row.ca_id)


# ---------------------------------------------------------------------------------------------------------------
# OCSP


#: a pre-produced OCSP response (a request without a nonce) is served again while younger than this: half its
#: lifetime, so that what a relying party caches until its nextUpdate stays usable for at least as long again
PRESIGNED_REUSE = revocation.OCSP_LIFETIME / 2
#: pre-produced responses kept in memory (one per certificate and status)
PRESIGNED_MAX = 100_000


def ocsp_respond(pki: Pki, request_der: bytes, *, now: datetime | None = None) -> bytes:
    """RFC 6960 responder: the status read from the database at this moment, signed by the CA's delegated
    responder.  Malformed or foreign requests get the unsigned error statuses of §2.3.  A request with a nonce
    gets a response signed for it (echoing the nonce); one without gets the pre-produced response for that status
    (RFC 5019), signed again once the status changes or the response is :data:`PRESIGNED_REUSE` old."""
    try:
        request = revocation.parse_request(request_der)
    except InvalidInput:
        return revocation.error_response(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    if isinstance(request.hash_algorithm, hashes.SHA1):
        sha256 = False
    elif isinstance(request.hash_algorithm, hashes.SHA256):
        sha256 = True
    else:
        return revocation.error_response(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    when = now or utcnow()
    nonce = revocation.request_nonce(request)
    with pki.engine.connect() as conn:
        issuer = pki._issuers.get((sha256, request.issuer_key_hash))
        if issuer is None:
            ca_row = store.ca_by_key_hash(conn, sha256=sha256, key_hash=request.issuer_key_hash)
            if ca_row is not None:
                name_hash = ca_row.name_sha256 if sha256 else ca_row.name_sha1
                issuer = (ca_row.ca_id, name_hash, x509.load_der_x509_certificate(ca_row.ocsp_cert_der))
                pki._issuers[(sha256, request.issuer_key_hash)] = issuer
        if issuer is None or issuer[1] != request.issuer_name_hash:
            # §2.3 unauthorized: this responder does not serve that issuer
            return revocation.error_response(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        ca_id, _, responder_cert = issuer
        state = current(conn, ca_id, request.serial_number)
    # RFC 5019 §2.2 / RFC 6960 §2.4: a request without a nonce may be answered with a pre-produced response.  The
    # status is read above on every request and is part of the key, so a revocation is answered at once by a
    # newly signed response; only an unchanged status reuses its signature, until it is half its lifetime old
    key = (ca_id, sha256, request.serial_number, state)
    if nonce is None:
        made = pki._presigned.get(key)
        if made is not None and timedelta(0) <= when - made[0] < PRESIGNED_REUSE:
            return made[1]
    response = revocation.build_response(
        request=request,
        status=state,
        responder_cert=responder_cert,
        responder_key=pki.keyring.ocsp_key(ca_id),
        now=when,
    )
    der = response.public_bytes(serialization.Encoding.DER)
    if nonce is None:
        if len(pki._presigned) >= PRESIGNED_MAX:
            pki._presigned.clear()  # a bound on memory; the next requests sign again
        pki._presigned[key] = (when, der)
    return der


def relying_party(pki: Pki, *, trust: str) -> RelyingParty:
    """A relying party of prefecture ``trust`` that checks revocation through this PKI's own OCSP responder."""
    return RelyingParty.for_prefecture(
        code=trust,
        root=root(pki.engine, trust),
        intermediates=cross_certificates(pki.engine),
        revocation=OcspChecker(lambda req: ocsp_respond(pki, req)),
    )


@dataclass(frozen=True, slots=True)
class CredentialChainValidator:
    """A verifier of prefecture ``trust`` checking a credential's ``x5c`` through the bridge, with revocation
    (OCSP of this PKI).  It has the shape ``sekisho.verifier`` asks for (``validate(chain, at=…) -> issuer``)."""

    pki: Pki
    trust: str

    def validate(self, chain: Sequence[x509.Certificate], *, at: datetime) -> str:
        if not chain:
            raise InvalidInput("x5c is empty", field="x5c")
        path = relying_party(self.pki, trust=self.trust).verify(chain[0], purpose=Purpose.SIGNATURE, at=at)
        leaf = path.chain[0]
        unit = leaf.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
        cn = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if not unit or unit[0].value != "credential-issuer" or not cn:
            raise Refused("the certificate is not a credential issuer's", field="x5c")
        name = str(cn[0].value)
        # the issuer's name is only as good as the CA that vouched for it: a prefectural CA certifies its own
        # municipalities (or its own prefecture's issuer), never another prefecture's — else any prefecture could
        # issue credentials in the name of a town elsewhere and every verifier, through the bridge, would accept them
        try:
            pref = prefecture(name) if len(name) == 2 else prefecture_of_municipality(name)
        except InvalidInput:
            raise Refused("the credential issuer's name is not a public body's code", field="x5c") from None
        if len(path.chain) < 2 or path.chain[1].subject != profiles.ca_name(profiles.prefecture_ca_id(pref.code)):
            raise Refused("the credential issuer was not certified by its own prefecture's CA", field="x5c")
        return name
