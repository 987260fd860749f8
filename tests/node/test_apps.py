"""Every role's app, in-process: health (and what it must not do), OpenAPI, problem documents."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sekisho.config import Home
from sekisho.errors import InvalidInput
from sekisho.node.apps import create_app
from sekisho.node.health import DatabaseProbe
from sekisho.node.roles import ROLES, Role, network
from sekisho.node.supervisor import party_home
from sekisho.problems import MEDIA_TYPE
from sekisho.storage import open_party_db

EXAMPLES = [Role(r, {"municipality": "212016", "agency": "pension"}.get(r)) for r in ROLES]


@pytest.mark.parametrize("role", EXAMPLES, ids=lambda r: r.party)
def test_unknown_path_is_a_problem_document(home: Home, role: Role) -> None:
    with TestClient(create_app(role, home)) as client:
        response = client.get("/no/such/thing?name=髙橋")
    assert response.status_code == 404
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["type"] == "urn:sekisho:problem:not-found"
    assert "髙橋" not in response.text


@pytest.mark.parametrize("role", EXAMPLES, ids=lambda r: r.party)
def test_health_and_openapi_of_a_prepared_party(home: Home, role: Role) -> None:
    open_party_db(home, role.party, role.contexts, create=True).dispose()
    with TestClient(create_app(role, home)) as client:
        health = client.get("/health")
        openapi = client.get("/openapi.json").json()
    body = health.json()
    assert (body["role"], body["name"], body["party"]) == (role.role, role.name, role.party)
    assert body["version"]
    assert "/health" in openapi["paths"]
    if role.role in ("log", "pki"):
        # keys not set up: the party answers, says what is missing, and is not healthy
        assert health.status_code == 503
        assert health.headers["content-type"] == MEDIA_TYPE
        assert body["type"] == "urn:sekisho:problem:unavailable"
    else:
        assert health.status_code == 200, body
        assert body["database"] == "ok"


@pytest.mark.parametrize("role", [Role("t1"), Role("municipality", "131016"), Role("agency", "tax")], ids=str)
def test_health_of_a_missing_database_is_503_and_creates_nothing(home: Home, role: Role) -> None:
    with TestClient(create_app(role, home)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["field"] == "database"
    assert body["party"] == role.party
    with pytest.raises(Exception, match=r"does not exist|no tables"):
        DatabaseProbe(home, role).check()
    # the probe looked, and left nothing behind: no file, no directory (SQLite) and no schema (PostgreSQL)
    assert not (home.root / role.party).exists()
    if home.db_url:
        import sqlalchemy as sa

        engine = sa.create_engine(home.db_url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": home.party_schema(role.party)}
            ).scalar()
        engine.dispose()
        assert found == 0


def test_roles_check_their_names() -> None:
    assert Role("municipality", "212016").party == "municipality/212016"
    assert Role("agency", "kyokai-kenpo").slug == "agency-kyokai-kenpo"
    assert Role("log").party == "log"
    with pytest.raises(InvalidInput, match="name"):
        Role("municipality")
    with pytest.raises(InvalidInput):
        Role("municipality", "21201")
    with pytest.raises(InvalidInput):
        Role("agency", "../etc")
    with pytest.raises(InvalidInput):
        Role("t1", "other")
    with pytest.raises(InvalidInput):
        Role("registry")
    with pytest.raises(InvalidInput, match="twice"):
        network(["212016", "212016"], [])


def test_default_network_has_one_process_per_party() -> None:
    parties = [r.party for r in network()]
    assert parties == [
        "t1",
        "t2",
        "locator",
        "watchdog",
        "log",
        "pki",
        "municipality/212016",
        "municipality/131016",
        "agency/pension",
        "agency/tax",
        "agency/kyokai-kenpo",
    ]


def test_db_url_template_gives_each_party_its_database(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    shared = party_home(root, Role("t1"), "postgresql+psycopg://u@h/sekisho")
    assert shared.db_url == "postgresql+psycopg://u@h/sekisho"
    assert shared.party_schema("t1").endswith("p_t1")  # one schema per party, as sekisho.storage does it
    own = party_home(root, Role("municipality", "212016"), "postgresql+psycopg://u@h/{party}")
    assert own.db_url == "postgresql+psycopg://u@h/municipality_212016"
    assert party_home(root, Role("log"), None).db_url is None
