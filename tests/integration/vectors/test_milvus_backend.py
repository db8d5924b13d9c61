"""The Milvus backend (``APPLIANCE_MILVUS_URI``) against a real Milvus server: ingest through the
API, the sync by the change cursor, erasure, tenant deletion, and a process killed between its
PostgreSQL commit and the index write."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from appliance.config import Settings
from appliance.db.engine import Database, make_async_engine
from appliance.server.app import create_app
from appliance.vectors.milvus import MilvusIndex
from appliance.vectors.milvus_store import MilvusStore
from tests.integration.api import Api, system_admin_api
from tests.integration.recognition.conftest import DIM, Shop, near, unit
from tests.integration.recognition.test_two_processes import start


@pytest.fixture(scope="module")
def milvus_settings(
    pg_settings: Settings, milvus_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return msgspec.structs.replace(
        pg_settings,
        embedding_dim=DIM,
        data_dir=str(tmp_path_factory.mktemp("milvus-backend")),
        milvus_uri=milvus_uri,
        milvus_collection=f"backend_{uuid.uuid4().hex[:8]}",
        milvus_sync_seconds=60.0,  # the tests sync when they want to
    )


@pytest.fixture(scope="module")
def store(milvus_settings: Settings) -> Iterator[MilvusStore]:
    assert milvus_settings.milvus_uri
    store = MilvusStore(milvus_settings.milvus_uri, DIM, collection=milvus_settings.milvus_collection)
    yield store
    store.drop_collection()
    store.close()


@pytest.fixture(scope="module")
def client(milvus_settings: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=create_app(milvus_settings)) as client:
        yield client


@pytest.fixture(scope="module")
def api(client: TestClient[Litestar], milvus_settings: Settings) -> Api:
    """With the index open and its sync on start done: a test's own shop is then synced only when
    the test says so (the next timed sync is a minute away)."""
    client.blocking_portal.call(client.app.state.services.recognition.vectors)
    deadline = time.monotonic() + 30
    while index_of(client).rounds < 1:
        assert time.monotonic() < deadline, "the sync on start did not finish"
        time.sleep(0.05)
    return system_admin_api(client, milvus_settings)


def index_of(client: TestClient[Litestar]) -> MilvusIndex:
    vectors = client.app.state.services.recognition.opened_index()
    assert isinstance(vectors, MilvusIndex)
    return vectors


def sync(client: TestClient[Litestar]) -> int:
    index = index_of(client)
    result: int = client.blocking_portal.call(index.sync)  # the app's own event loop
    return result


def pg_count(settings: Settings, tenant: str, customer: str | None = None) -> int:
    sql = "SELECT count(*) FROM customer_exemplars WHERE tenant_id = %s"
    args: list[Any] = [tenant]
    if customer:
        sql += " AND customer_id = %s"
        args.append(customer)
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0])


def watermark_of(settings: Settings, tenant: uuid.UUID) -> str | None:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            "SELECT snapshot FROM vector_watermarks WHERE tenant_id = %s", (tenant,)
        ).fetchone()
    return None if row is None else str(row[0])


def test_faces_match_before_and_after_the_sync(
    api: Api, client: TestClient[Litestar], store: MilvusStore, milvus_settings: Settings
) -> None:
    shop = Shop(api)
    rng = np.random.default_rng(51)
    faces = [unit(rng) for _ in range(6)]
    first = [shop.post(shop.event(face)) for face in faces]
    assert all(answer["is_new_customer"] for answer in first)
    # Before any sync: the overlay answers.
    assert store.count(uuid.UUID(shop.tenant["id"])) == 0
    again = [shop.post(shop.event(near(face, 0.9, rng))) for face in faces]
    assert [a["customer_id"] for a in again] == [a["customer_id"] for a in first]
    sync(client)
    tenant = uuid.UUID(shop.tenant["id"])
    assert store.count(tenant) == pg_count(milvus_settings, shop.tenant["id"])
    hits = store.search(tenant, np.asarray([faces[2]], dtype=np.float32), 1)[0]
    assert str(hits[0].customer_id) == first[2]["customer_id"]
    assert sync(client) == 0  # nothing past the watermark
    assert client.get("/readyz").json()["checks"]["vector_index"] == "ok"
    later = [shop.post(shop.event(near(face, 0.9, rng))) for face in faces]
    assert [a["customer_id"] for a in later] == [a["customer_id"] for a in first]


def test_erasure_and_tenant_deletion_remove_the_vectors(
    api: Api, client: TestClient[Litestar], store: MilvusStore
) -> None:
    shop = Shop(api)
    rng = np.random.default_rng(53)
    kept, erased = (shop.post(shop.event(unit(rng))) for _ in range(2))
    sync(client)
    tenant = uuid.UUID(shop.tenant["id"])
    assert store.count(tenant) == 2
    report = shop.admin.ok("DELETE", f"/v1/customers/{erased['customer_id']}", 200)
    assert report["vectors_remaining"] == 0
    assert store.count_customer(tenant, uuid.UUID(erased["customer_id"])) == 0
    assert store.count_customer(tenant, uuid.UUID(kept["customer_id"])) == 1

    api.ok("DELETE", f"/v1/tenants/{shop.tenant['id']}", 204)
    assert store.count(tenant) == 0
    assert tenant not in store.tenant_partitions()


def test_a_process_killed_before_the_index_write_loses_nothing(
    api: Api, milvus_settings: Settings, store: MilvusStore, tmp_path: Path
) -> None:
    shop = Shop(api)
    tenant = uuid.UUID(shop.tenant["id"])
    process, base = start(milvus_settings, tmp_path / "api.log")
    try:
        headers = {"Authorization": f"Bearer {shop.worker.token}"}
        rng = np.random.default_rng(57)

        def post() -> None:
            response = httpx.post(
                f"{base}/v1/events/face", json=shop.event(unit(rng)), headers=headers, timeout=30
            )
            assert response.status_code == 200, response.text

        post()  # opens the index, whose first sync runs now; the next one is a minute away
        deadline = time.monotonic() + 30
        while not watermark_of(milvus_settings, tenant) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert watermark_of(milvus_settings, tenant), "the first sync did not run"
        synced = store.count(tenant)
        for _ in range(5):
            post()
    finally:
        process.send_signal(signal.SIGKILL)  # committed in PostgreSQL, not yet written to Milvus
        process.wait(timeout=15)
    assert pg_count(milvus_settings, shop.tenant["id"]) == 6
    assert store.count(tenant) == synced

    async def next_process() -> None:  # what the next API process does when it opens the index
        db = Database(make_async_engine(milvus_settings.runtime_database_url, 2))
        index = await MilvusIndex.open(milvus_settings, db, DIM)
        try:
            await index.sync()
        finally:
            await index.close()
            await db.dispose()

    asyncio.run(next_process())
    assert store.count(tenant) == 6


def test_a_tenant_deleted_during_its_sync_keeps_no_partition(
    api: Api, client: TestClient[Litestar], store: MilvusStore, milvus_settings: Settings
) -> None:
    index = index_of(client)
    never = uuid.uuid4()
    assert client.blocking_portal.call(index.sync_tenant, never) == 0
    assert never not in store.tenant_partitions()

    shop = Shop(api)
    shop.post(shop.event(unit(np.random.default_rng(57))))
    tenant = uuid.UUID(shop.tenant["id"])
    url = milvus_settings.database_url
    with psycopg.connect(url, autocommit=True) as admin, psycopg.connect(url) as deleting:
        admin.execute("DELETE FROM vector_watermarks WHERE tenant_id = %s", (tenant,))  # a first sync
        deleting.execute("DELETE FROM tenants WHERE id = %s", (tenant,))  # not committed yet
        syncing = client.blocking_portal.start_task_soon(index.sync_tenant, tenant)
        # The sync writes the tenant's vector to Milvus, then its watermark waits for the tenant row.
        deadline = time.monotonic() + 30
        while not admin.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND query LIKE '%%vector_watermarks%%'"
        ).fetchone():
            assert time.monotonic() < deadline and not syncing.done(), "the sync never reached the watermark"
            time.sleep(0.05)
        deleting.commit()
        assert syncing.result(timeout=30) == 0
    assert tenant not in store.tenant_partitions()
    assert client.blocking_portal.call(index.sync) >= 0  # the next round runs as usual
