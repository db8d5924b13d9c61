"""Merge, split, erase (GDPR), snapshots and the live stream, on the real stack."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
from tests.integration.recognition.conftest import Shop, near, unit

from appliance.config import Settings

JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


def rows(settings: Settings, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(sql, args).fetchall()


def test_merge_moves_everything_and_is_audited(shop: Shop, rec_settings: Settings) -> None:
    rng = np.random.default_rng(10)
    a, b = unit(rng), unit(rng)
    first = shop.post(shop.event(a, "2026-11-20T09:00:00+01:00"))
    second = shop.post(shop.event(b, "2026-11-21T09:00:00+01:00"))
    merged = shop.admin.ok(
        "POST",
        f"/v1/customers/{first['customer_id']}/merge",
        200,
        json={"source_ids": [second["customer_id"]]},
    )
    assert merged["visit_count"] == 2 and merged["exemplar_count"] == 2
    assert shop.admin.get(f"/v1/customers/{second['customer_id']}").status_code == 404
    visits = shop.admin.ok("GET", "/v1/visits", params={"customer_id": first["customer_id"]})["items"]
    assert sorted(v["is_new_customer"] for v in visits) == [False, True]
    # b's face now finds the merged customer through the index.
    again = shop.post(shop.event(near(b, 0.9, rng), "2026-11-22T09:00:00+01:00"))
    assert again["customer_id"] == first["customer_id"] and not again["is_new_customer"]
    audit = shop.admin.ok("GET", "/v1/audit", params={"action": "customer.merge"})
    assert audit["total"] == 1 and audit["items"][0]["details"]["merged"] == [second["customer_id"]]
    bad = shop.admin.post(
        f"/v1/customers/{first['customer_id']}/merge", json={"source_ids": [first["customer_id"]]}
    )
    assert bad.status_code == 422


def test_split_moves_sightings_to_a_new_customer(shop: Shop, rec_settings: Settings) -> None:
    rng = np.random.default_rng(11)
    a = unit(rng)
    first = shop.post(shop.event(a, "2026-11-20T09:00:00+01:00"))
    second_event = shop.event(near(a, 0.95, rng), "2026-11-20T09:03:00+01:00")
    second = shop.post(second_event)
    assert second["visit_id"] == first["visit_id"]
    new = shop.admin.ok(
        "POST",
        f"/v1/customers/{first['customer_id']}/split",
        201,
        json={"sighting_ids": [second_event["event_id"]]},
    )
    assert (
        new["customer_id"] != first["customer_id"] and new["visit_count"] == 1 and new["exemplar_count"] == 1
    )
    old = shop.admin.ok("GET", f"/v1/customers/{first['customer_id']}")
    assert old["visit_count"] == 1
    visits = {v["customer_id"]: v for v in shop.admin.ok("GET", "/v1/visits")["items"]}
    assert visits[first["customer_id"]]["sightings"] == 1 and visits[new["customer_id"]]["sightings"] == 1
    everything = shop.admin.post(
        f"/v1/customers/{new['customer_id']}/split", json={"sighting_ids": [second_event["event_id"]]}
    )
    assert everything.status_code == 409
    assert shop.admin.ok("GET", "/v1/audit", params={"action": "customer.split"})["total"] == 1


def test_snapshot_upload_and_erase(shop: Shop, rec_settings: Settings) -> None:
    rng = np.random.default_rng(12)
    body = shop.event(unit(rng))
    upload = shop.worker.ok(
        "POST",
        "/v1/events/snapshot-url",
        200,
        json={"event_id": body["event_id"], "camera_id": shop.camera["id"]},
    )
    assert upload["snapshot_key"].startswith(f"{shop.tenant['id']}/{shop.site['id']}/")
    put = shop.worker.client.put(upload["upload_url"], content=JPEG, headers=upload["headers"])
    assert put.status_code in (200, 201, 204), put.text
    answer = shop.post({**body, "snapshot_key": upload["snapshot_key"]})
    link = shop.admin.ok("GET", f"/v1/visits/{answer['visit_id']}/snapshot")
    assert shop.admin.client.get(link["url"]).content == JPEG
    foreign = shop.event(unit(rng), snapshot_key="someone-else/x.jpg")
    assert shop.worker.post("/v1/events/face", json=foreign).status_code == 422

    report = shop.admin.ok("DELETE", f"/v1/customers/{answer['customer_id']}", 200)
    assert report["visits"] == 1 and report["sightings"] == 1 and report["objects_deleted"] == 1
    assert report["vectors_remaining"] == 0 and report["objects_remaining"] == 0
    assert shop.admin.client.get(link["url"]).status_code == 404
    assert rows(
        rec_settings, "SELECT count(*) FROM sightings WHERE customer_id = %s", answer["customer_id"]
    ) == [(0,)]
    audit = shop.admin.ok("GET", "/v1/audit", params={"action": "customer.erase"})["items"]
    assert audit[0]["details"]["objects_deleted"] == 1
    # The face is unknown again: the next sighting makes a new customer.
    assert shop.post(shop.event(np.array(body["embedding"])))["is_new_customer"]


def test_live_stream_delivers_new_sightings(shop: Shop, rec_settings: Settings, tmp_path: Any) -> None:
    """A second API process (a real uvicorn server) and a browser-style EventSource request
    (token in the query): NOTIFY reaches every process."""
    import socket

    import msgspec
    import uvicorn

    from appliance.server.app import create_app

    # Its own data dir: a Milvus Lite file serves one process.
    # Several API processes share one signing key (as the runbook says).
    key = (Path(rec_settings.data_dir) / "keys" / "jwt_private.pem").read_text()
    second = msgspec.structs.replace(rec_settings, data_dir=str(tmp_path), jwt_private_key=key)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(second), port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not server.started:
        time.sleep(0.05)
    received: list[dict[str, Any]] = []
    try:
        with (
            httpx.Client(base_url=base, timeout=10) as http,
            http.stream("GET", "/v1/events/stream", params={"access_token": shop.admin.token}) as stream,
        ):
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            for line in lines:  # wait for the hub to be listening
                if line.startswith("event: ready"):
                    break
            started = time.monotonic()
            # Ingest through the first process; the stream is served by the second.
            answer = shop.post(shop.event(unit(np.random.default_rng(13))))
            for line in lines:
                if line.startswith("data:") and json.loads(line[5:]).get("type") == "sighting":
                    received.append(json.loads(line[5:]))
                    break
            elapsed = time.monotonic() - started
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert received and received[0]["visit_id"] == answer["visit_id"]
    assert received[0]["tenant_id"] == shop.tenant["id"]
    assert elapsed < 2.0
