"""Tenant deletion and customer erasure on the single-box local object store (a directory): every
object of the tenant goes from both buckets, verified, and the other tenant keeps its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from appliance.config import Settings
from appliance.server.app import create_app
from appliance.storage.base import DERIVED_BUCKET, RAW_BUCKET
from appliance.storage.factory import object_store_from_settings
from appliance.storage.local import LocalObjectStore
from tests.integration.api import Api, system_admin_api
from tests.integration.recognition.conftest import DIM, Shop, unit

JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


@pytest.fixture(scope="module")
def local_settings(pg_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return msgspec.structs.replace(
        pg_settings,
        embedding_dim=DIM,
        data_dir=str(tmp_path_factory.mktemp("local-deletion")),
        scheduler=False,
    )


@pytest.fixture(scope="module")
def local_client(local_settings: Settings) -> Iterator[TestClient[Litestar]]:
    with TestClient(app=create_app(local_settings)) as client:
        yield client


def snapshot(shop: Shop, vector: np.ndarray[Any, Any]) -> dict[str, Any]:
    body = shop.event(vector, datetime.now(UTC).isoformat())
    upload = shop.worker.ok(
        "POST",
        "/v1/events/snapshot-url",
        200,
        json={"event_id": body["event_id"], "camera_id": shop.camera["id"]},
    )
    put = shop.worker.client.put(upload["upload_url"], content=JPEG, headers=upload["headers"])
    assert put.status_code in (200, 201, 204), put.text
    answer: dict[str, Any] = shop.post({**body, "snapshot_key": upload["snapshot_key"]})
    answer["snapshot_key"] = upload["snapshot_key"]
    return answer


def files_under(store: LocalObjectStore, bucket: str, prefix: str) -> list[Path]:
    root = store.root / bucket / prefix
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_tenant_deletion_and_erasure_empty_the_local_store(
    local_client: TestClient[Litestar], local_settings: Settings
) -> None:
    api: Api = system_admin_api(local_client, local_settings)
    doomed, kept = Shop(api), Shop(api)
    rng = np.random.default_rng(184)
    store = object_store_from_settings(local_settings)
    assert isinstance(store, LocalObjectStore)
    doomed_answers = [snapshot(doomed, unit(rng)) for _ in range(2)]
    kept_answers = [snapshot(kept, unit(rng)) for _ in range(2)]
    tenant_id = doomed.tenant["id"]
    store.put(DERIVED_BUCKET, f"{tenant_id}/staff/{uuid.uuid4()}/{uuid.uuid4()}.jpg", JPEG)
    assert len(files_under(store, RAW_BUCKET, tenant_id)) == 2

    # Erasure of one of the other tenant's customers: its file goes, its neighbour's stays.
    erased, neighbour = kept_answers
    report = kept.admin.ok("DELETE", f"/v1/customers/{erased['customer_id']}", 200)
    assert report["objects_deleted"] == 1 and report["objects_remaining"] == 0
    assert not store.exists(RAW_BUCKET, erased["snapshot_key"])
    assert store.exists(RAW_BUCKET, neighbour["snapshot_key"])

    assert api.delete(f"/v1/tenants/{tenant_id}").status_code == 204
    for bucket in (RAW_BUCKET, DERIVED_BUCKET):
        assert files_under(store, bucket, tenant_id) == [] and list(store.list(bucket, f"{tenant_id}/")) == []
    assert not any(store.exists(RAW_BUCKET, a["snapshot_key"]) for a in doomed_answers)
    assert store.exists(RAW_BUCKET, neighbour["snapshot_key"])
    with psycopg.connect(local_settings.database_url) as conn:
        report_row = conn.execute(
            "SELECT report FROM erasure_jobs WHERE subject_id = %s AND status = 'done'", (tenant_id,)
        ).fetchone()
    assert report_row is not None
    assert report_row[0]["objects_deleted"] == {RAW_BUCKET: 2, DERIVED_BUCKET: 1}


def test_erasure_and_tenant_deletion_on_a_box_without_an_embedder(
    pg_settings: Settings, tmp_path: Path
) -> None:
    """No embedder installed yet, so no vector index can open: customers made by hand (or rows
    from before) still erase, and the tenant still goes — the exemplar rows are the whole index."""
    settings = msgspec.structs.replace(
        pg_settings,
        embedding_dim=None,
        models_dir=str(tmp_path / "no-models"),
        data_dir=str(tmp_path / "data"),
        scheduler=False,
    )
    with TestClient(app=create_app(settings)) as client:
        api = system_admin_api(client, settings)
        made = api.new_tenant(f"no-embedder-{uuid.uuid4().hex[:8]}")
        admin: Api = made["admin"]
        customer = admin.ok("POST", "/v1/customers", 201, json={"display_name": "By hand"})
        report = admin.ok("DELETE", f"/v1/customers/{customer['customer_id']}", 200)
        assert (report["visits"], report["sightings"], report["vectors_remaining"]) == (0, 0, 0)
        assert admin.get(f"/v1/customers/{customer['customer_id']}").status_code == 404
        assert api.delete(f"/v1/tenants/{made['tenant']['id']}").status_code == 204
        assert api.get(f"/v1/tenants/{made['tenant']['id']}").status_code == 404
