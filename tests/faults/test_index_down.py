"""The vector index down (a real Milvus server behind a TCP proxy the test cuts): ingest answers
503 + Retry-After and stores nothing half-way; an erasure stays pending at its ``vectors`` step
(its rows still there) and completes once Milvus is back; the vectors are then gone from Milvus."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import numpy as np
import pytest
from litestar.testing import TestClient

from appliance.config import Settings
from appliance.server.app import create_app
from appliance.vectors.milvus_store import MilvusStore
from tests.faults.conftest import integrity, owner_rows, recent
from tests.faults.proxy import TcpProxy
from tests.integration.api import system_admin_api
from tests.integration.recognition.conftest import DIM, Shop, unit
from tests.integration.vectors.conftest import milvus_uri  # noqa: F401  (the session's Milvus server)

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def milvus_proxy(milvus_uri: str) -> Iterator[TcpProxy]:  # noqa: F811
    host, port = milvus_uri.removeprefix("http://").rsplit(":", 1)
    proxy = TcpProxy(host, int(port)).start()
    try:
        yield proxy
    finally:
        proxy.cut()


@pytest.fixture(scope="module")
def index_settings(
    pg_settings: Settings, milvus_proxy: TcpProxy, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return msgspec.structs.replace(
        pg_settings,
        embedding_dim=DIM,
        data_dir=str(tmp_path_factory.mktemp("index-down")),
        scheduler=False,
        milvus_uri=f"http://{milvus_proxy.address}",
        milvus_collection=f"faults_{uuid.uuid4().hex[:8]}",
        milvus_sync_seconds=60.0,
    )


@pytest.fixture(scope="module")
def direct(index_settings: Settings, milvus_uri: str) -> Iterator[MilvusStore]:  # noqa: F811
    """The collection reached directly: the ground truth of what Milvus holds."""
    store = MilvusStore(milvus_uri, DIM, collection=index_settings.milvus_collection)
    yield store
    store.drop_collection()
    store.close()


def test_index_down_ingest_503_and_erasure_pending_then_complete(
    index_settings: Settings, milvus_proxy: TcpProxy, direct: MilvusStore, tmp_path: Path
) -> None:
    with TestClient(app=create_app(index_settings)) as client:
        api = system_admin_api(client, index_settings)
        shop = Shop(api)
        rng = np.random.default_rng(185)
        kept_event = shop.event(unit(rng), recent(5))
        kept = shop.post(kept_event)
        erased = shop.post(shop.event(unit(rng), recent(5)))
        tenant = uuid.UUID(shop.tenant["id"])
        customer = erased["customer_id"]

        milvus_proxy.cut()
        try:
            refused = shop.event(unit(rng), recent(4))
            answer = shop.worker.post("/v1/events/face", json=refused)
            assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0, answer.text
            pending = shop.admin.delete(f"/v1/customers/{customer}")
            assert pending.status_code == 503 and int(pending.headers["Retry-After"]) > 0, pending.text
            [(step, status)] = owner_rows(
                index_settings, "SELECT step, status FROM erasure_jobs WHERE subject_id = %s", customer
            )
            assert (step, status) == ("vectors", "pending")
            assert owner_rows(index_settings, "SELECT count(*) FROM customers WHERE id = %s", customer) == [
                (1,)
            ]
        finally:
            milvus_proxy.restore()

        # As a client honouring Retry-After would: the gRPC channel reconnects on its own backoff.
        deadline = time.monotonic() + 120
        while (answer := shop.admin.delete(f"/v1/customers/{customer}")).status_code == 503:
            assert time.monotonic() < deadline, "the erasure did not complete after Milvus came back"
            time.sleep(min(int(answer.headers["Retry-After"]), 2))
        assert answer.status_code == 200, answer.text
        report = answer.json()
        waited = 120 - (deadline - time.monotonic())
        assert report["vectors_remaining"] == 0 and report["exemplars"] == 1
        assert direct.count_customer(tenant, uuid.UUID(customer)) == 0
        # The event refused during the outage, delivered again (as the edge retries): once.
        first = shop.post(refused)
        assert first["is_new_customer"] and shop.post(refused) == first
        expected = {kept_event["event_id"], refused["event_id"]}
        report_rows = integrity(index_settings, str(tenant), expected)
        assert (report_rows["lost"], report_rows["duplicated"], report_rows["half_written"]) == (0, 0, 0)
        assert kept["customer_id"] != first["customer_id"]
        print(f"erasure completed {waited:.1f} s after Milvus came back")
