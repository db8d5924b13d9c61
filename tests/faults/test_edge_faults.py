"""Edge faults against a real API (uvicorn in a thread): the edge's network cut and restored (every
byte the edge sends — events, snapshot URLs, snapshot uploads — goes through a TCP proxy), and
the edge queue's disk full (a size-capped tmpfs). Each time, what the queue accepted arrives
exactly once, with its snapshot, and nothing is half-written."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import pytest

from appliance.config import Settings
from appliance.edge.metrics import EdgeMetrics
from appliance.edge.queue import EventQueue
from appliance.edge.uploader import ApiClient, Uploader
from appliance.vision.images import encode_jpeg
from tests.faults.conftest import integrity, owner_rows, recent
from tests.faults.proxy import TcpProxy
from tests.integration.api import PASSWORD, bootstrap_system_admin, face_event
from tests.integration.edge.conftest import EdgeShop, LiveServer
from tests.integration.recognition.conftest import DIM, unit
from tests.integration.storage.conftest import free_ports

pytestmark = pytest.mark.timeout(180)


class EdgeWorld:
    def __init__(self, settings: Settings, proxy: TcpProxy, root: httpx.Client) -> None:
        self.settings, self.proxy, self.root = settings, proxy, root
        self.url = f"http://{proxy.address}"


@pytest.fixture(scope="module")
def edge_world(pg_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeWorld]:
    """The API on a port of its own, reached (also by presigned snapshot URLs) through the proxy."""
    proxy_port, api_port = free_ports(2)
    proxy = TcpProxy("127.0.0.1", api_port, port=proxy_port).start()
    settings = msgspec.structs.replace(
        pg_settings,
        embedding_dim=DIM,
        data_dir=str(tmp_path_factory.mktemp("edge-faults-data")),
        scheduler=False,
        host="127.0.0.1",
        port=api_port,
        public_url=f"http://{proxy.address}",
    )
    server = LiveServer(settings)
    server.start()
    username, _ = bootstrap_system_admin(settings)
    try:
        # No keep-alive: a connection pooled before a cut would be dead after it.
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=f"http://{proxy.address}", timeout=30, limits=no_reuse) as root:
            token = root.post(
                "/v1/auth/token", json={"grant_type": "password", "username": username, "password": PASSWORD}
            ).json()["access_token"]
            root.headers["Authorization"] = f"Bearer {token}"
            yield EdgeWorld(settings, proxy, root)
    finally:
        proxy.cut()
        server.stop()


def jpeg(seed: int, size: int = 48) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    return encode_jpeg(pixels)


def event_payload(shop: EdgeShop, vector: np.ndarray[Any, Any], minutes_ago: float) -> tuple[str, bytes]:
    body = face_event(shop.site["id"], shop.camera["id"], vector, recent(minutes_ago))
    return body["event_id"], msgspec.json.encode(body)


def deliver_all(world: EdgeWorld, shop: EdgeShop, queue: EventQueue, timeout: float = 90) -> Uploader:
    uploader = Uploader(
        queue, ApiClient(world.url, shop.api_key, timeout=5), EdgeMetrics(), backoff_base=0.1, backoff_cap=1.0
    )
    uploader.start()
    deadline = time.monotonic() + timeout
    try:
        while queue.depth() > 0:
            assert time.monotonic() < deadline, f"{queue.depth()} events still queued"
            time.sleep(0.1)
    finally:
        uploader.stop()
    return uploader


def sighting_rows(settings: Settings, tenant_id: str) -> dict[str, str | None]:
    rows = owner_rows(settings, "SELECT id, image_path FROM sightings WHERE tenant_id = %s", tenant_id)
    return {str(row[0]): row[1] for row in rows}


def test_edge_offline_then_back_delivers_everything_once(edge_world: EdgeWorld, tmp_path: Path) -> None:
    shop = EdgeShop(edge_world.root)
    rng = np.random.default_rng(1802)
    queue = EventQueue(tmp_path / "queue.sqlite3")
    ids: set[str] = set()
    edge_world.proxy.cut()
    try:
        uploader = Uploader(
            queue,
            ApiClient(edge_world.url, shop.api_key, timeout=5),
            EdgeMetrics(),
            backoff_base=0.1,
            backoff_cap=1.0,
        )
        uploader.start()
        for n in range(20):
            event_id, payload = event_payload(shop, unit(rng), 20 - n)
            assert queue.put(event_id, shop.camera["id"], payload, jpeg(n))
            ids.add(event_id)
        deadline = time.monotonic() + 30
        while not queue.stats().pending or max_attempts(queue) < 2:
            assert time.monotonic() < deadline, "the uploader never tried while offline"
            time.sleep(0.1)
        assert sighting_rows(edge_world.settings, shop.tenant["id"]) == {}
    finally:
        edge_world.proxy.restore()
    deadline = time.monotonic() + 90
    while queue.depth() > 0:
        assert time.monotonic() < deadline, f"{queue.depth()} events still queued after the network came back"
        time.sleep(0.1)
    uploader.stop()
    rows = sighting_rows(edge_world.settings, shop.tenant["id"])
    assert set(rows) == ids and all(rows.values()), rows  # every event, each with its snapshot
    assert set(queue.event_ids("sent")) == ids and queue.stats().dead == 0
    report = integrity(edge_world.settings, shop.tenant["id"], ids)
    assert (report["lost"], report["duplicated"], report["half_written"]) == (0, 0, 0), report
    queue.close()
    shop.close()


def max_attempts(queue: EventQueue) -> int:
    with contextlib.closing(sqlite3.connect(queue.path)) as conn:
        return int(conn.execute("SELECT coalesce(max(attempts), 0) FROM events").fetchone()[0])


@contextlib.contextmanager
def capped_dir(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a size-capped tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_edge_queue_disk_full_refuses_cleanly_and_loses_nothing_it_accepted(
    edge_world: EdgeWorld, tmp_path: Path
) -> None:
    shop = EdgeShop(edge_world.root)
    rng = np.random.default_rng(1803)
    accepted: list[str] = []
    with capped_dir(tmp_path / "capped", "600k") as capped:
        queue = EventQueue(capped / "queue.sqlite3")
        refused: list[str] = []
        error: Exception | None = None
        for n in range(200):
            event_id, payload = event_payload(shop, unit(rng), 30 - n * 0.1)
            try:
                queue.put(event_id, shop.camera["id"], payload, jpeg(n, size=96))
            except (sqlite3.Error, OSError) as exc:
                error = exc
                refused.append(event_id)
                if len(refused) >= 3:
                    break
                continue
            accepted.append(event_id)
        assert error is not None, "the capped directory never filled"
        assert len(accepted) > 5
        # Refused is refused: no trace of those events, the accepted ones intact.
        assert set(queue.event_ids()) == set(accepted)
        # Room again (the operator freed space): the queue takes events and delivers all it holds.
        subprocess.run(["mount", "-o", "remount,size=16m", str(capped)], check=True)
        with contextlib.closing(sqlite3.connect(capped / "queue.sqlite3")) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        event_id, payload = event_payload(shop, unit(rng), 1)
        assert queue.put(event_id, shop.camera["id"], payload, jpeg(999))
        accepted.append(event_id)
        deliver_all(edge_world, shop, queue)
        rows = sighting_rows(edge_world.settings, shop.tenant["id"])
        assert set(rows) == set(accepted) and all(rows.values())
        assert not set(refused) & set(rows)
        report = integrity(edge_world.settings, shop.tenant["id"], set(accepted))
        assert (report["lost"], report["duplicated"], report["half_written"]) == (0, 0, 0), report
        queue.close()
    shop.close()


def test_edge_queue_disk_full_says_the_disk_is_full(tmp_path: Path) -> None:
    with capped_dir(tmp_path / "capped", "300k") as capped:
        queue = EventQueue(capped / "queue.sqlite3")
        try:
            with pytest.raises((sqlite3.Error, OSError)) as raised:
                for n in range(200):
                    queue.put(str(uuid.uuid4()), "camera", b"{}" * 100, jpeg(n, size=96))
            assert "full" in str(raised.value).lower(), raised.value
        finally:
            queue.close()
