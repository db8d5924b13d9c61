"""A thin test driver over the HTTP API: real requests, real database, no shortcuts."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient
from typer.testing import CliRunner

from appliance.config import Settings

PASSWORD = "correct-horse-battery"


def face_event(
    site_id: str, camera_id: str, vector: Any, captured_at: str, /, **extra: Any
) -> dict[str, Any]:
    """An Event.FaceDetected.v1 body as an edge posts it (a fresh event id; ``extra`` overrides)."""
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "site_id": site_id,
        "camera_id": camera_id,
        "captured_at": captured_at,
        "embedding": [float(x) for x in vector],
        "det_score": 0.93,
        "bbox": [100, 80, 120, 150],
        "landmarks": [[130, 120], [190, 120], [160, 150], [135, 185], [185, 185]],
        "quality": 0.8,
        "is_staff_local": False,
        "model": {"name": "stand-in", "version": "test"},
    }
    body.update(extra)
    return body


def run_cli(settings: Settings, *args: str) -> Any:
    """Run ``appliance …`` in-process with the test settings; return parsed ``--json`` output."""
    import json

    from appliance.cli import app as cli_app

    env = {
        "APPLIANCE_DATABASE_URL": settings.database_url,
        "APPLIANCE_APP_ROLE": settings.app_role,
        "APPLIANCE_DATA_DIR": settings.data_dir,
    }
    result = CliRunner().invoke(cli_app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.stdout


def bootstrap_system_admin(settings: Settings) -> tuple[str, str]:
    username = f"root-{uuid.uuid4().hex[:8]}"
    run_cli(
        settings,
        "admin",
        "create-user",
        "--username",
        username,
        "--password",
        PASSWORD,
        "--role",
        "system_admin",
        "--json",
    )
    return username, PASSWORD


class Api:
    def __init__(self, client: TestClient[Litestar], token: str, tenant_id: str | None = None) -> None:
        self.client = client
        self.token = token
        self.tenant_id = tenant_id

    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.tenant_id:
            headers["X-Tenant-ID"] = self.tenant_id
        return headers

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(
            method, path, headers={**self.headers(), **kwargs.pop("headers", {})}, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def login(self, username: str, password: str = PASSWORD) -> Api:
        response = self.client.post(
            "/v1/auth/token", json={"grant_type": "password", "username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return Api(self.client, response.json()["access_token"])

    def as_tenant(self, tenant_id: str) -> Api:
        """system_admin acting inside one tenant (X-Tenant-ID)."""
        return Api(self.client, self.token, tenant_id)

    def new_tenant(self, name: str) -> dict[str, Any]:
        tenant = self.ok("POST", "/v1/tenants", 201, json={"name": name})
        inside = self.as_tenant(tenant["id"])
        site = inside.ok("POST", "/v1/sites", 201, json={"name": "Flagship", "timezone": "Europe/Berlin"})
        username = f"admin-{uuid.uuid4().hex[:8]}"
        inside.ok(
            "POST",
            "/v1/users",
            201,
            json={"username": username, "password": PASSWORD, "role": "tenant_admin"},
        )
        return {"tenant": tenant, "site": site, "admin": self.login(username), "admin_username": username}


def system_admin_api(client: TestClient[Litestar], settings: Settings) -> Api:
    """An API driver logged in as a system_admin created through the CLI."""
    username, password = bootstrap_system_admin(settings)
    response = client.post(
        "/v1/auth/token", json={"grant_type": "password", "username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return Api(client, response.json()["access_token"])
