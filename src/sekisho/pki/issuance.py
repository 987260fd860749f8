"""Issuance, one transaction each: a card from its application at a municipality's counter (both certificates, or
a new signature certificate on the resident's card), the network's party and terminal certificates from the
organisation CA, and a municipality's credential-issuer certificate from its prefectural CA.

A card application is an enrolment with the PKI (:data:`~sekisho.pki.hierarchy.PURPOSE`) that reached it within
:data:`APPLICATION_TTL`: the certificates hold exactly what the register released, bound to the PKI's pseudonym of
the person (:mod:`sekisho.pki.counter` runs the whole counter visit).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol, cast

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sekisho.config import check_party, check_terminal
from sekisho.errors import Conflict, InvalidInput, NotFound, Refused
from sekisho.pep.encoding import decode_pseudonym
from sekisho.pki import profiles, store
from sekisho.pki.hierarchy import DOMAIN, PURPOSE, Pki, ca_of, cert_row, cross_certificates, der, utcnow
from sekisho.pki.prefectures import prefecture, prefecture_of_municipality
from sekisho.pki.profiles import ORGANISATION, BasicItems, Endpoints, Sex, prefecture_ca_id

#: how long after it reached the PKI an enrolment may be used to apply for a card (once)
APPLICATION_TTL = timedelta(minutes=15)


class EnrolledPerson(Protocol):
    """One person of an enrolment delivery as the PKI's agency side holds them."""

    @property
    def pseudonym(self) -> str: ...

    @property
    def purpose(self) -> str: ...

    @property
    def attributes(self) -> Mapping[str, str]: ...

    @property
    def received_at(self) -> datetime: ...


class Enrolments(Protocol):
    """The PKI's agency side as a card application reads it (``sekisho.agency.service.AgencyService``, handed by
    the composition root)."""

    def delivered(self, delivery_id: str) -> Sequence[EnrolledPerson]: ...


@dataclass(frozen=True, slots=True)
class Issued:
    subject_id: str
    authentication: x509.Certificate | None
    signature: x509.Certificate | None


@dataclass(frozen=True, slots=True, repr=False)
class Application:
    """A card application: one person the municipality just enrolled with the PKI (one delivery), as the PKI
    received them — its own pseudonym and exactly the items the register released."""

    delivery_id: str
    municipality: str
    owner: str
    received_at: datetime
    _attributes: Mapping[str, str]

    def basic_items(self) -> BasicItems:
        """The four basic items for a signature certificate, as the register released them."""
        a = self._attributes
        missing = [i for i in ("name", "birth_date", "sex", "address") if not a.get(i)]
        if missing:
            raise Refused(f"the register released no {missing[0]} for this resident", field="items")
        try:
            born = date.fromisoformat(a["birth_date"])
        except ValueError:
            raise Conflict("the register's birth date is not complete", field="birth_date") from None
        sex = {"M": "male", "F": "female"}.get(a["sex"])
        if sex is None:
            raise Conflict("the register's sex is neither M nor F", field="sex")
        return BasicItems(name=a["name"], birth_date=born, sex=cast(Sex, sex), address=a["address"])

    def __repr__(self) -> str:
        return f"Application(delivery_id={self.delivery_id!r})"


def application(
    pki: Pki, agency: Enrolments, *, delivery_id: str, municipality: str, now: datetime | None = None
) -> Application:
    """The enrolment ``delivery_id`` as a card application at ``municipality``'s counter: it must have reached the
    PKI for ``pki.certificate`` within :data:`APPLICATION_TTL`, name one person and not have served already."""
    prefecture_of_municipality(municipality)
    # delivery ids are "<municipality>-<request id>" (sekisho.registry.release): only the municipality that
    # enrolled applies with it (in production its counter terminal authenticates with its own certificate)
    if not delivery_id.startswith(f"{municipality}-"):
        raise Refused("the enrolment was made by another municipality", field="delivery")
    received = agency.delivered(delivery_id)
    if not received:
        raise NotFound("no enrolment with that id reached the PKI", field="delivery")
    if len(received) != 1:
        raise InvalidInput("a card application names exactly one person", field="delivery")
    [person] = received
    if person.purpose != PURPOSE:
        raise Refused(f"the enrolment was not for {PURPOSE}", field="delivery")
    if (now or utcnow()) - person.received_at > APPLICATION_TTL:
        raise Refused("the enrolment is too old to apply for a card: enrol the resident again", field="delivery")
    with pki.engine.connect() as conn:
        if _used(conn, delivery_id):
            raise Conflict("a card was issued from this enrolment already", field="delivery")
    return Application(delivery_id, municipality, person.pseudonym, person.received_at, dict(person.attributes))


def _used(conn: sa.Connection, delivery_id: str) -> bool:
    c = store.issuance.c
    return conn.execute(sa.select(c.delivery_id).where(c.delivery_id == delivery_id)).first() is not None


