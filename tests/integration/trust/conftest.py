"""An app on the real database, a real S3 server (SeaweedFS) and the default input bounds, and
a shop in it: a tenant with two sites, a camera, an edge worker and a site manager per site."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from appliance.config import Settings
from appliance.server.app import create_app
from appliance.storage.s3 import S3ObjectStore
from tests.integration.api import PASSWORD, Api, face_event, system_admin_api
from tests.integration.storage.conftest import (
    ACCESS_KEY,
    SECRET_KEY,
    START_TIMEOUT,
    WeedServer,
    make_store,
    start_weed,
)

DIM = 128
REPO = Path(__file__).resolve().parents[3]
MODELS_DIR = REPO.parent / "shared" / "models"


@pytest.fixture(scope="session")
def trust_weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeedServer]:
    server = start_weed(tmp_path_factory.mktemp("trust-seaweedfs"))
    try:
        store = make_store(server)
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # the gateway answers a moment before the filer behind it takes writes
            try:
                store.ensure_buckets(30)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield server
    finally:
        server.stop()


def with_s3(settings: Settings, endpoint: str) -> Settings:
    """``settings`` on the S3 server at ``endpoint`` (host:port)."""
    return msgspec.structs.replace(
        settings,
        s3_endpoint=endpoint,
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
        s3_region="us-east-1",
        s3_secure=False,
    )


@pytest.fixture(scope="session")
def trust_settings(
    pg_settings: Settings, trust_weed: WeedServer, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The shared test database, S3 and the default ``captured_at`` window (7 days … 5 minutes)."""
    defaults = Settings()
    return with_s3(
        msgspec.structs.replace(
            pg_settings,
            embedding_dim=DIM,
            data_dir=str(tmp_path_factory.mktemp("trust-data")),
            models_dir=str(MODELS_DIR),
            captured_at_max_age_seconds=defaults.captured_at_max_age_seconds,
            captured_at_max_skew_seconds=defaults.captured_at_max_skew_seconds,
        ),
        trust_weed.endpoint,
    )


@pytest.fixture(scope="session")
def trust_client(trust_settings: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=create_app(trust_settings)) as client:
        yield client


@pytest.fixture(scope="session")
def trust_api(trust_client: TestClient[Litestar], trust_settings: Settings) -> Api:
    return system_admin_api(trust_client, trust_settings)


@pytest.fixture(scope="session")
def raw_store(trust_weed: WeedServer) -> S3ObjectStore:
    return make_store(trust_weed)


@contextlib.contextmanager
def served(settings: Settings) -> Iterator[str]:
    """The app under a real uvicorn server (a stream arrives line by line, as in a browser)."""
    import socket
    import threading

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def unit(rng: np.random.Generator, dim: int = DIM) -> np.ndarray[Any, Any]:
    v = rng.standard_normal(dim)
    return v / np.linalg.norm(v)


def now_iso(offset_seconds: float = 0.0) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(seconds=offset_seconds)).isoformat()


class Shop:
    """A tenant with two sites; site A has a camera and an edge worker; a site manager each."""

    def __init__(self, api: Api) -> None:
        made = api.new_tenant(f"trust-{uuid.uuid4().hex[:8]}")
        self.api = api
        self.tenant, self.site, self.admin = made["tenant"], made["site"], made["admin"]
        self.other_site = self.admin.ok("POST", "/v1/sites", 201, json={"name": "Outlet", "timezone": "UTC"})
        self.camera = self.admin.ok(
            "POST", "/v1/cameras", 201, json={"site_id": self.site["id"], "name": "door", "source": "0"}
        )
        self.other_camera = self.admin.ok(
            "POST", "/v1/cameras", 201, json={"site_id": self.other_site["id"], "name": "door", "source": "0"}
        )
        self.worker = self.worker_for(self.site["id"])
        self.manager_name = f"mgr-{uuid.uuid4().hex[:8]}"
        self.manager_id = self.admin.ok(
            "POST",
            "/v1/users",
            201,
            json={
                "username": self.manager_name,
                "password": PASSWORD,
                "role": "site_manager",
                "site_ids": [self.site["id"]],
            },
        )["id"]
        self.manager = api.login(self.manager_name)

    def worker_for(self, site_id: str) -> Api:
        key = self.admin.ok("POST", "/v1/api-keys", 201, json={"site_id": site_id})
        token = self.api.client.post(
            "/v1/auth/token", json={"grant_type": "api_key", "api_key": key["api_key"]}
        )
        return Api(self.api.client, token.json()["access_token"])

    def event(self, vector: np.ndarray[Any, Any], **extra: Any) -> dict[str, Any]:
        return face_event(self.site["id"], self.camera["id"], vector, now_iso(), **extra)


@pytest.fixture
def shop(trust_api: Api) -> Shop:
    return Shop(trust_api)


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem body with this status (and, if named, an error on this field)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body
