"""The PKI wired as an agency of the network: its pseudonym domain (``pki``) and the agency side through which
municipalities enrol residents with it (card applications) and send it change notices, which revoke certificates
(:func:`sekisho.pki.status.on_notice`) in the transaction that stores them.  Composition: the only place that puts
``sekisho.agency`` and ``sekisho.pki`` together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sekisho.agency.service import AgencyService
from sekisho.config import Home
from sekisho.errors import NotFound
from sekisho.keyfile import DEFAULT_N
from sekisho.pep.group import Scalar
from sekisho.pep.keys import domain_key_path
from sekisho.pki.hierarchy import DOMAIN, PARTY, PURPOSE, Pki
from sekisho.pki.status import on_notice


def join_network(
    pki: Pki, home: Home, *, shares: Sequence[Scalar], passphrase: bytes, scrypt_n: int = DEFAULT_N
) -> bool:
    """Give the PKI its pseudonym domain: its key from T1's and T2's shares, its agency tables in its own
    database.  Idempotent; returns whether it was set up now."""
    if domain_key_path(home.party_dir(PARTY), DOMAIN).exists():
        return False
    AgencyService.create(
        home, DOMAIN, purposes=[PURPOSE], shares=shares, passphrase=passphrase, scrypt_n=scrypt_n, engine=pki.engine
    )
    return True


def agency_of(pki: Pki, home: Home, *, passphrase: bytes) -> AgencyService:
    """The PKI as municipalities reach it: enrolments and change notices under its own pseudonym, on its own
    database, where a notice revokes certificates in the transaction that stores it."""
    if not domain_key_path(home.party_dir(PARTY, create=False), DOMAIN).exists():
        raise NotFound("the PKI has not joined the network (run `sekisho pki init` after `network init`)", field="pki")
    return AgencyService.open(home, DOMAIN, passphrase=passphrase, engine=pki.engine, on_notice=on_notice)


class _JoinNetwork(Protocol):
    @property
    def home(self) -> Home: ...

    def pki(self) -> Pki: ...

    def key_shares(self, domain: str) -> Sequence[Scalar]: ...


def join(net: _JoinNetwork, *, passphrase: bytes, scrypt_n: int = DEFAULT_N) -> bool:
    """The PKI's pseudonym domain, from T1's and T2's key shares (which go to the ``pki`` party alone).
    Idempotent; returns whether it was set up now."""
    return join_network(net.pki(), net.home, shares=net.key_shares(DOMAIN), passphrase=passphrase, scrypt_n=scrypt_n)