def card_of(pki: Pki, *, owner: str, certificate: x509.Certificate) -> str:
    """The card (its subject id) whose authentication certificate is ``certificate``, if it is ``owner``'s and
    still valid; refused otherwise — a card is re-issued a signature certificate only for its own holder."""
    with pki.engine.connect() as conn:
        rows = store.certs_by_serial(conn, store.serial_hex(certificate.serial_number))
    row = next((r for r in rows if r.kind == "authentication" and bytes(r.der) == der(certificate)), None)
    if row is None or row.owner != owner or row.revoked_at is not None or row.subject_id is None:
        raise Refused("the card's authentication certificate is not this resident's, or not valid", field="card")
    return str(row.subject_id)


def issue_card(
    pki: Pki,
    app: Application,
    *,
    authentication_csr: x509.CertificateSigningRequest | None,
    signature_csr: x509.CertificateSigningRequest | None,
    card: str | None = None,
    now: datetime | None = None,
) -> Issued:
    """Issue from a card application: a new card (both requests), or a new signature certificate on the card
    ``card`` (its subject id, from :func:`card_of`) that keeps its authentication certificate."""
    if card is not None and authentication_csr is not None:
        raise InvalidInput("a card keeps its authentication certificate: request only a signature", field="csr")
    if card is None and authentication_csr is None:
        raise InvalidInput("a new card needs its authentication certificate", field="authentication_csr")
    return issue(
        pki,
        owner=app.owner,
        municipality=app.municipality,
        authentication_csr=authentication_csr,
        signature_csr=signature_csr,
        items=app.basic_items() if signature_csr is not None else None,
        subject_id=card,
        data_as_of=app.received_at,
        application=app.delivery_id,
        now=now,
    )


def _accept_csr(csr: x509.CertificateSigningRequest, field_name: str) -> ec.EllipticCurvePublicKey:
    if not csr.is_signature_valid:
        raise InvalidInput("the request's proof of possession does not verify", field=field_name)
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != profiles.CURVE.name:
        raise InvalidInput("a card key is ECDSA P-256", field=field_name)
    return key


def issue(
    pki: Pki,
    *,
    owner: str,
    municipality: str,
    authentication_csr: x509.CertificateSigningRequest | None,
    signature_csr: x509.CertificateSigningRequest | None,
    items: BasicItems | None,
    subject_id: str | None = None,
    data_as_of: datetime | None = None,
    application: str | None = None,
    now: datetime | None = None,
    validity: timedelta | None = None,
) -> Issued:
    """Issue certificates from the prefectural CA of ``municipality`` (where the card is issued) to ``owner``, the
    PKI's pseudonym of the person, in one transaction: the application is claimed, the owner's earlier live
    certificates of the same kinds are superseded (one card per person), an open offer is taken.

    The authentication certificate gets the card's random subject identifier and nothing else; the signature
    certificate carries ``items``, which must be what the register released (:meth:`Application.basic_items`).
    ``subject_id``: an existing card of the owner's that gets a new signature certificate.
    """
    if authentication_csr is None and signature_csr is None:
        raise InvalidInput("nothing to issue: give a certificate request", field="csr")
    if signature_csr is not None and items is None:
        raise InvalidInput("a signature certificate needs the four basic items from the register", field="items")
    decode_pseudonym(owner, domain=DOMAIN)
    pref = prefecture_of_municipality(municipality)
    ca_id = prefecture_ca_id(pref.code)
    when = now or utcnow()
    not_after = when + validity if validity is not None else None
    issuer_key = pki.keyring.ca_key(ca_id)
    endpoints = pki.endpoints()
    with pki.engine.begin() as conn:
        if application is not None:
            if _used(conn, application):
                raise Conflict("a card was issued from this enrolment already", field="delivery")
            conn.execute(store.issuance.insert().values(delivery_id=application[:64], issued_at=when))
        if subject_id is not None and not any(
            r.kind == "authentication" and r.owner == owner for r in store.live_certs_of_card(conn, subject_id)
        ):
            raise Refused("the card's authentication certificate is not this resident's, or not valid", field="card")
        issuer = x509.load_der_x509_certificate(ca_of(conn, ca_id).cert_der)
        card = subject_id or profiles.new_subject_id()
        auth_cert = sign_cert = None
        rows = []
        if authentication_csr is not None:
            auth_cert = profiles.authentication_certificate(
                prefecture=pref.code,
                subject_id=card,
                key=_accept_csr(authentication_csr, "authentication_csr"),
                issuer=issuer,
                issuer_key=issuer_key,
                endpoints=endpoints,
                now=when,
                not_after=not_after,
            )
            rows.append(
                cert_row(ca_id, auth_cert, "authentication", when, owner=owner, subject_id=card, data_as_of=data_as_of)
            )
        if signature_csr is not None and items is not None:
            sign_cert = profiles.signature_certificate(
                prefecture=pref.code,
                subject_id=card,
                items=items,
                key=_accept_csr(signature_csr, "signature_csr"),
                issuer=issuer,
                issuer_key=issuer_key,
                endpoints=endpoints,
                now=when,
                not_after=not_after,
            )
            rows.append(
                cert_row(ca_id, sign_cert, "signature", when, owner=owner, subject_id=card, data_as_of=data_as_of)
            )
            conn.execute(
                store.offer.update()
                .where(store.offer.c.owner == owner, store.offer.c.taken_at.is_(None))
                .values(taken_at=when)
            )
        # one live certificate of each kind per person: a new card (or signature) supersedes the earlier one
        kinds = [r["kind"] for r in rows]
        for old in store.live_certs_of(conn, owner, kinds):
            store.mark_revoked(conn, old.ca_id, old.serial, at=when, reason=x509.ReasonFlags.superseded.value)
        conn.execute(store.cert.insert(), rows)
    return Issued(subject_id=card, authentication=auth_cert, signature=sign_cert)


