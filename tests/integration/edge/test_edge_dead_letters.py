"""Delivery never waits on one event: an event the real API can never accept is dead-lettered and the
events behind it go at their normal pace; a snapshot the store cannot take costs bounded tries
(issue 17). Real API under uvicorn, real on-disk queue, the real uploader."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from appliance.config import Settings
from appliance.edge.metrics import EdgeMetrics
from appliance.edge.queue import EventQueue, read_dead_letters
from appliance.edge.uploader import ApiClient, Uploader
from tests.integration.api import face_event
from tests.integration.edge.conftest import EdgeShop, LiveServer, free_port

DIM = 128  # the stand-in embedder's dimension (the API reads it from the model file)
NORMAL = 100


def event(shop: EdgeShop, rng: np.random.Generator, i: int, **extra: Any) -> dict[str, Any]:
    vector = rng.standard_normal(DIM)
    vector /= np.linalg.norm(vector)
    at = (datetime.now(UTC) - timedelta(days=2, minutes=-5 * i)).isoformat()
    model = {"name": "paddle_mobileface_arcface_128d", "version": "1"}
    return face_event(shop.site["id"], shop.camera["id"], vector, at, **{"model": model, **extra})


def deliver_all(queue: EventQueue, uploader: Uploader, expected_done: int, timeout: float = 120) -> float:
    """Run the sender threads until ``expected_done`` events are sent or dead; seconds taken."""
    started = time.perf_counter()
    uploader.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            stats = queue.stats()
            if stats.sent + stats.dead >= expected_done:
                return time.perf_counter() - started
            assert time.monotonic() < deadline, stats
            time.sleep(0.01)
    finally:
        uploader.stop()


def run(
    url: str, shop: EdgeShop, path: Path, bodies: list[dict[str, Any]], snapshots: bool = False
) -> tuple[float, EventQueue, EdgeMetrics]:
    queue = EventQueue(path)
    for body in bodies:
        queue.put(
            body["event_id"],
            body["camera_id"],
            msgspec.json.encode(body),
            b"\xff\xd8jpeg" if snapshots else None,
        )
    metrics = EdgeMetrics()
    api = ApiClient(url, shop.api_key, timeout=10)
    api.tokens.token()  # logged in before the clock starts, as a running worker is
    uploader = Uploader(queue, api, metrics, senders=2, backoff_base=0.2, backoff_cap=2.0)
    try:
        seconds = deliver_all(queue, uploader, len(bodies))
    finally:
        api.close()
    return seconds, queue, metrics


def test_a_never_accepted_event_is_dead_lettered_and_does_not_slow_the_rest(
    live_api: LiveServer, shop: EdgeShop, edge_api_settings: Settings, tmp_path: Path
) -> None:
    rng = np.random.default_rng(17)
    # the normal time of 100 events (another tenant's worth of the same work: fresh faces)
    warm = [event(shop, rng, i) for i in range(NORMAL)]
    normal_seconds, queue, _ = run(live_api.url, shop, tmp_path / "normal.sqlite3", warm)
    assert queue.stats().sent == NORMAL
    queue.close()

    # an event the API can never accept (a 1-D embedding: 400), then 100 normal ones behind it
    poison = event(shop, rng, 0, embedding=[1.0])
    behind = [event(shop, rng, NORMAL + i) for i in range(NORMAL)]
    seconds, queue, metrics = run(live_api.url, shop, tmp_path / "poisoned.sqlite3", [poison, *behind])
    try:
        stats = queue.stats()
        assert stats.sent == NORMAL and stats.dead == 1 and stats.depth == 0
        (dead,) = read_dead_letters(queue.path)
        assert dead.event_id == poison["event_id"] and dead.attempts <= 3
        assert "HTTP 400" in (dead.last_error or "")
        assert metrics.value("edge_events_failed_total", {"kind": "dead"}) == 1
        print(f"100 events: {normal_seconds:.2f} s alone, {seconds:.2f} s behind a never-accepted one")
        assert seconds <= 2 * normal_seconds, (seconds, normal_seconds)
    finally:
        queue.close()
    assert shop.count(edge_api_settings, "sightings") == 2 * NORMAL
    # the operator's view: `appliance edge --dead-letters` lists it (no API needed)
    listed = subprocess.run(
        [sys.executable, "-m", "appliance.cli.edge", "--dead-letters", "--queue", str(queue.path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert poison["event_id"] in listed.stdout and "HTTP 400" in listed.stdout
    assert behind[0]["event_id"] not in listed.stdout


def test_a_snapshot_url_for_the_wrong_port_costs_bounded_tries_not_the_event(
    live_api: LiveServer, shop: EdgeShop, edge_api_settings: Settings, tmp_path: Path
) -> None:
    """The server signs upload URLs for a port it does not listen on (issue 17's ``serve --port``
    case): every PUT is refused, and every event still arrives, without its snapshot."""
    port = free_port()
    wrong = msgspec.structs.replace(
        edge_api_settings,
        port=port,
        public_url=f"http://127.0.0.1:{free_port()}",
        data_dir=str(tmp_path / "d"),
    )
    server = LiveServer(wrong)
    server.start()
    try:
        rng = np.random.default_rng(18)
        bodies = [event(shop, rng, i) for i in range(5)]
        url = f"http://127.0.0.1:{port}"  # where it really listens
        _, queue, metrics = run(url, shop, tmp_path / "q.sqlite3", bodies, snapshots=True)
        try:
            stats = queue.stats()
            assert stats.sent == 5 and stats.dead == 0
            assert metrics.value("edge_snapshots_failed_total") == 5
        finally:
            queue.close()
    finally:
        server.stop()
    with_snapshot = shop.count(edge_api_settings, "sightings", "image_path IS NOT NULL")
    assert with_snapshot == 0 and shop.count(edge_api_settings, "sightings") == 5
