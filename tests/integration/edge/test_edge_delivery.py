"""Delivery guarantees against the real API: an outage, and kill -9 of the edge mid-send —
every event arrives exactly once (counted in PostgreSQL)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from appliance.config import Settings
from appliance.edge.videogen import VideoInfo
from tests.integration.edge.conftest import EdgeShop, LiveServer, make_worker


def test_api_down_for_a_while_then_back(
    live_api: LiveServer, shop: EdgeShop, edge_api_settings: Settings, short_video: VideoInfo, tmp_path: Path
) -> None:
    expected = len(short_video.appearances)

    def outage(_config: dict[str, Any]) -> None:
        live_api.stop()  # the API goes down right after the worker got its configuration

    worker = make_worker(live_api, shop, edge_api_settings, short_video, tmp_path, on_started=outage)
    result: dict[str, int] = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", worker.run()))
    thread.start()
    try:
        deadline = time.monotonic() + 120
        m = worker.metrics
        # the whole video is analysed and queued while the API is down; delivery keeps failing
        while (
            m.value("edge_events_queued_total") < expected
            or m.value("edge_events_failed_total", {"kind": "transient"}) < 3
        ):
            assert thread.is_alive() and time.monotonic() < deadline, worker.summary
            time.sleep(0.1)
        assert m.value("edge_events_sent_total") == 0
        assert shop.count(edge_api_settings, "sightings") == 0
        time.sleep(1.0)
    finally:
        if not live_api.running:
            live_api.start()
    thread.join(120)
    assert not thread.is_alive() and result["code"] == 0
    assert (
        worker.summary["sent"] == expected and worker.summary["dead"] == 0 and worker.summary["pending"] == 0
    )
    assert shop.count(edge_api_settings, "sightings") == expected
    assert len(shop.visits()) == expected
    queue = sqlite3.connect(tmp_path / "edge-queue.sqlite3")
    sent = {r[0] for r in queue.execute("SELECT event_id FROM events WHERE state='sent'")}
    assert sent == set(shop.sighting_ids(edge_api_settings))


def edge_cli(
    live: LiveServer, shop: EdgeShop, video: VideoInfo, queue: Path, models_dir: str
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "APPLIANCE_MODELS_DIR": models_dir,
        "APPLIANCE_LOG_LEVEL": "INFO",
        "APPLIANCE_BACKOFF_CAP_SECONDS": "2",
    }
    return subprocess.Popen(
        [
            sys.executable, "-m", "appliance.cli.edge",
            "--api", live.url, "--api-key", shop.api_key,
            "--camera", f"{shop.camera['id']}={video.path}",
            "--queue", str(queue), "--fps", "5",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def test_kill_9_mid_send_then_restart_loses_and_duplicates_nothing(
    live_api: LiveServer, shop: EdgeShop, edge_api_settings: Settings, short_video: VideoInfo, tmp_path: Path
) -> None:
    expected = len(short_video.appearances)
    queue = tmp_path / "queue.sqlite3"
    first = edge_cli(live_api, shop, short_video, queue, edge_api_settings.models_dir)
    deadline = time.monotonic() + 120
    while shop.count(edge_api_settings, "sightings") < 1:
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    assert first.returncode == -signal.SIGKILL
    delivered_before = shop.count(edge_api_settings, "sightings")
    assert 1 <= delivered_before < expected, "the kill must land mid-run"

    second = edge_cli(live_api, shop, short_video, queue, edge_api_settings.models_dir)
    output, _ = second.communicate(timeout=180)
    assert second.returncode == 0, output
    assert shop.count(edge_api_settings, "sightings") == expected
    assert len(shop.visits()) == expected and shop.count(edge_api_settings, "customers") == expected
    with sqlite3.connect(queue) as db:
        states = dict(db.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
        sent = {r[0] for r in db.execute("SELECT event_id FROM events WHERE state='sent'")}
    assert states == {"sent": expected}
    assert sent == set(shop.sighting_ids(edge_api_settings))
