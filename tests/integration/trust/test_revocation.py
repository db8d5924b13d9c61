"""Issue 18, "revocation is not immediate": a revoked credential stops working at once."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import numpy as np
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from typer.testing import CliRunner

from appliance.config import Settings, load_settings
from appliance.server.app import create_app
from tests.integration.api import PASSWORD, Api
from tests.integration.trust.conftest import Shop, assert_problem, served, unit


def test_a_disabled_users_token_stops_working_at_once(shop: Shop) -> None:
    manager = shop.manager
    assert manager.ok("GET", "/v1/sites")["total"] == 1
    shop.admin.ok("PATCH", f"/v1/users/{shop.manager_id}", 200, json={"disabled": True})
    assert_problem(manager.get("/v1/sites"), 401)
    assert_problem(manager.post("/v1/staff", json={"name": "x", "site_ids": [shop.site["id"]]}), 401)
    login = shop.api.client.post(
        "/v1/auth/token", json={"grant_type": "password", "username": shop.manager_name, "password": PASSWORD}
    )
    assert_problem(login, 401)
    # Enabled again: the old token stays dead, a new login works.
    shop.admin.ok("PATCH", f"/v1/users/{shop.manager_id}", 200, json={"disabled": False})
    assert_problem(manager.get("/v1/sites"), 401)
    assert shop.api.login(shop.manager_name).ok("GET", "/v1/sites")["total"] == 1


def test_changing_sites_role_or_password_ends_old_tokens(shop: Shop) -> None:
    before = shop.api.login(shop.manager_name)
    shop.admin.ok("PATCH", f"/v1/users/{shop.manager_id}", 200, json={"site_ids": [shop.other_site["id"]]})
    # The old token still named site A: it must not keep that access.
    assert_problem(before.get("/v1/sites"), 401)
    after = shop.api.login(shop.manager_name)
    assert [s["id"] for s in after.ok("GET", "/v1/sites")["items"]] == [shop.other_site["id"]]
    shop.admin.ok("PATCH", f"/v1/users/{shop.manager_id}", 200, json={"password": "another-horse-9"})
    assert_problem(after.get("/v1/sites"), 401)
    # Deleted: gone at once too.
    fresh = shop.api.login(shop.manager_name, "another-horse-9")
    shop.admin.ok("DELETE", f"/v1/users/{shop.manager_id}", 204)
    assert_problem(fresh.get("/v1/sites"), 401)
    # Other users' tokens are untouched.
    assert shop.admin.ok("GET", "/v1/sites")["total"] == 2


@pytest.fixture(scope="module")
def live_url(trust_settings: Settings) -> Iterator[str]:
    with served(trust_settings) as url:
        yield url


def _stream_until_closed(base: str, token: str, on_ready: Any, limit: float) -> list[str]:
    """Read the live stream until the server ends it (or ``limit`` seconds pass); the lines."""
    lines: list[str] = []
    with (
        httpx.Client(base_url=base, timeout=limit) as http,
        http.stream("GET", "/v1/events/stream", params={"access_token": token}) as stream,
    ):
        assert stream.status_code == 200
        for line in stream.iter_lines():
            lines.append(line)
            if line.startswith("event: ready"):
                on_ready()
    return lines


def _revoked(lines: list[str]) -> list[dict[str, Any]]:
    events = [json.loads(line[5:]) for line in lines if line.startswith("data:")]
    return [e for e in events if e.get("type") == "revoked"]


def test_live_stream_ends_when_its_token_expires(
    shop: Shop, trust_client: TestClient[Litestar], live_url: str
) -> None:
    issuer = trust_client.app.state.services.issuer
    principal = issuer.verify(shop.manager.token)
    # A real token of this user, issued so that it expires three seconds from now.
    short = issuer.issue(principal, now=time.time() - issuer.ttl_seconds + 3)
    ready: list[float] = []
    lines = _stream_until_closed(live_url, short, lambda: ready.append(time.monotonic()), limit=20)
    elapsed = time.monotonic() - ready[0]
    assert _revoked(lines) == [{"type": "revoked", "reason": "token expired"}], lines
    assert elapsed < 4, elapsed
    assert_problem(Api(trust_client, short).get("/v1/sites"), 401)


def test_live_stream_ends_when_the_user_is_disabled(shop: Shop, live_url: str) -> None:
    disabled_at: list[float] = []

    def disable() -> None:
        shop.admin.ok("PATCH", f"/v1/users/{shop.manager_id}", 200, json={"disabled": True})
        disabled_at.append(time.monotonic())

    lines = _stream_until_closed(live_url, shop.manager.token, disable, limit=20)
    ended = time.monotonic()
    assert _revoked(lines) == [{"type": "revoked", "reason": "access revoked"}], lines
    assert disabled_at and ended - disabled_at[0] < 4, (ended, disabled_at)


def test_site_manager_sees_only_merge_suggestions_of_its_sites(shop: Shop) -> None:
    rng = np.random.default_rng(21)
    other_worker = shop.worker_for(shop.other_site["id"])

    def doubtful_pair(worker: Api, site: dict[str, Any], camera: dict[str, Any]) -> None:
        """A face, then one at cosine 0.35 (between the thresholds): a merge suggestion there."""
        base = unit(rng)
        noise = rng.standard_normal(base.shape[0])
        noise -= noise.dot(base) * base
        noise /= np.linalg.norm(noise)
        doubt = 0.35 * base + np.sqrt(1 - 0.35**2) * noise
        for vector in (base, doubt):
            body = shop.event(vector, site_id=site["id"], camera_id=camera["id"])
            worker.ok("POST", "/v1/events/face", 200, json=body)

    doubtful_pair(shop.worker, shop.site, shop.camera)
    doubtful_pair(other_worker, shop.other_site, shop.other_camera)
    everything = shop.admin.ok("GET", "/v1/customers/merge-suggestions")
    assert everything["total"] == 2
    mine = shop.manager.ok("GET", "/v1/customers/merge-suggestions")
    assert mine["total"] == 1 and len(mine["items"]) == 1


def test_login_rate_limit_ignores_forwarded_headers_from_untrusted_peers(pg_settings: Settings) -> None:
    strict = msgspec.structs.replace(pg_settings, rate_limit_auth_per_minute=2)
    body = {"grant_type": "password", "username": "nobody-here", "password": "wrong-password"}
    with TestClient(app=create_app(strict)) as client:
        codes = [
            client.post("/v1/auth/token", json=body, headers={"X-Forwarded-For": f"10.9.{i}.{i}"}).status_code
            for i in range(5)
        ]
        assert codes[:2] == [401, 401] and codes[2:] == [429, 429, 429], codes
    # Behind a configured proxy, the forwarded client is what counts (the proxy's own address
    # is not one client for everybody); a client cannot hide behind an address it prepends.
    from appliance.server.middleware import client_address, trusted_proxies

    proxies = trusted_proxies("127.0.0.0/8, ::1")

    def scope(peer: str, *forwarded: str) -> Any:
        return {"client": (peer, 1), "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}

    assert client_address(scope("127.0.0.1", "203.0.113.9"), proxies) == "203.0.113.9"
    assert client_address(scope("127.0.0.1", "6.6.6.6, 203.0.113.9"), proxies) == "203.0.113.9"
    assert client_address(scope("127.0.0.1", "6.6.6.6", "203.0.113.9, 127.0.0.2"), proxies) == "203.0.113.9"
    assert client_address(scope("198.51.100.7", "203.0.113.9"), proxies) == "198.51.100.7"
    assert client_address(scope("127.0.0.1", "203.0.113.9"), ()) == "127.0.0.1"


def test_config_show_masks_every_credential_in_every_url(pg_settings: Settings) -> None:
    from appliance.cli import app as cli_app

    secrets = ["Milvus-pw-123", "db-pw-456", "s3-secret-789", "token-abc"]
    env = {
        "APPLIANCE_DATABASE_URL": "postgresql://owner:db-pw-456@127.0.0.1:5432/appliance",
        "APPLIANCE_MILVUS_URI": "http://root:Milvus-pw-123@milvus.internal:19530",
        "APPLIANCE_PUBLIC_URL": "https://edge:token-abc@shop.example?x=1",
        "APPLIANCE_S3_SECRET_KEY": "s3-secret-789",
    }
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = CliRunner().invoke(cli_app, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        for secret in secrets:
            assert secret not in result.output, (secret, result.output)
        assert "milvus.internal:19530" in result.output
    masked = load_settings(env=env).masked()
    assert masked["milvus_uri"] == "http://root:****@milvus.internal:19530"
    assert masked["public_url"] == "https://edge:****@shop.example?x=1"


def test_event_ids_are_idempotency_keys_per_tenant(shop: Shop, trust_settings: Settings) -> None:
    import psycopg

    rng = np.random.default_rng(31)
    other = Shop(shop.api)
    event_id = str(uuid.uuid4())
    ours_body = shop.event(unit(rng), event_id=event_id)
    theirs_body = other.event(unit(rng), event_id=event_id)
    first = shop.worker.ok("POST", "/v1/events/face", 200, json=ours_body)
    # The same id in another tenant is simply another event: no error, no oracle.
    theirs = other.worker.ok("POST", "/v1/events/face", 200, json=theirs_body)
    assert theirs["is_new_customer"] and theirs["customer_id"] != first["customer_id"]
    # A retry (the same event again) in each tenant answers that tenant's own first answer.
    assert shop.worker.ok("POST", "/v1/events/face", 200, json=ours_body) == first
    assert other.worker.ok("POST", "/v1/events/face", 200, json=theirs_body) == theirs
    # Each tenant has exactly one customer, one visit, one sighting: nothing left behind.
    with psycopg.connect(trust_settings.database_url) as conn:
        for tenant in (shop.tenant["id"], other.tenant["id"]):
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM customers WHERE tenant_id = %(t)s),"
                " (SELECT count(*) FROM visits WHERE tenant_id = %(t)s),"
                " (SELECT count(*) FROM sightings WHERE tenant_id = %(t)s),"
                " (SELECT count(*) FROM customer_exemplars WHERE tenant_id = %(t)s)",
                {"t": tenant},
            ).fetchone()
            assert counts == (1, 1, 1, 1), (tenant, counts)
