"""Object store down: customer erasure and tenant deletion are durable jobs (ADR 0012). While the
store is away they answer 503 + Retry-After and delete no row; a retry, or the resumer of a
restarted server, finishes them — objects, vectors and rows gone, verified and audited once."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import pytest

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.jobs.registry import resume_pending
from appliance.recognition.runtime import RecognitionRuntime
from appliance.storage.base import DERIVED_BUCKET, RAW_BUCKET
from appliance.storage.s3 import S3ObjectStore
from tests.faults.conftest import owner_rows, recent, serve, stop, with_fresh_runtime
from tests.faults.proxy import TcpProxy
from tests.integration.api import Api
from tests.integration.recognition.conftest import Shop, near, unit
from tests.integration.storage.conftest import free_ports

pytestmark = pytest.mark.timeout(180)
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


def sighting_with_snapshot(shop: Shop, vector: np.ndarray[Any, Any], at: str) -> dict[str, Any]:
    body = shop.event(vector, at)
    upload = shop.worker.ok(
        "POST",
        "/v1/events/snapshot-url",
        200,
        json={"event_id": body["event_id"], "camera_id": shop.camera["id"]},
    )
    put = httpx.put(upload["upload_url"], content=JPEG, headers=upload["headers"], timeout=10)
    assert put.status_code in (200, 201, 204), put.text
    answer: dict[str, Any] = shop.post({**body, "snapshot_key": upload["snapshot_key"]})
    answer["snapshot_key"] = upload["snapshot_key"]
    return answer


def customer_rows(settings: Settings, customer_id: str) -> dict[str, int]:
    counts = {}
    for table, column in (
        ("customers", "id"),
        ("sightings", "customer_id"),
        ("visits", "customer_id"),
        ("customer_exemplars", "customer_id"),
    ):
        counts[table] = owner_rows(
            settings, f"SELECT count(*) FROM {table} WHERE {column} = %s", customer_id
        )[0][0]
    return counts


def jobs_of(settings: Settings, subject: str) -> list[tuple[Any, ...]]:
    return owner_rows(
        settings,
        "SELECT status, step, attempts, last_error, report FROM erasure_jobs WHERE subject_id = %s",
        subject,
    )


def audits(settings: Settings, tenant_id: str, action: str) -> list[dict[str, Any]]:
    rows = owner_rows(
        settings, "SELECT details FROM audit_log WHERE tenant_id = %s AND action = %s", tenant_id, action
    )
    return [row[0] for row in rows]


def test_erasure_with_the_store_down_deletes_nothing_then_completes_on_retry(
    fshop: Shop, fault_settings: Settings, store_proxy: TcpProxy, s3_direct: S3ObjectStore
) -> None:
    rng = np.random.default_rng(180)
    face = unit(rng)
    first = sighting_with_snapshot(fshop, face, recent(30))
    second = sighting_with_snapshot(fshop, near(face, 0.95, rng), recent(29))
    customer = first["customer_id"]
    assert second["customer_id"] == customer
    keys = [first["snapshot_key"], second["snapshot_key"]]
    before = customer_rows(fault_settings, customer)
    assert before["customers"] == 1 and before["sightings"] == 2 and before["customer_exemplars"] >= 1

    store_proxy.cut()
    try:
        for _attempt in range(2):  # a retry during the outage: still pending, still one job
            answer = fshop.admin.delete(f"/v1/customers/{customer}")
            assert answer.status_code == 503, answer.text
            assert int(answer.headers["Retry-After"]) > 0
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert "pending" in answer.json()["detail"]
        assert customer_rows(fault_settings, customer) == before  # nothing deleted from PostgreSQL
        [(status, step, attempts, last_error, _)] = jobs_of(fault_settings, customer)
        assert (status, step, attempts) == ("pending", "objects", 2) and last_error
        assert audits(fault_settings, fshop.tenant["id"], "customer.erase") == []
        assert all(s3_direct.exists(RAW_BUCKET, key) for key in keys)
        # The face is still known meanwhile: its customer is still there.
        again = fshop.post(fshop.event(near(face, 0.95, rng), recent(28)))
        assert again["customer_id"] == customer
        # ...but it cannot be merged away (its data would survive the erasure in the target).
        other = fshop.post(fshop.event(unit(rng), recent(28)))["customer_id"]
        refused = fshop.admin.post(f"/v1/customers/{other}/merge", json={"source_ids": [customer]})
        assert refused.status_code == 409 and "being erased" in refused.json()["detail"], refused.text
    finally:
        store_proxy.restore()

    report = fshop.admin.ok("DELETE", f"/v1/customers/{customer}", 200)
    assert report["sightings"] == 3 and report["objects_deleted"] == 2
    assert report["vectors_remaining"] == 0 and report["objects_remaining"] == 0
    assert not any(s3_direct.exists(RAW_BUCKET, key) for key in keys)
    assert customer_rows(fault_settings, customer) == {
        "customers": 0,
        "sightings": 0,
        "visits": 0,
        "customer_exemplars": 0,
    }
    [(status, step, attempts, _, _)] = jobs_of(fault_settings, customer)
    assert (status, step, attempts) == ("done", "done", 2)
    [audit] = audits(fault_settings, fshop.tenant["id"], "customer.erase")
    assert audit["objects_deleted"] == 2 and audit["sightings"] == 3 and audit["attempts"] == 3
    # DELETE again: the same report, no second audit row.
    assert fshop.admin.ok("DELETE", f"/v1/customers/{customer}", 200) == report
    assert len(audits(fault_settings, fshop.tenant["id"], "customer.erase")) == 1
    # The face is unknown again.
    assert fshop.post(fshop.event(face, recent(27)))["is_new_customer"]


def test_a_restarted_server_finishes_a_pending_erasure(
    fshop: Shop, fault_settings: Settings, store_proxy: TcpProxy, s3_direct: S3ObjectStore
) -> None:
    rng = np.random.default_rng(181)
    answer = sighting_with_snapshot(fshop, unit(rng), recent(30))
    customer = answer["customer_id"]
    store_proxy.cut()
    try:
        assert fshop.admin.delete(f"/v1/customers/{customer}").status_code == 503
    finally:
        store_proxy.restore()
    assert customer_rows(fault_settings, customer)["sightings"] == 1

    async def resume(db: Database, runtime: RecognitionRuntime) -> dict[str, int]:
        return await resume_pending(db, runtime)

    result = with_fresh_runtime(fault_settings, resume)
    assert result["done"] >= 1 and result["still_pending"] == 0
    assert customer_rows(fault_settings, customer)["customers"] == 0
    assert not s3_direct.exists(RAW_BUCKET, answer["snapshot_key"])
    [audit] = audits(fault_settings, fshop.tenant["id"], "customer.erase")
    assert audit["objects_deleted"] == 1
    # The DELETE that answered 503 can be repeated: it answers the finished report.
    assert fshop.admin.ok("DELETE", f"/v1/customers/{customer}", 200)["objects_deleted"] == 1


def test_tenant_deletion_removes_objects_and_vectors_and_waits_out_a_store_outage(
    fault_api: Api, fault_settings: Settings, store_proxy: TcpProxy, s3_direct: S3ObjectStore
) -> None:
    doomed, kept = Shop(fault_api), Shop(fault_api)
    rng = np.random.default_rng(182)
    faces = [unit(rng) for _ in range(3)]
    doomed_snapshots = [sighting_with_snapshot(doomed, f, recent(30)) for f in faces]
    kept_snapshot = sighting_with_snapshot(kept, faces[0], recent(30))
    tenant_id = doomed.tenant["id"]
    staff_photo = f"{tenant_id}/staff/{uuid.uuid4()}/{uuid.uuid4()}.jpg"
    s3_direct.put(DERIVED_BUCKET, staff_photo, JPEG)
    exemplars = "SELECT count(*) FROM customer_exemplars WHERE tenant_id = %s"
    assert owner_rows(fault_settings, exemplars, tenant_id)[0][0] == 3

    store_proxy.cut()
    try:
        answer = fault_api.delete(f"/v1/tenants/{tenant_id}")
        assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0, answer.text
    finally:
        store_proxy.restore()
    assert owner_rows(fault_settings, "SELECT count(*) FROM tenants WHERE id = %s", tenant_id) == [(1,)]
    assert owner_rows(fault_settings, exemplars, tenant_id)[0][0] == 3
    assert s3_direct.exists(DERIVED_BUCKET, staff_photo)

    assert fault_api.delete(f"/v1/tenants/{tenant_id}").status_code == 204
    assert owner_rows(fault_settings, "SELECT count(*) FROM tenants WHERE id = %s", tenant_id) == [(0,)]
    for table in ("customers", "sightings", "customer_exemplars", "exemplar_tombstones", "sites"):
        count = owner_rows(fault_settings, f"SELECT count(*) FROM {table} WHERE tenant_id = %s", tenant_id)
        assert count == [(0,)], table
    for bucket in (RAW_BUCKET, DERIVED_BUCKET):
        assert list(s3_direct.list(bucket, f"{tenant_id}/")) == []
    assert s3_direct.exists(RAW_BUCKET, kept_snapshot["snapshot_key"])  # the other tenant keeps its own
    [(status, _, attempts, _, report)] = jobs_of(fault_settings, tenant_id)
    assert status == "done" and attempts == 1
    assert report["objects_deleted"] == {RAW_BUCKET: 3, DERIVED_BUCKET: 1} and report["exemplars"] == 3
    [audit] = audits(fault_settings, tenant_id, "tenant.delete")
    assert audit["rows"]["customers"] == 3 and audit["rows"]["sightings"] == 3
    assert audit["vectors_remaining"] == 0 and audit["objects_remaining"] == 0
    # Repeating the request answers 204 (done); the other tenant's recognition is untouched.
    assert fault_api.delete(f"/v1/tenants/{tenant_id}").status_code == 204
    assert (
        kept.post(kept.event(near(faces[0], 0.95, rng), recent()))["customer_id"]
        == kept_snapshot["customer_id"]
    )
    assert {s["snapshot_key"] for s in doomed_snapshots}.isdisjoint(
        info.key for info in s3_direct.list(RAW_BUCKET)
    )


def test_a_server_process_started_after_the_outage_finishes_pending_jobs(
    fault_api: Api, fault_settings: Settings, store_proxy: TcpProxy, s3_direct: S3ObjectStore, tmp_path: Path
) -> None:
    """The scheduler's leader runs the resumer as soon as it leads: a restart finishes the job."""
    shop, doomed = Shop(fault_api), Shop(fault_api)
    rng = np.random.default_rng(183)
    answer = sighting_with_snapshot(shop, unit(rng), recent(10))
    sighting_with_snapshot(doomed, unit(rng), recent(10))
    customer, tenant_id = answer["customer_id"], doomed.tenant["id"]
    store_proxy.cut()
    try:
        assert shop.admin.delete(f"/v1/customers/{customer}").status_code == 503
        assert fault_api.delete(f"/v1/tenants/{tenant_id}").status_code == 503
    finally:
        store_proxy.restore()
    pending = "SELECT count(*) FROM erasure_jobs WHERE subject_id IN (%s, %s) AND status = 'pending'"
    assert owner_rows(fault_settings, pending, customer, tenant_id) == [(2,)]

    settings = msgspec.structs.replace(fault_settings, scheduler=True)
    process = serve(settings, free_ports(1)[0], tmp_path / "api.log")
    try:
        deadline = time.monotonic() + 60
        while owner_rows(fault_settings, pending, customer, tenant_id) != [(0,)]:
            assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()[-3000:]
            time.sleep(0.5)
    finally:
        stop(process)
    assert not s3_direct.exists(RAW_BUCKET, answer["snapshot_key"])
    assert customer_rows(fault_settings, customer)["customers"] == 0
    assert owner_rows(fault_settings, "SELECT count(*) FROM tenants WHERE id = %s", tenant_id) == [(0,)]
    assert list(s3_direct.list(RAW_BUCKET, f"{tenant_id}/")) == []
    assert len(audits(fault_settings, shop.tenant["id"], "customer.erase")) == 1
    [deleted] = audits(fault_settings, tenant_id, "tenant.delete")
    assert deleted["attempts"] == 2  # the request's, then the restarted server's
