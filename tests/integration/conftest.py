"""The real app on the real database, plus a small API driver used by every area's tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from appliance.config import Settings
from appliance.server.app import create_app
from tests.integration.api import Api, bootstrap_system_admin


@pytest.fixture(scope="session")
def app(pg_settings: Settings) -> Litestar:
    return create_app(pg_settings)


@pytest.fixture(scope="session")
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def api(client: TestClient[Litestar], pg_settings: Settings) -> Api:
    """An API driver logged in as a system_admin created through the CLI."""
    username, password = bootstrap_system_admin(pg_settings)
    return Api(client, client_token(client, username, password))


def client_token(client: TestClient[Litestar], username: str, password: str) -> str:
    response = client.post(
        "/v1/auth/token", json={"grant_type": "password", "username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def tenant(api: Api) -> dict[str, Any]:
    """A fresh tenant with one tenant_admin (``admin``) and one site (``site``)."""
    return api.new_tenant(f"tenant-{uuid.uuid4().hex[:8]}")
