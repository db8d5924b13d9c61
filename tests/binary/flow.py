"""The appliance driven from the outside, as an operator would: its CLI in a new process and its
HTTP API on a real port. The same flow runs the source install (``python -m appliance``) and the
PyInstaller binary (``dist/appliance/appliance``), so a frozen-only failure shows as a difference.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

from appliance.edge.videogen import people_in, plan_visits, write_video
from tests.conftest import PG_ADMIN_URL

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = Path(os.environ.get("APPLIANCE_MODELS_DIR") or REPO.parent / "shared" / "models").resolve()
FACES_DIR = Path(os.environ.get("APPLIANCE_TEST_FACES_DIR") or REPO.parent / "shared" / "faces").resolve()
VIDEO_PEOPLE = ["deepface_A", "rose_leslie"]
PASSWORD = "binary-smoke-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ok(response: httpx.Response, status: int | tuple[int, ...] = (200, 201)) -> Any:
    expected = (status,) if isinstance(status, int) else status
    assert response.status_code in expected, (
        f"{response.request.method} {response.request.url}: {response.text}"
    )
    return response.json() if response.content else None


@dataclass
class Box:
    """One appliance installation: the command that runs it, and its environment (own database)."""

    command: list[str]
    root: Path
    db_name: str = field(default_factory=lambda: f"appliance_box_{uuid.uuid4().hex[:10]}")
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        self.role = f"{self.db_name}_app"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")},
            "APPLIANCE_DATABASE_URL": f"{base}/{self.db_name}",
            "APPLIANCE_APP_ROLE": self.role,
            "APPLIANCE_DATA_DIR": str(self.root / "data"),
            "APPLIANCE_MODELS_DIR": str(MODELS_DIR),
            "APPLIANCE_EMBEDDER": os.environ.get("APPLIANCE_EMBEDDER", "paddle_mobileface_arcface_128d.onnx"),
            "APPLIANCE_LOG_LEVEL": "INFO",
        }

    def run(self, *args: str, timeout: float = 300, expect: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.command, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            check=False,
        )
        assert result.returncode == expect, (
            f"appliance {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.db_name,)
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}"')  # type: ignore[arg-type]
            conn.execute(f"DROP ROLE IF EXISTS {self.role}")  # type: ignore[arg-type]


@dataclass
class Serving:
    url: str
    process: subprocess.Popen[bytes]
    ready_seconds: float
    log: Path


@contextmanager
def serving(box: Box, *args: str, port: int | None = None, timeout: float = 90) -> Iterator[Serving]:
    """``appliance serve --port P *args`` until /readyz answers 200; stopped (SIGTERM) afterwards."""
    port = port or free_port()
    log = box.root / f"serve-{port}.log"
    started = time.monotonic()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*box.command, "serve", "--port", str(port), *args],
            env=box.env,
            cwd=box.root,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=5) as http:
            while True:
                assert process.poll() is None, (
                    f"serve exited {process.returncode}:\n{log.read_text()[-4000:]}"
                )
                assert time.monotonic() - started < timeout, f"not ready in {timeout} s:\n{log.read_text()}"
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        yield Serving(url=url, process=process, ready_seconds=time.monotonic() - started, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def short_video(folder: Path) -> tuple[Path, int]:
    """Two people, once each, 640x360 (about 7 s): the demo's video generator on the shared photos."""
    plan = plan_visits(people_in(FACES_DIR), names=VIDEO_PEOPLE)
    info = write_video(plan, folder / "short.mp4", width=640, height=360)
    return info.path, len(info.appearances)


def embedder_identity() -> dict[str, str]:
    """The model the edge reports (a tenant's customers are all embedded by one model)."""
    from appliance.config import load_settings
    from appliance.vision.embed import load_embedder

    embedder = load_embedder(MODELS_DIR / load_settings().embedder)  # APPLIANCE_EMBEDDER (tests/conftest.py)
    return {"name": embedder.name, "version": embedder.version}


def jpeg() -> bytes:
    from appliance.vision.images import encode_jpeg, read_image

    return encode_jpeg(read_image(str(people_in(FACES_DIR)[VIDEO_PEOPLE[0]][0])))


