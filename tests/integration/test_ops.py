"""Operations surface: probes, metrics, request ids, access logs, and error shapes."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from appliance.config import Settings
from appliance.db.migrate import head_revision
from appliance.lib.logging import JsonFormatter
from appliance.server.app import create_app

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "instance"} <= body.keys()
    assert body["request_id"] == response.headers["x-request-id"]
    return body


class ListHandler(logging.Handler):
    """Keeps every record formatted as the production JSON line."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def access_lines() -> Iterator[list[dict[str, Any]]]:
    handler = ListHandler()
    logger = logging.getLogger("appliance.access")
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


# -- probes -----------------------------------------------------------------------------------


def test_healthz(client: TestClient[Litestar]) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_migrations_at_head(client: TestClient[Litestar]) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ready"] is True
    assert body["checks"]["database"] == "ok"
    migrations = body["checks"]["migrations"]
    assert migrations["current"] == migrations["head"] == head_revision()


def test_readyz_checks_the_vector_index_once_it_is_open(pg_settings: Settings, tmp_path: Path) -> None:
    settings = msgspec.structs.replace(pg_settings, data_dir=str(tmp_path), scheduler=False)
    with TestClient(app=create_app(settings)) as client:
        assert client.get("/readyz").json()["checks"]["vector_index"] == "not opened yet"
        recognition = client.app.state.services.recognition
        client.blocking_portal.call(recognition.vectors)
        response = client.get("/readyz")
        assert response.status_code == 200 and response.json()["checks"]["vector_index"] == "ok"
        # (the embedded index is in the process; tests/integration/vectors covers a Milvus server)


def test_readyz_is_503_not_500_when_the_database_is_missing(pg_settings: Settings) -> None:
    settings = msgspec.structs.replace(
        pg_settings, app_database_url="postgresql://nobody@127.0.0.1:5432/does_not_exist"
    )
    with TestClient(app=create_app(settings)) as broken:
        response = broken.get("/readyz")
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["ready"] is False
        assert body["checks"]["database"].startswith("unreachable")
        # Liveness does not depend on the database.
        assert broken.get("/healthz").status_code == 200


# -- metrics ----------------------------------------------------------------------------------


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1)))
            out.append((labels, float(match.group(2))))
    return out


def test_metrics_count_and_time_requests_per_route_template(
    client: TestClient[Litestar], tenant: dict[str, Any]
) -> None:
    admin = tenant["admin"]
    site_ids = [tenant["site"]["id"], str(uuid.uuid4()), str(uuid.uuid4())]
    for site_id in site_ids:
        admin.get(f"/v1/sites/{site_id}")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text

    template = "/v1/sites/{site_id}"
    counts = {
        labels["status_code"]: value
        for labels, value in _samples(text, "appliance_requests_total")
        if labels["path"] == template and labels["method"] == "GET"
    }
    assert counts.get("200", 0) >= 1 and counts.get("404", 0) >= 2, counts
    # The path label is the route template, never a concrete id (bounded cardinality).
    all_paths = {labels["path"] for labels, _ in _samples(text, "appliance_requests_total")}
    assert not any(site_id in path for path in all_paths for site_id in site_ids)

    buckets = [
        (labels, value)
        for labels, value in _samples(text, "appliance_request_duration_seconds_bucket")
        if labels["path"] == template and labels["status_code"] == "404"
    ]
    assert buckets and any(labels["le"] == "+Inf" and value >= 2 for labels, value in buckets)
    count = [
        value
        for labels, value in _samples(text, "appliance_request_duration_seconds_count")
        if labels["path"] == template and labels["status_code"] == "404"
    ]
    assert count and count[0] >= 2


# -- request ids and access log -----------------------------------------------------------------


def test_every_response_carries_a_request_id(client: TestClient[Litestar]) -> None:
    seen = set()
    for method, path in [
        ("GET", "/healthz"),
        ("GET", "/v1/sites"),  # 401
        ("GET", "/no/such/route"),  # router 404
        ("DELETE", "/healthz"),  # router 405
        ("GET", "/metrics"),
    ]:
        response = client.request(method, path)
        request_id = response.headers.get("x-request-id")
        assert request_id and re.fullmatch(r"[0-9a-f]{32}", request_id), (method, path, response.headers)
        seen.add(request_id)
    assert len(seen) == 5


def test_incoming_request_id_is_echoed_in_header_and_problem(client: TestClient[Litestar]) -> None:
    incoming = "edge-7f3a-0001"
    ok = client.get("/healthz", headers={"X-Request-ID": incoming})
    assert ok.headers["x-request-id"] == incoming
    failed = client.get("/v1/sites", headers={"X-Request-ID": incoming})
    assert assert_problem(failed, 401)["request_id"] == incoming
    missing = client.get("/v1/nowhere", headers={"X-Request-ID": incoming})
    assert assert_problem(missing, 404)["request_id"] == incoming


