"""The fault suite: real parts on loopback, each fault made by a TCP proxy the test cuts (or a
process it kills). Every test is bounded in time (``pytest.mark.timeout`` where it can block)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from appliance.config import Settings
from appliance.db.engine import Database, make_async_engine
from appliance.recognition.runtime import RecognitionRuntime
from appliance.server.app import create_app
from appliance.server.services import Recognition
from appliance.storage.s3 import S3ObjectStore
from tests.faults.proxy import TcpProxy
from tests.integration.api import Api, system_admin_api
from tests.integration.recognition.conftest import DIM, Shop
from tests.integration.recognition.test_two_processes import settings_env
from tests.integration.storage.conftest import ACCESS_KEY, SECRET_KEY, WeedServer, make_store, start_weed

T = TypeVar("T")


@pytest.fixture(scope="session")
def fault_weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeedServer]:
    server = start_weed(tmp_path_factory.mktemp("faults-seaweedfs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_direct(fault_weed: WeedServer) -> S3ObjectStore:
    """The store reached directly (never through the proxy): the ground truth of what exists."""
    store = make_store(fault_weed)
    store.ensure_buckets(30)
    return store


@pytest.fixture(scope="module")
def store_proxy(fault_weed: WeedServer) -> Iterator[TcpProxy]:
    host, port = fault_weed.endpoint.rsplit(":", 1)
    proxy = TcpProxy(host, int(port)).start()
    try:
        yield proxy
    finally:
        proxy.cut()


@pytest.fixture(autouse=True)
def _store_back(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that cut the store and failed half-way leaves it up for the next one."""
    yield
    if "store_proxy" in request.fixturenames:
        proxy: TcpProxy = request.getfixturevalue("store_proxy")
        if not proxy.up:
            proxy.restore()


@pytest.fixture(scope="module")
def fault_settings(
    pg_settings: Settings, store_proxy: TcpProxy, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The API on the session database, its object store (S3) behind the proxy."""
    return msgspec.structs.replace(
        pg_settings,
        embedding_dim=DIM,
        data_dir=str(tmp_path_factory.mktemp("faults-data")),
        scheduler=False,
        s3_endpoint=store_proxy.address,
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
        s3_region="us-east-1",
        s3_secure=False,
    )


@pytest.fixture(scope="module")
def fault_client(fault_settings: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=create_app(fault_settings)) as client:
        yield client


@pytest.fixture(scope="module")
def fault_api(fault_client: TestClient[Litestar], fault_settings: Settings) -> Api:
    return system_admin_api(fault_client, fault_settings)


@pytest.fixture
def fshop(fault_api: Api) -> Shop:
    return Shop(fault_api)


def owner_rows(settings: Settings, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Ground truth on the owner connection (RLS does not filter it)."""
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(sql, args).fetchall()


def with_fresh_runtime(settings: Settings, work: Callable[[Database, RecognitionRuntime], Awaitable[T]]) -> T:
    """Run ``work`` on a database pool and recognition runtime of its own: what a restarted
    server process holds."""

    async def go() -> T:
        db = Database(make_async_engine(settings.runtime_database_url, 2))
        runtime: RecognitionRuntime = Recognition(settings, db)
        try:
            return await work(db, runtime)
        finally:
            await runtime.close()
            await db.dispose()

    return asyncio.run(go())


def new_id() -> str:
    return str(uuid.uuid4())


def recent(minutes_ago: float = 0.0) -> str:
    """A capture time inside any sane acceptance window around the server's clock."""
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def integrity(settings: Settings, tenant_id: str, expected_ids: set[str]) -> dict[str, int]:
    """Lost, duplicated and half-written rows of one tenant after a fault, from the owner's view.

    lost: events answered (or queued) that have no sighting; duplicated: sightings that no event
    sent, or one person split into two customers where the test knows better (caller's check);
    half_written: rows that a committed ingest never leaves — a customer without sightings, a
    visit whose counter disagrees with its sightings, a customer sighting outside any visit."""
    present = {
        str(row[0])
        for row in owner_rows(settings, "SELECT id FROM sightings WHERE tenant_id = %s", tenant_id)
    }
    checks = {
        "customers_without_sightings": "SELECT count(*) FROM customers c WHERE c.tenant_id = %s"
        " AND NOT EXISTS (SELECT 1 FROM sightings s WHERE s.customer_id = c.id)",
        "visits_miscounted": "SELECT count(*) FROM visits v WHERE v.tenant_id = %s"
        " AND v.sightings <> (SELECT count(*) FROM sightings s WHERE s.visit_id = v.id)",
        "sightings_outside_visits": "SELECT count(*) FROM sightings s WHERE s.tenant_id = %s"
        " AND NOT s.is_staff AND (s.visit_id IS NULL OR s.customer_id IS NULL)",
        "customers_miscounted": "SELECT count(*) FROM customers c WHERE c.tenant_id = %s"
        " AND c.visit_count <> (SELECT count(*) FROM visits v WHERE v.customer_id = c.id)",
    }
    half = {name: owner_rows(settings, sql, tenant_id)[0][0] for name, sql in checks.items()}
    return {
        "lost": len(expected_ids - present),
        "duplicated": len(present - expected_ids),
        "half_written": sum(half.values()),
        **half,
    }


def serve(settings: Settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    """A real ``appliance serve`` on ``port``; returns once /healthz answers (60 s at most)."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "appliance", "serve", "--port", str(port)],
            env=settings_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError(f"the API did not start: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
