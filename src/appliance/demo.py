"""``make demo``: migrate, seed a demo tenant, start the API, drive it over HTTP, print what it holds.

The recognition pipeline (video → edge → visits → reports) joins this demo with its issues;
today it proves the foundation end to end: database + RLS, CLI bootstrap, tokens, CRUD.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from appliance.config import load_settings

console = Console()
DEMO_PASSWORD = "demo-password"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "appliance", *args], check=True, capture_output=True, text=True, env=os.environ
    )
    return result.stdout


def main() -> None:
    settings = load_settings()
    console.rule("[bold]appliance demo")
    console.print(f"database: {settings.database_url.split('@')[-1]}")
    _cli("migrate")
    import json

    suffix = uuid.uuid4().hex[:6]
    tenant = json.loads(_cli("admin", "create-tenant", f"Demo Retail {suffix}", "--json"))
    _cli(
        "admin",
        "create-user",
        "--username",
        f"demo-admin-{suffix}",
        "--password",
        DEMO_PASSWORD,
        "--role",
        "tenant_admin",
        "--tenant",
        tenant["id"],
        "--json",
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "appliance", "serve", "--port", str(port)],
        env={**os.environ, "APPLIANCE_LOG_LEVEL": "WARNING"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            _wait_ready(http)
            token = http.post(
                "/v1/auth/token",
                json={
                    "grant_type": "password",
                    "username": f"demo-admin-{suffix}",
                    "password": DEMO_PASSWORD,
                },
            ).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            site = _ok(http.post("/v1/sites", json={"name": "Flagship", "timezone": "Europe/Berlin"}))
            _ok(
                http.post(
                    "/v1/cameras",
                    json={"site_id": site["id"], "name": "Entrance", "source": "rtsp://127.0.0.1/entrance"},
                )
            )
            _ok(http.post("/v1/staff", json={"name": "Store staff", "site_ids": [site["id"]]}))
            key = _ok(http.post("/v1/api-keys", json={"site_id": site["id"], "name": "entrance edge"}))
            worker = _ok(
                http.post("/v1/auth/token", json={"grant_type": "api_key", "api_key": key["api_key"]})
            )
            _print_table("sites", _ok(http.get("/v1/sites"))["items"], ["name", "timezone", "id"])
            _print_table("cameras", _ok(http.get("/v1/cameras"))["items"], ["name", "source", "enabled"])
            _print_table("audit", _ok(http.get("/v1/audit"))["items"], ["action", "actor_role", "target_id"])
            console.print(f"worker token issued for key {key['id']} (expires in {worker['expires_in']} s)")
            console.print(f"[green]demo ok[/] — API at {base} (stopped now); tenant {tenant['id']}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_ready(http: httpx.Client, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the API did not become ready in time")


def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise SystemExit(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
    return response.json()


def _print_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*(str(row.get(c)) for c in columns))
    console.print(table)


if __name__ == "__main__":
    main()