def test_unsafe_incoming_request_id_is_replaced(client: TestClient[Litestar]) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "a b;<script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_access_log_lines_are_json_with_request_fields(
    tenant: dict[str, Any], access_lines: list[dict[str, Any]]
) -> None:
    admin = tenant["admin"]
    response = admin.get(f"/v1/sites/{tenant['site']['id']}", headers={"X-Request-ID": "log-check-1"})
    assert response.status_code == 200
    missing = admin.get(f"/v1/sites/{uuid.uuid4()}", headers={"X-Request-ID": "log-check-2"})
    assert missing.status_code == 404
    lines = {line["request_id"]: line for line in access_lines if "request_id" in line}
    first, second = lines["log-check-1"], lines["log-check-2"]
    for line, status in ((first, 200), (second, 404)):
        assert line["logger"] == "appliance.access"
        assert line["method"] == "GET"
        assert line["route"] == "/v1/sites/{site_id}"
        assert line["status"] == status
        assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    # The concrete path is logged too, the route stays a template.
    assert second["path"].startswith("/v1/sites/") and second["path"] != second["route"]


# -- error shapes -----------------------------------------------------------------------------


def test_unknown_route_is_404_problem(client: TestClient[Litestar]) -> None:
    body = assert_problem(client.get("/v1/not-a-thing"), 404)
    assert body["instance"] == "/v1/not-a-thing"


def test_wrong_method_is_405_problem(tenant: dict[str, Any]) -> None:
    assert_problem(tenant["admin"].request("PUT", "/v1/sites"), 405)


def test_invalid_json_body_is_400_problem_with_errors(tenant: dict[str, Any]) -> None:
    admin = tenant["admin"]
    for path in ("/v1/sites", "/v1/auth/token"):
        response = admin.post(path, content=b'{"name": ', headers={"content-type": "application/json"})
        body = assert_problem(response, 400)
        assert isinstance(body["errors"], list) and body["errors"], body
        assert all({"field", "message"} <= set(e) for e in body["errors"])


def test_schema_violation_is_400_problem_naming_the_field(tenant: dict[str, Any]) -> None:
    response = tenant["admin"].post("/v1/sites", json={"name": "", "timezone": "UTC"})
    body = assert_problem(response, 400)
    assert body["errors"], body


def _count(api: Any, path: str) -> int:
    total: int = api.ok("GET", path)["total"]
    return total


def test_unknown_time_zone_is_422_and_creates_nothing(tenant: dict[str, Any]) -> None:
    admin = tenant["admin"]
    before = _count(admin, "/v1/sites")
    response = admin.post("/v1/sites", json={"name": "Moon base", "timezone": "Mars/Olympus_Mons"})
    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == ["timezone"]
    assert _count(admin, "/v1/sites") == before


def test_camera_for_unknown_site_is_422_and_creates_nothing(tenant: dict[str, Any]) -> None:
    admin = tenant["admin"]
    before = _count(admin, "/v1/cameras")
    response = admin.post(
        "/v1/cameras", json={"site_id": str(uuid.uuid4()), "name": "Ghost", "source": "rtsp://10.0.0.9/s"}
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "site_id"
    assert _count(admin, "/v1/cameras") == before


def test_duplicate_site_name_is_409_and_creates_nothing(tenant: dict[str, Any]) -> None:
    admin = tenant["admin"]
    before = _count(admin, "/v1/sites")
    response = admin.post("/v1/sites", json={"name": tenant["site"]["name"], "timezone": "UTC"})
    assert_problem(response, 409)
    assert _count(admin, "/v1/sites") == before
    # The failed transaction rolled back cleanly: the tenant still works.
    admin.ok("POST", "/v1/sites", 201, json={"name": "Second store", "timezone": "UTC"})
    assert _count(admin, "/v1/sites") == before + 1


def test_text_the_database_cannot_store_is_4xx_not_500(tenant: dict[str, Any]) -> None:
    """A NUL byte (found by schemathesis): in the URL a malformed request (400), in a body a field
    error (422), refused before any SQL runs."""
    admin = tenant["admin"]
    for path in ("/v1/sites", "/v1/customers"):
        assert_problem(admin.get(path, params={"q": "a\x00b"}), 400)
    assert_problem(admin.post("/v1/sites", json={"name": "nul\x00site", "timezone": "UTC"}), 422)


def test_api_documentation_is_public(client: TestClient[Litestar]) -> None:
    document = client.get("/schema/openapi.json")
    assert document.status_code == 200, document.text
    assert document.json()["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
    ]
    assert client.get("/schema/swagger").status_code == 200
