"""Procedures over a Sekisho home: set the network up, open a transcryptor, open a party's keys.

Where set-up puts things (one directory per party, ``Home.party_dir``):

    network.json                  public parameters (Y, ỹ, Y_R, identity keys, grant issuer key)
    t1/transcryptor.key           T1's σ₁, ρ₁, β₁, identity seed          (passphrase-protected)
    t2/transcryptor.key           T2's σ₂, ρ₂, β₂, identity seed          (passphrase-protected)
    locator/domain-registry.key   y_R, the registry domain's secret key    (passphrase-protected)
    watchdog/grant-issuer.key     the Ed25519 grant-signing key            (passphrase-protected)
"""

from __future__ import annotations

import contextlib
import logging
import secrets as _secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from sekisho.config import Home
from sekisho.errors import Conflict, InvalidInput, Unavailable
from sekisho.keyfile import DEFAULT_N
from sekisho.pep.keys import (
    REGISTRY_KEY_HOLDER,
    TRANSCRYPTORS,
    NetworkParams,
    RandBytes,
    ceremony,
    domain_key_path,
    load_network,
    load_transcryptor,
    network_path,
    save_domain_key,
    save_network,
    save_transcryptor,
    transcryptor_key_path,
)
from sekisho.protocols.conversion import REGISTRY_DOMAIN, AccessHook, PolicyHook
from sekisho.pseudonyms.grants import Clock, GrantIssuer, SignedGrantPolicy, load_issuer, save_issuer, utcnow
from sekisho.pseudonyms.transcryptor import Transcryptor
from sekisho.storage import open_party_db

if TYPE_CHECKING:
    from sekisho.transparency.log import AccessLog

log = logging.getLogger("sekisho.pseudonyms")

CONTEXT = "pseudonyms"
GRANT_ISSUER_PARTY = "watchdog"


def grant_issuer_path(home: Home) -> Path:
    return home.party_dir(GRANT_ISSUER_PARTY) / "grant-issuer.key"


def init_network(
    home: Home, *, passphrase: bytes, randbytes: RandBytes = _secrets.token_bytes, scrypt_n: int = DEFAULT_N
) -> NetworkParams:
    """Run the key ceremony and give each party its keys; publish ``network.json`` last (its presence means
    set-up finished).  On any failure the files this call created are removed again."""
    if network_path(home.root).exists():
        raise Conflict("this home already has a network (network.json exists)", field="home")
    if not passphrase:
        raise InvalidInput("must not be empty", field="passphrase")
    c = ceremony(randbytes=randbytes)
    created: list[Path] = []
    try:
        for party in TRANSCRYPTORS:
            path = transcryptor_key_path(home.party_dir(party))
            save_transcryptor(path, c.transcryptors[party], passphrase=passphrase, n=scrypt_n)
            created.append(path)
        path = domain_key_path(home.party_dir(REGISTRY_KEY_HOLDER), REGISTRY_DOMAIN)
        save_domain_key(path, c.registry_key, party=REGISTRY_KEY_HOLDER, passphrase=passphrase, n=scrypt_n)
        created.append(path)
        path = grant_issuer_path(home)
        save_issuer(path, GrantIssuer(c.grant_issuer), passphrase=passphrase, n=scrypt_n)
        created.append(path)
        for party in TRANSCRYPTORS:
            open_party_db(home, party, [CONTEXT], create=True).dispose()
        created.append(save_network(home.root, c.network))
    except BaseException:
        for path in created:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    log.info("network %s set up", c.network.network_id)
    return c.network


def open_transcryptor(
    home: Home,
    party: str,
    *,
    passphrase: bytes,
    access: AccessHook,
    policy: PolicyHook | None = None,
    clock: Clock = utcnow,
) -> Transcryptor:
    """T1 or T2 as configured in ``home``: its key file, its database and (unless another policy is given) the
    signed-grant policy with the issuer keys from ``network.json``."""
    return _open_transcryptor(
        home, party, passphrase=passphrase, access=lambda _engine: access, policy=policy, clock=clock
    )


def open_journaled_transcryptor(
    home: Home,
    party: str,
    *,
    passphrase: bytes,
    policy: PolicyHook | None = None,
    clock: Clock = utcnow,
    access_log: AccessLog | None = None,
) -> Transcryptor:
    """T1 or T2 with its production access hook: the journal of served conversions in its own database
    (:class:`~sekisho.pseudonyms.journal.JournalAccessHook`) and, with ``access_log``, their public leaves."""
    from sekisho.pseudonyms.journal import JournalAccessHook

    return _open_transcryptor(
        home,
        party,
        passphrase=passphrase,
        access=lambda engine: JournalAccessHook(engine, clock=clock, party=party, access_log=access_log),
        policy=policy,
        clock=clock,
    )


def _open_transcryptor(
    home: Home,
    party: str,
    *,
    passphrase: bytes,
    access: Callable[[sa.Engine], AccessHook],
    policy: PolicyHook | None,
    clock: Clock,
) -> Transcryptor:
    if party not in TRANSCRYPTORS:
        raise InvalidInput("must be t1 or t2", field="party")
    network = load_network(home.root)
    # T1's and T2's keys are theirs, not the caller's input: a missing or unopenable file makes them unavailable
    path = transcryptor_key_path(home.party_dir(party, create=False))
    secrets = load_transcryptor(path, passphrase=passphrase, party=party)
    if secrets.party != party:
        raise Unavailable(f"its key file {path} holds another transcryptor's keys", field=party)
    engine = open_party_db(home, party, [CONTEXT])
    if policy is None:
        policy = SignedGrantPolicy(engine=engine, issuer_keys=network.issuer_keys(), clock=clock)
    return Transcryptor(secrets=secrets, policy=policy, access=access(engine), engine=engine, clock=clock)


def open_grant_issuer(home: Home, *, passphrase: bytes) -> GrantIssuer:
    return load_issuer(grant_issuer_path(home), passphrase=passphrase, party=GRANT_ISSUER_PARTY)
