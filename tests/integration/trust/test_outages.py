"""Issue 18, "outages answer 503 with Retry-After": a dependency that goes away is the server's
problem to report, never a 500. Each dependency sits behind a loopback TCP proxy the test stops."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import msgspec
import numpy as np
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from appliance.config import Settings
from appliance.server.app import create_app
from tests.faults.proxy import TcpProxy
from tests.integration.api import PASSWORD, system_admin_api
from tests.integration.storage.conftest import WeedServer
from tests.integration.trust.conftest import Shop, served, unit, with_s3


def assert_unavailable(response: Any, dependency: str) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 503 and dependency in body["detail"], body


@pytest.fixture
def db_proxy(pg_settings: Settings) -> Iterator[TcpProxy]:
    parts = urlsplit(pg_settings.runtime_database_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxy.start()
    yield proxy
    proxy.cut()


@pytest.fixture
def s3_proxy(trust_weed: WeedServer) -> Iterator[TcpProxy]:
    host, port = trust_weed.endpoint.split(":")
    proxy = TcpProxy(host, int(port))
    proxy.start()
    yield proxy
    proxy.cut()


def through(settings: Settings, db: TcpProxy | None = None, s3: TcpProxy | None = None) -> Settings:
    """``settings`` with the runtime database and/or the object store behind the proxies."""
    if db is not None:
        parts = urlsplit(settings.runtime_database_url)
        netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{db.port}")
        settings = msgspec.structs.replace(settings, app_database_url=parts._replace(netloc=netloc).geturl())
    if s3 is not None:
        settings = with_s3(settings, f"127.0.0.1:{s3.port}")
    return settings


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_database_outage_is_503_everywhere_and_recovers(
    trust_settings: Settings, db_proxy: TcpProxy, tmp_path: Any
) -> None:
    settings = through(msgspec.structs.replace(trust_settings, data_dir=str(tmp_path)), db=db_proxy)
    with TestClient(app=create_app(settings)) as client:
        root = system_admin_api(client, settings)
        shop = Shop(root)
        body = shop.event(unit(np.random.default_rng(41)))
        shop.worker.ok("POST", "/v1/events/face", 200, json=body)

        db_proxy.cut()  # PostgreSQL goes away: connections cut, new ones refused
        calls = [
            shop.admin.get("/v1/sites"),
            shop.admin.get("/v1/customers"),
            shop.admin.get("/v1/visits"),
            shop.admin.post("/v1/sites", json={"name": "New", "timezone": "UTC"}),
            shop.worker.post("/v1/events/face", json=shop.event(unit(np.random.default_rng(42)))),
            shop.worker.post("/v1/events/face", json=body),  # a retry
            root.get("/v1/tenants"),
            client.post(
                "/v1/auth/token", json={"grant_type": "password", "username": "x", "password": "y" * 8}
            ),
        ]
        for response in calls:
            assert_unavailable(response, "database")
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"]
        assert ready.json()["unavailable"] == ["database"], ready.json()
        assert ready.json()["checks"]["database"].startswith("unreachable")

        db_proxy.restore()  # back: the next requests succeed (a dead pooled connection may cost one 503)
        deadline = time.monotonic() + 10
        while (status := shop.admin.get("/v1/sites").status_code) != 200 and time.monotonic() < deadline:
            assert status == 503
            time.sleep(0.2)
        assert status == 200
        assert shop.worker.ok("POST", "/v1/events/face", 200, json=body)["event_id"] == body["event_id"]
        assert client.get("/readyz").status_code == 200


def test_object_store_outage_is_503_and_named_by_readyz(
    trust_settings: Settings, s3_proxy: TcpProxy, tmp_path: Any
) -> None:
    settings = through(msgspec.structs.replace(trust_settings, data_dir=str(tmp_path)), s3=s3_proxy)
    with TestClient(app=create_app(settings)) as client:
        shop = Shop(system_admin_api(client, settings))
        assert client.get("/readyz").json()["checks"]["object_store"] == "ok"
        body = shop.event(unit(np.random.default_rng(43)))
        grant = shop.worker.ok(
            "POST",
            "/v1/events/snapshot-url",
            200,
            json={"event_id": body["event_id"], "camera_id": shop.camera["id"]},
        )

        s3_proxy.cut()
        started = time.monotonic()
        response = shop.worker.post("/v1/events/face", json={**body, "snapshot_key": grant["snapshot_key"]})
        assert_unavailable(response, "object store")
        assert time.monotonic() - started < 30
        assert shop.admin.ok("GET", "/v1/customers")["total"] == 0  # nothing half-written
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["unavailable"] == ["object_store"], ready.json()
        # What does not need the store still works.
        assert shop.worker.ok(
            "POST", "/v1/events/face", 200, json=shop.event(unit(np.random.default_rng(44)))
        )

        s3_proxy.restore()
        assert client.get("/readyz").status_code == 200


def test_vector_index_outage_is_503(trust_settings: Settings, tmp_path: Any) -> None:
    """A Milvus server that is not there (a closed port): ingest answers 503, readiness says so."""
    settings = msgspec.structs.replace(
        trust_settings, data_dir=str(tmp_path), milvus_uri=f"http://127.0.0.1:{closed_port()}"
    )
    with TestClient(app=create_app(settings)) as client:
        shop = Shop(system_admin_api(client, settings))
        started = time.monotonic()
        response = shop.worker.post("/v1/events/face", json=shop.event(unit(np.random.default_rng(45))))
        assert_unavailable(response, "vector index")
        assert time.monotonic() - started < 60
        assert shop.admin.ok("GET", "/v1/customers")["total"] == 0
        assert shop.admin.ok("GET", "/v1/sites")["total"] == 2  # the rest of the API is up


def test_readyz_lists_nothing_when_all_is_up(trust_client: TestClient[Litestar]) -> None:
    ready = trust_client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["unavailable"] == [] and ready.json()["checks"]["object_store"] == "ok"


def test_live_stream_ends_cleanly_when_the_database_goes_away(
    trust_settings: Settings, db_proxy: TcpProxy, tmp_path: Any
) -> None:
    import json

    import httpx

    settings = through(msgspec.structs.replace(trust_settings, data_dir=str(tmp_path)), db=db_proxy)
    with served(settings) as base, httpx.Client(base_url=base, timeout=20) as http:
        token = http.post(
            "/v1/auth/token",
            json={"grant_type": "password", "username": shop_admin(http, settings), "password": PASSWORD},
        ).json()["access_token"]
        events: list[dict[str, Any]] = []
        with http.stream("GET", "/v1/events/stream", params={"access_token": token}) as stream:
            assert stream.status_code == 200
            for line in stream.iter_lines():
                if line.startswith("event: ready"):
                    db_proxy.cut()
                    stopped = time.monotonic()
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
        assert events[-1]["type"] == "unavailable" and time.monotonic() - stopped < 5, events
        again = http.get("/v1/events/stream", params={"access_token": token})
        assert_unavailable(again, "database")


def shop_admin(http: Any, settings: Settings) -> str:
    """A tenant admin made through the API of the served app; its username."""
    from tests.integration.api import bootstrap_system_admin

    root, password = bootstrap_system_admin(settings)
    token = http.post(
        "/v1/auth/token", json={"grant_type": "password", "username": root, "password": password}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    tenant = http.post("/v1/tenants", json={"name": f"live-{uuid.uuid4().hex[:8]}"}, headers=headers).json()
    username = f"admin-{uuid.uuid4().hex[:8]}"
    created = http.post(
        "/v1/users",
        json={"username": username, "password": PASSWORD, "role": "tenant_admin"},
        headers={**headers, "X-Tenant-ID": tenant["id"]},
    )
    assert created.status_code == 201, created.text
    return username
