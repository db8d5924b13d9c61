"""Seed the development stack (compose.dev.yaml): runs inside the appliance image.

Creates a tenant, a tenant admin (dev-admin / dev-password), a site, a camera whose source is a
video built from the face photos in /faces, and an edge API key; writes the key and camera for
the simulated worker to /var/lib/appliance/edge.env. Does nothing when that file exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

OUT = Path("/var/lib/appliance")  # the dev-seed volume (owned by the image user)
API = os.environ.get("APPLIANCE_DEV_API", "http://api:8080")
USERNAME, PASSWORD = "dev-admin", "dev-password"


def cli(*args: str) -> str:
    done = subprocess.run(["appliance", *args], check=True, capture_output=True, text=True)
    return done.stdout


def main() -> int:
    env_file = OUT / "edge.env"
    if env_file.exists():
        print(f"already seeded ({env_file})")
        return 0
    from appliance.edge.videogen import people_in, plan_visits, write_video

    people = people_in(Path("/faces"))
    if not people:
        print("no face photos under /faces (set APPLIANCE_DEV_FACES)", file=sys.stderr)
        return 1
    returning = [p for p in people if len(people[p]) > 1][:3]
    video = write_video(plan_visits(people, returning=returning), OUT / "demo.mp4")
    tenant = json.loads(cli("admin", "create-tenant", "Dev Retail", "--json"))
    cli("admin", "create-user", "--username", USERNAME, "--password", PASSWORD,
        "--role", "tenant_admin", "--tenant", tenant["id"], "--json")  # fmt: skip
    with httpx.Client(base_url=API, timeout=30) as http:
        for _ in range(60):
            if http.get("/readyz").status_code == 200:
                break
            time.sleep(1)
        token = http.post(
            "/v1/auth/token", json={"grant_type": "password", "username": USERNAME, "password": PASSWORD}
        ).raise_for_status()
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        site = http.post("/v1/sites", json={"name": "Dev shop", "timezone": "UTC"}).raise_for_status().json()
        camera = http.post(
            "/v1/cameras", json={"site_id": site["id"], "name": "Entrance", "source": str(video.path)}
        ).raise_for_status()
        key = http.post("/v1/api-keys", json={"site_id": site["id"], "name": "dev worker"}).raise_for_status()
    env_file.write_text(f"APPLIANCE_EDGE_API_KEY={key.json()['api_key']}\n")
    print(f"seeded tenant {tenant['id']}, camera {camera.json()['id']} → {video.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