def run_flow(box: Box, *, workers: int = 2) -> dict[str, float]:
    """The issue's smoke: migrate a fresh database, serve with workers, health, dashboard, a token,
    one event end to end (presigned snapshot on this port), the edge on a short video, purge
    --dry-run. Returns the timings it measured."""
    figures: dict[str, float] = {}
    started = time.monotonic()
    box.run("migrate")
    figures["migrate_s"] = time.monotonic() - started
    box.run("migrate")  # a re-run is an upgrade that changes nothing
    suffix = uuid.uuid4().hex[:6]
    tenant = box.json("admin", "create-tenant", f"Smoke {suffix}", "--visit-gap-minutes", "1")
    username = f"smoke-admin-{suffix}"
    box.json(
        "admin", "create-user", "--username", username, "--password", PASSWORD,
        "--role", "tenant_admin", "--tenant", tenant["id"],
    )  # fmt: skip

    with (
        serving(box, "--workers", str(workers)) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        figures["serve_ready_s"] = server.ready_seconds
        assert ok(http.get("/healthz"))["status"] in {"ok", "pass"}
        assert http.get("/readyz").status_code == 200
        page = http.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"], page.text[:300]
        assert '<div id="root">' in page.text or "<script" in page.text, page.text[:300]

        token = ok(
            http.post(
                "/v1/auth/token", json={"grant_type": "password", "username": username, "password": PASSWORD}
            )
        )
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        site = ok(http.post("/v1/sites", json={"name": "Store", "timezone": "Europe/Berlin"}))
        video, appearances = short_video(box.root)
        camera = ok(
            http.post("/v1/cameras", json={"site_id": site["id"], "name": "door", "source": str(video)})
        )
        key = ok(http.post("/v1/api-keys", json={"site_id": site["id"], "name": "smoke edge"}))["api_key"]

        with httpx.Client(base_url=server.url, timeout=60) as edge_http:
            worker = ok(edge_http.post("/v1/auth/token", json={"grant_type": "api_key", "api_key": key}))
            edge_http.headers["Authorization"] = f"Bearer {worker['access_token']}"
            event_id = str(uuid.uuid4())
            upload = ok(
                edge_http.post(
                    "/v1/events/snapshot-url",
                    json={"event_id": event_id, "camera_id": camera["id"], "content_type": "image/jpeg"},
                )
            )
            # `serve --port P` signs local-store URLs for P: the presigned PUT reaches this server.
            assert upload["upload_url"].startswith(f"{server.url}/"), upload["upload_url"]
            put = httpx.put(upload["upload_url"], content=jpeg(), headers=upload["headers"], timeout=30)
            assert put.status_code in (200, 201, 204), put.text
            vector = np.random.default_rng(7).standard_normal(128)
            captured = datetime.now(UTC) - timedelta(days=2)
            match = ok(
                edge_http.post(
                    "/v1/events/face",
                    json={
                        "event_id": event_id,
                        "site_id": site["id"],
                        "camera_id": camera["id"],
                        "captured_at": captured.isoformat(),
                        "embedding": [float(x) for x in vector / np.linalg.norm(vector)],
                        "det_score": 0.93,
                        "bbox": [100, 80, 120, 150],
                        "landmarks": [[130, 120], [190, 120], [160, 150], [135, 185], [185, 185]],
                        "quality": 0.8,
                        "is_staff_local": False,
                        "model": embedder_identity(),
                        "snapshot_key": upload["snapshot_key"],
                    },
                )
            )
            assert match["is_new_customer"] and match["visit_id"], match

        started = time.monotonic()
        edge = box.run(
            "edge", "--api", server.url, "--api-key", key, "--queue", str(box.root / "edge-queue.sqlite3"),
            timeout=300,
        )  # fmt: skip
        figures["edge_s"] = time.monotonic() - started
        visits = ok(http.get("/v1/visits", params={"site_id": site["id"], "limit": 50}))["items"]
        from_video = [v for v in visits if v["visit_id"] != match["visit_id"]]
        assert len(from_video) == appearances == len(VIDEO_PEOPLE), (visits, edge.stderr[-3000:])

    report = box.json("purge", "--dry-run", "--older-than", "1d")
    # Runs against the database and the object store; a dry run deletes nothing.
    assert report["dry_run"] is True and report["tenants"] >= 1, report
    assert report["deleted"] == 0 and report["failed"] == 0, report
    return figures
