"""The edge against the real API: ``create_app`` served by uvicorn on a free port (the edge speaks
HTTP), PostgreSQL + Milvus Lite + the local object store, the real models and photos, and videos
built from those photos (session-scoped: built once)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import uvicorn

from appliance.config import Settings
from appliance.edge.settings import EdgeSettings, load_edge_settings
from appliance.edge.videogen import VideoInfo, people_in, plan_visits, write_video
from appliance.edge.worker import EdgeWorker
from appliance.server.app import create_app
from tests.integration.api import PASSWORD, bootstrap_system_admin

VIDEO_SIZE = (640, 360)
LONG_PEOPLE = ["alex_lacamoire", "deepface_A", "deepface_C", "deepface_F", "rose_leslie"]
LONG_RETURNING = ["alex_lacamoire", "deepface_C"]
SHORT_PEOPLE = ["deepface_A", "deepface_F", "rose_leslie", "kit_harington"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def edge_api_settings(
    pg_settings: Settings, tmp_path_factory: pytest.TempPathFactory, models_dir: Path
) -> Settings:
    """The API as deployed: the embedding dimension read from the embedder model (no override)."""
    port = free_port()
    return msgspec.structs.replace(
        pg_settings,
        embedding_dim=None,
        models_dir=str(models_dir),
        data_dir=str(tmp_path_factory.mktemp("edge-api-data")),
        scheduler=False,
        host="127.0.0.1",
        port=port,
        public_url=f"http://127.0.0.1:{port}",
    )


class LiveServer:
    """The real app under uvicorn in a thread; stop()/start() simulate an API outage."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.base_url
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            create_app(self.settings),
            host=self.settings.host,
            port=self.settings.port,
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.05)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the API did not stop"
        self._server = self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None


@pytest.fixture(scope="session")
def live_api(edge_api_settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(edge_api_settings)
    server.start()
    yield server
    if server.running:
        server.stop()


@pytest.fixture(scope="session")
def root_http(live_api: LiveServer, edge_api_settings: Settings) -> Iterator[httpx.Client]:
    username, password = bootstrap_system_admin(edge_api_settings)
    with httpx.Client(base_url=live_api.url, timeout=60) as http:
        token = ok(
            http.post(
                "/v1/auth/token", json={"grant_type": "password", "username": username, "password": password}
            )
        )
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield http


def ok(response: httpx.Response, status: int | tuple[int, ...] = (200, 201)) -> Any:
    expected = (status,) if isinstance(status, int) else status
    assert response.status_code in expected, (
        f"{response.request.method} {response.request.url}: {response.text}"
    )
    return response.json() if response.content else None


class EdgeShop:
    """A tenant (visit gap 1 minute) with a site, a camera, a tenant admin and an edge API key."""

    def __init__(self, root: httpx.Client, camera_source: str = "0") -> None:
        suffix = uuid.uuid4().hex[:8]
        self.tenant = ok(root.post("/v1/tenants", json={"name": f"edge-{suffix}", "visit_gap_minutes": 1}))
        inside = {"X-Tenant-ID": self.tenant["id"]}
        self.site = ok(
            root.post("/v1/sites", json={"name": "Store", "timezone": "Europe/Berlin"}, headers=inside)
        )
        username = f"edge-admin-{suffix}"
        ok(
            root.post(
                "/v1/users",
                json={"username": username, "password": PASSWORD, "role": "tenant_admin"},
                headers=inside,
            )
        )
        self.admin = httpx.Client(base_url=str(root.base_url), timeout=60)
        token = ok(
            self.admin.post(
                "/v1/auth/token", json={"grant_type": "password", "username": username, "password": PASSWORD}
            )
        )
        self.admin.headers["Authorization"] = f"Bearer {token['access_token']}"
        self.camera = ok(
            self.admin.post(
                "/v1/cameras", json={"site_id": self.site["id"], "name": "door", "source": camera_source}
            )
        )
        self.api_key: str = ok(self.admin.post("/v1/api-keys", json={"site_id": self.site["id"]}))["api_key"]

    def visits(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = ok(self.admin.get("/v1/visits", params={"limit": 200}))["items"]
        return sorted(items, key=lambda v: v["first_seen"])

    def count(self, settings: Settings, table: str, where: str = "TRUE") -> int:
        with psycopg.connect(settings.database_url) as conn:
            row = conn.execute(
                f"SELECT count(*) FROM {table} WHERE tenant_id = %s AND {where}", (self.tenant["id"],)
            ).fetchone()
            assert row is not None
            return int(row[0])

    def sighting_ids(self, settings: Settings) -> list[str]:
        with psycopg.connect(settings.database_url) as conn:
            rows = conn.execute(
                "SELECT id FROM sightings WHERE tenant_id = %s", (self.tenant["id"],)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        self.admin.close()


@pytest.fixture
def shop(root_http: httpx.Client) -> Iterator[EdgeShop]:
    made = EdgeShop(root_http)
    yield made
    made.close()


@pytest.fixture(scope="session")
def videos_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def long_video(videos_dir: Path, faces_dir: Path) -> VideoInfo:
    """Five people; two of them come back after more than the 1-minute visit gap (86 s)."""
    plan = plan_visits(people_in(faces_dir), names=LONG_PEOPLE, returning=LONG_RETURNING, away_seconds=65)
    return write_video(plan, videos_dir / "long.mp4", width=VIDEO_SIZE[0], height=VIDEO_SIZE[1])


@pytest.fixture(scope="session")
def short_video(videos_dir: Path, faces_dir: Path) -> VideoInfo:
    """Four people, once each (13 s)."""
    plan = plan_visits(people_in(faces_dir), names=SHORT_PEOPLE)
    return write_video(plan, videos_dir / "short.mp4", width=VIDEO_SIZE[0], height=VIDEO_SIZE[1])


def edge_config(tmp_path: Path, **overrides: Any) -> EdgeSettings:
    return load_edge_settings(env={}, queue_path=str(tmp_path / "edge-queue.sqlite3"), **overrides)


def make_worker(
    live: LiveServer, shop: EdgeShop, settings: Settings, video: VideoInfo, tmp_path: Path, **kwargs: Any
) -> EdgeWorker:
    edge = kwargs.pop("edge", None) or edge_config(
        tmp_path, backoff_base_seconds=0.2, backoff_cap_seconds=2.0
    )
    return EdgeWorker(
        api_url=live.url,
        api_key=shop.api_key,
        settings=settings,
        edge=edge,
        cameras=[_spec(shop, video)],
        **kwargs,
    )


def _spec(shop: EdgeShop, video: VideoInfo) -> Any:
    from appliance.edge.capture import SourceSpec

    return SourceSpec(camera_id=shop.camera["id"], source=str(video.path))


def video_start() -> datetime:
    """Capture time of a test video's first frame: a whole minute, well in the past."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=10)
