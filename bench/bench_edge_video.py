"""People walking past twice, end to end, with real models on real photos.

A video is built from the shared photos: every person walks past the camera, the store stays empty
for longer than the visit gap, then every person walks past again (with another photo where they
have one). ``appliance edge`` runs it against ``appliance serve --port P`` on a free port that is
not the default, with no ``APPLIANCE_PORT`` set — so the presigned snapshot URLs must follow the
served port. Reported: customers vs people, visits vs passes, visits that got a snapshot.

    python bench/bench_edge_video.py              # every person in ../shared/faces
    python bench/bench_edge_video.py --people 4

Models: APPLIANCE_MODELS_DIR (else ../shared/models); photos: APPLIANCE_TEST_FACES_DIR (else
../shared/faces). Figures are printed (RESULT lines), never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from _common import REPO, BenchError, bench_database, main_guard, serve, settings_env
from appliance.edge.videogen import people_in, plan_visits, write_video

VISIT_GAP_MINUTES = 1
PASSWORD = "bench-edge-video-password"


def cli(settings: Any, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "appliance", *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise BenchError(f"appliance {' '.join(args[:2])} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        request = response.request
        raise BenchError(f"{request.method} {request.url}: {response.status_code} {response.text}")
    return response.json()


def run() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=0, help="how many people (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("APPLIANCE_MODELS_DIR", str((REPO.parent / "shared" / "models").resolve()))
    faces = Path(os.environ.get("APPLIANCE_TEST_FACES_DIR") or REPO.parent / "shared" / "faces")
    people = people_in(faces)
    names = list(people)[: args.people or None]
    if not names:
        raise BenchError(f"no photos under {faces}")

    with (
        tempfile.TemporaryDirectory(prefix="bench-edge-video-") as work,
        bench_database("edgevideo") as settings,
    ):
        plan = plan_visits(people, names=names, returning=names, away_seconds=VISIT_GAP_MINUTES * 60 + 5)
        video = write_video(plan, Path(work) / "walk-past-twice.mp4", width=1280, height=720)
        passes = len(video.appearances)
        print(f"video: {video.duration:.0f} s, {len(names)} people, {passes} passes")

        tenant = json.loads(
            cli(settings, "admin", "create-tenant", f"edge video {uuid.uuid4().hex[:6]}",
                "--visit-gap-minutes", str(VISIT_GAP_MINUTES), "--json")
        )  # fmt: skip
        username = f"bench-{uuid.uuid4().hex[:6]}"
        cli(settings, "admin", "create-user", "--username", username, "--password", PASSWORD,
            "--role", "tenant_admin", "--tenant", tenant["id"])  # fmt: skip

        with serve(settings) as url, httpx.Client(base_url=url, timeout=30) as http:
            port = int(url.rsplit(":", 1)[1])
            login = {"grant_type": "password", "username": username, "password": PASSWORD}
            token = ok(http.post("/v1/auth/token", json=login))["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            site = ok(http.post("/v1/sites", json={"name": "Entrance", "timezone": "Europe/Berlin"}))
            door = {"site_id": site["id"], "name": "door", "source": str(video.path)}
            camera = ok(http.post("/v1/cameras", json=door))
            key = ok(http.post("/v1/api-keys", json={"site_id": site["id"], "name": "bench edge"}))

            started = time.perf_counter()
            edge = subprocess.run(
                [sys.executable, "-m", "appliance", "edge", "--api", url, "--api-key", key["api_key"],
                 "--camera", f"{camera['id']}={video.path}", "--queue", str(Path(work) / "queue.sqlite3")],
                env=settings_env(settings),
                capture_output=True,
                text=True,
                check=False,
                cwd=REPO,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            if edge.returncode != 0:
                raise BenchError(f"the edge worker exited {edge.returncode}:\n{edge.stderr[-3000:]}")

            customers = ok(http.get("/v1/customers", params={"limit": 200}))["total"]
            visits = ok(http.get("/v1/visits", params={"limit": 200}))["items"]
            with_snapshot = sum(1 for v in visits if v.get("best_snapshot_key"))

    print(f"edge: {seconds:.1f} s for a {video.duration:.0f} s video; serve on port {port} (default 8080)")
    print(f"RESULT edge_video_customers={customers} people={len(names)} target=={len(names)}")
    print(f"RESULT edge_video_visits={len(visits)} passes={passes} target=={passes}")
    print(f"RESULT edge_video_visits_with_snapshot={with_snapshot} of {len(visits)} target=all")


if __name__ == "__main__":
    main_guard(run)
