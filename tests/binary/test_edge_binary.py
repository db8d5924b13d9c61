"""The edge-only build (``make binary-edge`` → ``dist/appliance-edge``) against the source server:
skipped unless APPLIANCE_EDGE_BINARY names it."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from appliance.lib.frozen import self_command
from tests.binary.flow import MODELS_DIR, PASSWORD, VIDEO_PEOPLE, Box, ok, serving, short_video

pytestmark = pytest.mark.integration
EDGE_BINARY = os.environ.get("APPLIANCE_EDGE_BINARY")


@pytest.mark.skipif(not EDGE_BINARY, reason="set APPLIANCE_EDGE_BINARY=dist/appliance-edge/appliance-edge")
def test_edge_binary_delivers_a_video(tmp_path: Path) -> None:
    assert EDGE_BINARY is not None
    box = Box(command=self_command(), root=tmp_path)
    try:
        box.run("migrate")
        tenant = box.json(
            "admin", "create-tenant", f"Edge {uuid.uuid4().hex[:6]}", "--visit-gap-minutes", "1"
        )
        box.json(
            "admin", "create-user", "--username", "edge-admin", "--password", PASSWORD,
            "--role", "tenant_admin", "--tenant", tenant["id"],
        )  # fmt: skip
        with serving(box) as server, httpx.Client(base_url=server.url, timeout=60) as http:
            token = ok(
                http.post(
                    "/v1/auth/token",
                    json={"grant_type": "password", "username": "edge-admin", "password": PASSWORD},
                )
            )
            http.headers["Authorization"] = f"Bearer {token['access_token']}"
            site = ok(http.post("/v1/sites", json={"name": "Store", "timezone": "Europe/Berlin"}))
            video, appearances = short_video(tmp_path)
            ok(http.post("/v1/cameras", json={"site_id": site["id"], "name": "door", "source": str(video)}))
            key = ok(http.post("/v1/api-keys", json={"site_id": site["id"]}))["api_key"]
            env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
            result = subprocess.run(
                [EDGE_BINARY, "edge", "--api", server.url, "--api-key", key, "--models-dir", str(MODELS_DIR),
                 "--queue", str(tmp_path / "queue.sqlite3")],
                env=env, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr[-3000:]
            assert '"runtime": "onnxruntime-cpu"' in result.stderr
            visits = ok(http.get("/v1/visits", params={"site_id": site["id"]}))["items"]
            assert len(visits) == appearances == len(VIDEO_PEOPLE), result.stderr[-3000:]
    finally:
        box.drop()
