"""A video made from real photos → the edge (real models) → the real API: the right events,
visits and customers; staff recognised on the edge; snapshots and metrics."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from appliance.config import Settings
from appliance.edge.videogen import VideoInfo
from tests.integration.edge.conftest import EdgeShop, LiveServer, make_worker, ok, video_start


def appearance_of(video: VideoInfo, start: datetime, seen: str) -> str:
    """The person on screen when a sighting was captured."""
    t = (datetime.fromisoformat(seen) - start).total_seconds()
    matches = [a.person for a in video.appearances if a.start - 0.01 <= t <= a.end + 0.01]
    assert len(matches) == 1, (t, seen)
    return matches[0]


def test_people_appearing_leaving_and_returning(
    live_api: LiveServer, shop: EdgeShop, edge_api_settings: Settings, long_video: VideoInfo, tmp_path: Path
) -> None:
    start = video_start()
    worker = make_worker(
        live_api, shop, edge_api_settings, long_video, tmp_path, start_time=start, metrics_port=0
    )
    result: dict[str, int] = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", worker.run()))
    thread.start()
    scraped = ""
    health: dict = {}
    deadline = time.monotonic() + 180
    while thread.is_alive() and time.monotonic() < deadline:
        if (
            not scraped
            and worker.metrics_server is not None
            and worker.metrics.value("edge_events_sent_total") >= 1
        ):
            base = f"http://127.0.0.1:{worker.metrics_server.port}"
            scraped = httpx.get(f"{base}/metrics").text
            health = httpx.get(f"{base}/healthz").json()
        thread.join(0.1)
    assert not thread.is_alive() and result["code"] == 0

    appearances = long_video.appearances
    assert len(appearances) == len(long_video.people) + 2 == 7
    assert worker.summary["events_queued"] == len(appearances)  # one event per person passing
    assert worker.summary["sent"] == len(appearances) and worker.summary["pending"] == 0
    assert worker.summary["dead"] == 0

    visits = shop.visits()
    assert len(visits) == len(appearances)
    assert shop.count(edge_api_settings, "sightings") == len(appearances)
    assert shop.count(edge_api_settings, "customers") == len(long_video.people)
    person_customers: dict[str, set[str]] = {}
    customer_people: dict[str, set[str]] = {}
    for visit in visits:
        person = appearance_of(long_video, start, visit["first_seen"])
        person_customers.setdefault(person, set()).add(visit["customer_id"])
        customer_people.setdefault(visit["customer_id"], set()).add(person)
    assert all(len(c) == 1 for c in person_customers.values()), person_customers  # ONE customer per person
    assert all(len(p) == 1 for p in customer_people.values()), customer_people
    assert set(person_customers) == set(long_video.people)
    repeat = [v for v in visits if not v["is_new_customer"]]
    assert sorted(appearance_of(long_video, start, v["first_seen"]) for v in repeat) == sorted(
        ["alex_lacamoire", "deepface_C"]
    )
    genders = {appearance_of(long_video, start, v["first_seen"]): v["gender"] for v in visits}
    assert genders["rose_leslie"] == "female" and genders["alex_lacamoire"] == "male"
    assert all(v["age"] is not None and 10 < v["age"] < 90 for v in visits)

    # the best frame's snapshot went through the presigned PUT and can be fetched back
    link = ok(shop.admin.get(f"/v1/visits/{visits[0]['visit_id']}/snapshot"))
    image = httpx.get(link["url"])
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"

    # metrics and health were served while it ran
    assert 'edge_frames_total{camera="' in scraped and "edge_queue_depth" in scraped
    assert health["ok"] is True and shop.camera["id"] in health["cameras"]
    m = worker.metrics
    frames = m.value("edge_frames_total", {"camera": shop.camera["id"]})
    assert frames == worker.summary["frames"]
    assert abs(frames - long_video.duration * 5) <= 3  # 10 fps file analysed at 5 fps
    assert m.value("edge_frames_static_total", {"camera": shop.camera["id"]}) > 200  # the empty store
    assert m.value("edge_events_sent_total") == len(appearances)


def test_staff_are_recognised_on_the_edge(
    live_api: LiveServer,
    shop: EdgeShop,
    edge_api_settings: Settings,
    short_video: VideoInfo,
    tmp_path: Path,
    faces_dir: Path,
) -> None:
    staff = ok(shop.admin.post("/v1/staff", json={"name": "Floor manager", "site_ids": [shop.site["id"]]}))
    photo = (faces_dir / "deepface_F" / "2.jpg").read_bytes()
    ok(
        shop.admin.post(
            f"/v1/staff/{staff['id']}/photos", content=photo, headers={"Content-Type": "image/jpeg"}
        ),
        201,
    )

    start = video_start()
    worker = make_worker(live_api, shop, edge_api_settings, short_video, tmp_path, start_time=start)
    assert worker.run() == 0
    assert worker.summary["events_queued"] == len(short_video.appearances) == 4
    assert worker.metrics.value("edge_staff_matches_total") == 1

    visits = shop.visits()
    people = sorted(appearance_of(short_video, start, v["first_seen"]) for v in visits)
    assert people == ["deepface_A", "kit_harington", "rose_leslie"]  # the staff member made no visit
    assert shop.count(edge_api_settings, "sightings") == 4
    # The server records the edge's staff sighting without a customer; it does not (yet) keep the
    # edge's staff_id (reported to the lead), so only is_staff is asserted here.
    assert shop.count(edge_api_settings, "sightings", "is_staff AND customer_id IS NULL") == 1
    assert shop.count(edge_api_settings, "customers") == 3


def test_cameras_come_from_the_edge_config(
    live_api: LiveServer,
    root_http: httpx.Client,
    edge_api_settings: Settings,
    short_video: VideoInfo,
    tmp_path: Path,
) -> None:
    """Without --camera the worker runs every enabled camera of the key's site (file sources end)."""
    from appliance.edge.worker import EdgeWorker
    from tests.integration.edge.conftest import edge_config

    shop = EdgeShop(root_http, camera_source=str(short_video.path))
    try:
        ok(
            shop.admin.post(
                "/v1/cameras",
                json={"site_id": shop.site["id"], "name": "off", "source": "7", "enabled": False},
            )
        )
        worker = EdgeWorker(
            api_url=live_api.url, api_key=shop.api_key, settings=edge_api_settings, edge=edge_config(tmp_path)
        )
        assert worker.run() == 0
        assert [c.spec.camera_id for c in worker.cameras] == [shop.camera["id"]]
        assert worker.summary["events_queued"] == 4 and shop.count(edge_api_settings, "sightings") == 4
        # the same file again: already processed, nothing re-sent
        again = EdgeWorker(
            api_url=live_api.url, api_key=shop.api_key, settings=edge_api_settings, edge=edge_config(tmp_path)
        )
        assert again.run() == 0 and again.cameras == [] and again.summary["events_queued"] == 0
        assert shop.count(edge_api_settings, "sightings") == 4
        ends = [datetime.fromisoformat(v["last_seen"]) for v in shop.visits()]
        assert max(ends) <= datetime.now(ends[0].tzinfo) + timedelta(
            seconds=1
        )  # a file "ends now" by default
    finally:
        shop.close()
