"""Fixtures: a deterministic in-memory network for the pure tests, a home with key files for the service tests."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from sekisho.config import Home
from sekisho.pep.keys import Ceremony, DomainKey, assemble_domain_key, ceremony
from sekisho.pseudonyms.grants import GrantIssuer
from sekisho.pseudonyms.service import init_network, open_grant_issuer, open_transcryptor
from sekisho.pseudonyms.testing import RecordingAccessHook
from sekisho.pseudonyms.transcryptor import Transcryptor

PASSPHRASE = b"correct horse battery staple"
#: the cheapest scrypt cost the key files accept: tests open many of them
FAST_N = 2**14
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def seeded(seed: int) -> Callable[[int], bytes]:
    rng = random.Random(seed)
    return rng.randbytes


@pytest.fixture(scope="session")
def cer() -> Ceremony:
    """One fixed network (seeded), shared by the pure tests."""
    return ceremony(randbytes=seeded(20261123), now=NOW)


def domain_key(c: Ceremony, domain: str) -> DomainKey:
    return assemble_domain_key(c.network, domain, [t.key_share(domain) for t in c.transcryptors.values()])


@dataclass
class Net:
    home: Home
    t1: Transcryptor
    t2: Transcryptor
    access: RecordingAccessHook
    issuer: GrantIssuer
    clock: list[datetime]

    def grant(
        self,
        *,
        from_domain: str = "registry",
        to_domain: str = "pension",
        purpose: str = "enrolment",
        max_uses: int = 1000,
        days: int = 30,
        **kw: object,
    ) -> str:
        return self.issuer.issue(
            from_domain=from_domain,
            to_domain=to_domain,
            purpose=purpose,
            max_uses=max_uses,
            not_before=NOW - timedelta(days=1),
            not_after=NOW + timedelta(days=days),
            **kw,
        )


@pytest.fixture
def net(home: Home) -> Iterator[Net]:
    """A network set up in ``home`` (key files, party databases), with T1 and T2 opened from their files."""
    init_network(home, passphrase=PASSPHRASE, scrypt_n=FAST_N)
    access = RecordingAccessHook()
    clock = [NOW]
    t1 = open_transcryptor(home, "t1", passphrase=PASSPHRASE, access=access, clock=lambda: clock[0])
    t2 = open_transcryptor(home, "t2", passphrase=PASSPHRASE, access=access, clock=lambda: clock[0])
    net = Net(home, t1, t2, access, open_grant_issuer(home, passphrase=PASSPHRASE), clock)
    yield net
    t1.engine.dispose()
    t2.engine.dispose()
