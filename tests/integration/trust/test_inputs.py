"""Issue 18, "inputs are not bounded": what an edge or a user sends is bounded before it is stored."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest

from appliance.storage.base import RAW_BUCKET
from appliance.storage.s3 import S3ObjectStore
from tests.integration.trust.conftest import Shop, assert_problem, now_iso, unit

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"


@pytest.mark.parametrize(
    "captured_at",
    [
        "0001-01-01T00:00:00+14:00",  # stored before: every read of the tenant then failed
        "2099-01-01T00:00:00Z",  # stored before: immune to the purge
        "9999-12-31T23:59:59-14:00",
        now_iso(-8 * 24 * 3600),  # older than the 7-day window
        now_iso(3600),  # an hour ahead of the server's clock
    ],
    ids=["year-1", "year-2099", "year-9999", "8-days-old", "an-hour-ahead"],  # the same in every collection
)
def test_captured_at_outside_the_window_is_refused(shop: Shop, captured_at: str) -> None:
    body = shop.event(unit(np.random.default_rng(1)), captured_at=captured_at)
    response = shop.worker.post("/v1/events/face", json=body)
    assert_problem(response, 422, "captured_at")
    # Nothing was stored, and every read of the tenant still answers.
    assert shop.admin.ok("GET", "/v1/customers")["total"] == 0
    assert shop.admin.ok("GET", "/v1/visits")["items"] == []


def test_captured_at_inside_the_window_is_accepted_and_reads_work(shop: Shop) -> None:
    rng = np.random.default_rng(2)
    for offset in (-6 * 24 * 3600, -60, 120):  # six days ago, a minute ago, two minutes ahead
        answer = shop.worker.ok(
            "POST", "/v1/events/face", 200, json=shop.event(unit(rng), captured_at=now_iso(offset))
        )
        assert answer["is_new_customer"]
    assert shop.admin.ok("GET", "/v1/customers")["total"] == 3
    assert len(shop.admin.ok("GET", "/v1/visits")["items"]) == 3
    export = shop.admin.get("/v1/visits/export.csv")
    assert export.status_code == 200 and len(export.text.strip().splitlines()) == 4, export.text


def upload(shop: Shop, event_id: str) -> str:
    """A snapshot through the presigned URL, as the edge does; returns its key."""
    grant = shop.worker.ok(
        "POST", "/v1/events/snapshot-url", 200, json={"event_id": event_id, "camera_id": shop.camera["id"]}
    )
    put = httpx.put(grant["upload_url"], content=JPEG, headers=grant["headers"], timeout=10)
    assert put.status_code in (200, 201, 204), put.text
    key: str = grant["snapshot_key"]
    return key


def test_snapshot_key_is_checked_structurally_and_must_exist(
    shop: Shop, trust_api: object, raw_store: S3ObjectStore
) -> None:
    rng = np.random.default_rng(3)
    other = Shop(shop.api)  # another tenant, with a snapshot of its own
    other_body = other.event(unit(rng))
    other_key = upload(other, other_body["event_id"])
    assert raw_store.exists(RAW_BUCKET, other_key)

    body = shop.event(unit(rng))
    own_key = upload(shop, body["event_id"])
    tenant, site = shop.tenant["id"], shop.site["id"]
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    refused = [
        f"{tenant}/{site}/../../{other_key}",  # passed the old prefix check
        f"{tenant}/{site}/{day}/../../../../{other_key}",
        other_key,  # another tenant's real object
        f"{tenant}/{site}//{day}/{body['event_id']}.jpg",  # an empty segment
        f"{tenant}/{shop.other_site['id']}/{day}/{body['event_id']}.jpg",  # another site of the tenant
        f"{tenant}/{site}/{day}/{uuid.uuid4()}.jpg",  # another event's key
        f"{tenant}/{site}/{day}/{body['event_id']}.gif",
        f"{tenant}/{site}/{day}/{body['event_id']}.jpg/x",
    ]
    for key in refused:
        assert_problem(
            shop.worker.post("/v1/events/face", json={**body, "snapshot_key": key}), 422, "snapshot_key"
        )

    # The right shape, but nothing was uploaded under it.
    missing = shop.event(unit(rng))
    missing_key = f"{tenant}/{site}/{day}/{missing['event_id']}.jpg"
    response = shop.worker.post("/v1/events/face", json={**missing, "snapshot_key": missing_key})
    assert "no snapshot" in assert_problem(response, 422, "snapshot_key")["detail"]

    assert shop.admin.ok("GET", "/v1/customers")["total"] == 0  # nothing half-written
    answer = shop.worker.ok("POST", "/v1/events/face", 200, json={**body, "snapshot_key": own_key})
    link = shop.admin.ok("GET", f"/v1/visits/{answer['visit_id']}/snapshot")
    assert httpx.get(link["url"], timeout=10).content == JPEG


def test_nul_characters_are_refused_in_every_string(shop: Shop) -> None:
    rng = np.random.default_rng(4)
    body = shop.event(unit(rng))
    for bad in (
        {**body, "model": {"name": "yunet\u0000", "version": "1"}},
        {**body, "snapshot_key": "a\u0000b"},
        {**body, "track_id": "\u0000"},
    ):
        response = shop.worker.post("/v1/events/face", json=bad)
        assert "NUL" in assert_problem(response, 422)["detail"]
    assert_problem(
        shop.admin.post("/v1/sites", json={"name": "Sh\u0000p", "timezone": "UTC"}), 422, "body.name"
    )
    assert_problem(
        shop.admin.post("/v1/staff", json={"name": "\u0000", "site_ids": [shop.site["id"]]}), 422, "body.name"
    )
    assert_problem(
        shop.admin.patch(f"/v1/sites/{shop.site['id']}", json={"name": "x\u0000"}), 422, "body.name"
    )
    login = shop.api.client.post(
        "/v1/auth/token", json={"grant_type": "password", "username": "root\u0000", "password": "x" * 8}
    )
    assert_problem(login, 422)
    form = shop.api.client.post(
        "/v1/auth/token",
        content=b"grant_type=password&username=a%00b&password=secret12",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_problem(form, 422)
    for url in ("/v1/customers?cursor=%00", "/v1/visits?site_id=a%00", "/v1/sites/%00"):
        assert "NUL" in assert_problem(shop.admin.get(url), 400)["detail"]
    # A backslash followed by "u0000" is six ordinary characters, not a NUL.
    literal = shop.admin.ok("POST", "/v1/sites", 201, json={"name": "back\\u0000slash", "timezone": "UTC"})
    assert literal["name"] == "back\\u0000slash"
    assert shop.admin.ok("GET", "/v1/customers")["total"] == 0


@pytest.mark.parametrize("path", ["/v1/sites", "/v1/events/face", "/v1/auth/token", "/v1/staff"])
def test_deeply_nested_json_is_a_400(shop: Shop, path: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    caller = shop.worker if path == "/v1/events/face" else shop.admin
    for payload in (deep, json.dumps({"name": "x", "timezone": "UTC"})[:-1] + ', "x": ' + deep + "}"):
        response = caller.post(path, content=payload.encode(), headers={"content-type": "application/json"})
        assert response.status_code == 400, (path, response.status_code, response.text[:300])
        assert response.headers["content-type"].startswith("application/problem+json")


def test_the_database_refuses_unreadable_instants_from_any_path(shop: Shop, trust_settings: object) -> None:
    """Past the API (a script, a future import): the CHECKs of migration 0008 hold, reads stay up."""
    import psycopg

    from appliance.config import Settings

    assert isinstance(trust_settings, Settings)
    answer = shop.worker.ok("POST", "/v1/events/face", 200, json=shop.event(unit(np.random.default_rng(5))))
    updates = [
        ("UPDATE sightings SET captured_at = %(t)s WHERE id = %(id)s", answer["event_id"]),
        ("UPDATE visits SET first_seen = %(t)s WHERE id = %(id)s", answer["visit_id"]),
        ("UPDATE visits SET last_seen = %(t)s WHERE id = %(id)s", answer["visit_id"]),
        ("UPDATE customers SET last_seen = %(t)s WHERE id = %(id)s", answer["customer_id"]),
    ]
    with psycopg.connect(trust_settings.runtime_database_url, autocommit=True) as conn:
        for sql, row_id in updates:
            for instant in ("0001-01-01T00:00:00+14:00", "2299-01-01T00:00:00Z"):
                with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
                    conn.execute("SELECT set_config('app.tenant_id', %s, true)", (shop.tenant["id"],))
                    conn.execute(sql, {"t": instant, "id": row_id})
    assert shop.admin.ok("GET", "/v1/customers")["total"] == 1
    assert len(shop.admin.ok("GET", "/v1/visits")["items"]) == 1
    assert shop.admin.get("/v1/visits/export.csv").status_code == 200
