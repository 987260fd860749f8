"""Grant desk contract: a conversion grant is asked the same way in-process (``GrantBroker``) and over HTTP
(``HttpGrantDesk`` through the watchdog's real app): the same grant for an allowed conversion, the same refusal."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sekisho.config import Home
from sekisho.errors import Refused
from sekisho.keyfile import PASSPHRASE_ENV
from sekisho.node.apps import watchdog_app
from sekisho.node.http.watchdog import HttpGrantDesk
from sekisho.node.local import LocalNetwork
from sekisho.node.roles import Role
from sekisho.policy.pia import load_pia
from sekisho.policy.service import Watchdog
from sekisho.problems import MEDIA_TYPE
from sekisho.pseudonyms.grants import verify_grant
from sekisho.pseudonyms.service import init_network, open_grant_issuer

PASSPHRASE = b"correct horse battery staple"
GIFU = "212016"


@pytest.fixture(params=["in-process", "http"])
def desk(request: pytest.FixtureRequest, home: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    init_network(home, passphrase=PASSPHRASE, scrypt_n=2**14)
    wd = Watchdog.open(home, passphrase=PASSPHRASE, scrypt_n=2**14)
    for path in sorted(Path(str(resources.files("sekisho.policy.data").joinpath("pias"))).glob("*.yaml")):
        pia = load_pia(path)
        if pia.agency == "pension":
            wd.submit_pia(pia, by="agency-officer")
            wd.approve_pia(pia.id, by="wd-officer-1")
    wd.engine.dispose()
    if request.param == "in-process":
        net = LocalNetwork(home, passphrase=PASSPHRASE)
        yield net.grants()
        net.close()
        return
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE.decode())
    with TestClient(watchdog_app(Role("watchdog"), home), base_url="http://watchdog.test") as client:
        yield HttpGrantDesk(client)


def test_an_allowed_conversion_gets_a_grant_for_exactly_it(desk: HttpGrantDesk, home: Home) -> None:
    issuer = open_grant_issuer(home, passphrase=PASSPHRASE)
    token = desk.index_grant(municipality=GIFU, count=3)
    grant = verify_grant(token, {issuer.key_id: issuer.key.public_key()})
    assert (grant.from_domain, grant.to_domain, grant.purpose, grant.max_uses) == (
        "registry",
        "registry",
        "registry.locate",
        3,
    )


def test_a_refused_conversion_gets_no_grant(desk: HttpGrantDesk) -> None:
    with pytest.raises(Refused) as exc:
        desk.conversion_grant(
            requester="pension",
            requester_kind="agency",
            from_domain="pension",
            to_domain="tax",
            purpose="tax.assessment",
            count=1,
        )
    assert "refused" in str(exc.value)


@pytest.mark.parametrize("desk", ["http"], indirect=True)  # a body exists only over HTTP
def test_a_malformed_grant_request_is_a_problem_document(desk: object) -> None:
    assert isinstance(desk, HttpGrantDesk)
    response = desk._client.post("/policy/grants", json={"requester": "pension", "count": 0})
    assert response.status_code == 422 and response.headers["content-type"].startswith(MEDIA_TYPE)
