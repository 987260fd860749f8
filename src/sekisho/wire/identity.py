"""Who a certificate from the organisation CA names.

A party's certificate says ``OU=<role>, CN=<party>`` (``OU=municipality, CN=municipality/212016``); a terminal's
``OU=terminal, CN=<party>/<local id>`` (``CN=municipality/212016/counter-3``).  Both are read only from certificates
the organisation CA signed (the TLS layer or :mod:`sekisho.wire.signatures` has checked that first), and the two
kinds never stand for each other: a terminal's certificate does not make its holder a party.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from sekisho.config import check_party, check_terminal, terminal_party
from sekisho.errors import InvalidInput

#: the OU of a terminal's certificate (sekisho.pki.profiles.TERMINAL_OU issues it)
TERMINAL_OU = "terminal"
#: the roles of the network's parties: the first segment of a party's name
ROLES = frozenset({"municipality", "agency", "t1", "t2", "watchdog", "log", "locator", "pki", "portal"})
#: the internal DNS name every party certificate carries (a client names the party it expects to reach by it)
INTERNAL_DOMAIN = "sekisho.internal"


class NotThisKind(ValueError):
    """The certificate is not of the kind asked for (no message: callers say what they expected)."""


@dataclass(frozen=True, slots=True)
class Party:
    name: str

    @property
    def role(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def hostname(self) -> str:
        """The DNS name in the party's certificate (``municipality-212016.sekisho.internal``)."""
        return party_hostname(self.name)


@dataclass(frozen=True, slots=True)
class Terminal:
    id: str

    @property
    def party(self) -> Party:
        return Party(terminal_party(self.id))


def party_hostname(party: str) -> str:
    return f"{party.replace('/', '-')}.{INTERNAL_DOMAIN}"


def _single(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attributes = name.get_attributes_for_oid(oid)
    if len(attributes) != 1 or not isinstance(attributes[0].value, str):
        raise NotThisKind
    return attributes[0].value


def party_of(cert: x509.Certificate) -> Party:
    """The party a party certificate names; :class:`NotThisKind` for anything else (a terminal's certificate)."""
    role, name = _single(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME), _single(cert.subject, NameOID.COMMON_NAME)
    try:
        check_party(name)
    except InvalidInput:
        raise NotThisKind from None
    party = Party(name)
    if role != party.role or role not in ROLES:
        raise NotThisKind
    return party


def terminal_of(cert: x509.Certificate) -> Terminal:
    """The terminal a terminal certificate names; :class:`NotThisKind` for anything else."""
    if _single(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME) != TERMINAL_OU:
        raise NotThisKind
    try:
        return Terminal(check_terminal(_single(cert.subject, NameOID.COMMON_NAME)))
    except InvalidInput:
        raise NotThisKind from None