def issue_party_certificate(
    pki: Pki,
    *,
    party: str,
    csr: x509.CertificateSigningRequest,
    hosts: Sequence[str] = (),
    now: datetime | None = None,
) -> x509.Certificate:
    """A network party's TLS server and client certificate from the organisation CA (``OU=<role>, CN=<party>``;
    loopback and ``hosts`` in subjectAltName).  Revocable like any other (:func:`revoke`, by serial)."""
    check_party(party)
    for host in hosts:
        if not _HOST.fullmatch(host):
            raise InvalidInput("a host is a DNS name or an IP address", field="hosts")
    return _issue_organisation(
        pki,
        csr=csr,
        kind="party",
        now=now,
        build=lambda key, issuer, endpoints, when: profiles.party_certificate(
            party=party,
            key=key,
            issuer=issuer,
            issuer_key=pki.keyring.ca_key(ORGANISATION),
            endpoints=endpoints,
            now=when,
            hosts=hosts,
        ),
    )


def issue_terminal_certificate(
    pki: Pki,
    *,
    terminal: str,
    csr: x509.CertificateSigningRequest,
    days: int = profiles.TERMINAL_DAYS,
    now: datetime | None = None,
) -> x509.Certificate:
    """A terminal's certificate (``OU=terminal, CN=<party>/<local id>``) from the organisation CA: its key signs
    the requests that cause an access; revoking it (by serial) shuts out that terminal alone."""
    check_terminal(terminal)
    if not 1 <= days <= profiles.TERMINAL_DAYS:
        raise InvalidInput(f"must be between 1 and {profiles.TERMINAL_DAYS}", field="days")
    return _issue_organisation(
        pki,
        csr=csr,
        kind="terminal",
        now=now,
        build=lambda key, issuer, endpoints, when: profiles.terminal_certificate(
            terminal=terminal,
            key=key,
            issuer=issuer,
            issuer_key=pki.keyring.ca_key(ORGANISATION),
            endpoints=endpoints,
            now=when,
            days=days,
        ),
    )


_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|[0-9a-fA-F:.]{2,45}")
_Build = Callable[[ec.EllipticCurvePublicKey, x509.Certificate, Endpoints, datetime], x509.Certificate]


def _issue_organisation(
    pki: Pki, *, csr: x509.CertificateSigningRequest, kind: str, now: datetime | None, build: _Build
) -> x509.Certificate:
    when = now or utcnow()
    key = _accept_csr(csr, "csr")
    endpoints = pki.endpoints()
    with pki.engine.begin() as conn:
        issuer = x509.load_der_x509_certificate(ca_of(conn, ORGANISATION).cert_der)
        cert = build(key, issuer, endpoints, when)
        conn.execute(store.cert.insert(), [cert_row(ORGANISATION, cert, kind, when)])
    return cert


def certify_credential_issuer(
    pki: Pki, *, municipality: str, public_key: ec.EllipticCurvePublicKey, now: datetime | None = None
) -> list[x509.Certificate]:
    """Certify a municipality's credential-issuer key (or, given a two-digit prefecture code, the prefecture's own)
    from its prefectural CA, in one transaction.

    Returns the ``x5c`` chain a credential carries: the issuer certificate, then the bridge's certificate to the
    prefecture (the verifier adds its own prefecture's certificate to the bridge and its root)."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
        raise InvalidInput("the issuer key must be ECDSA P-256", field="public_key")
    when = now or utcnow()
    # a two-digit code: the prefecture's own issuer (prefecture-run issuance, sekisho.credentials.prefecture)
    pref = prefecture(municipality).code if len(municipality) == 2 else prefecture_of_municipality(municipality).code
    ca_id = prefecture_ca_id(pref)
    with pki.engine.begin() as conn:
        issuer = x509.load_der_x509_certificate(ca_of(conn, ca_id).cert_der)
        cert = profiles.credential_issuer_certificate(
            prefecture=pref,
            municipality=municipality,
            key=public_key,
            issuer=issuer,
            issuer_key=pki.keyring.ca_key(ca_id),
            endpoints=pki.endpoints(),
            now=when,
        )
        conn.execute(store.cert.insert(), [cert_row(ca_id, cert, "vc-issuer", when)])
    bridge_to_pref = [
        c for c in cross_certificates(pki.engine) if c.subject == issuer.subject and c.issuer != c.subject
    ]
    return [cert, *bridge_to_pref[:1]]
