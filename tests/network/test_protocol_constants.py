"""Constants a party keeps its own copy of (to import no other party) must agree with the protocol's."""

from __future__ import annotations

from sekisho.policy import grants
from sekisho.protocols.conversion import REGISTRY_DOMAIN


def test_grant_desk_names_the_registry_domain_as_the_pseudonyms_do() -> None:
    assert grants.REGISTRY_DOMAIN == REGISTRY_DOMAIN
