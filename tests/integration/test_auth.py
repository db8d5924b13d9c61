"""Authentication and authorization end to end: the token endpoint, forged and broken tokens,
edge API keys and their worker tokens, role scoping, deny-by-default and the auth rate limit."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.testing import TestClient

from appliance.config import Settings
from appliance.domain.auth.guards import authorize
from appliance.domain.auth.principal import MANAGERS, Role
from appliance.server.app import create_app
from appliance.server.deps import DEPENDENCIES
from appliance.server.problems import EXCEPTION_HANDLERS
from tests.integration.api import PASSWORD, Api

TOKEN_URL = "/v1/auth/token"
PUBLIC_PATHS = {"/healthz", "/readyz", "/.well-known/jwks.json"}
CLAIMS = {"sub", "role", "tenant_id", "site_ids", "iat", "exp", "jti", "iss", "aud"}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def assert_unauthorized(response: Any) -> dict[str, Any]:
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    return body


def password_grant(client: TestClient[Litestar], username: str, password: str = PASSWORD) -> Any:
    return client.post(TOKEN_URL, json={"grant_type": "password", "username": username, "password": password})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the password grant ----------------------------------------------------------------------------


def test_password_grant_as_json_and_as_form(
    client: TestClient[Litestar], tenant: dict[str, Any], pg_settings: Settings
) -> None:
    username = tenant["admin_username"]
    as_json = password_grant(client, username)
    as_form = client.post(
        TOKEN_URL, data={"grant_type": "password", "username": username, "password": PASSWORD}
    )
    for response in (as_json, as_form):
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in"}
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == pg_settings.jwt_ttl_seconds
        # The token works.
        sites = client.get("/v1/sites", headers=bearer(body["access_token"]))
        assert sites.status_code == 200 and sites.json()["items"][0]["id"] == tenant["site"]["id"]
    assert as_json.json()["access_token"] != as_form.json()["access_token"]


def test_token_claims_and_jwks_verification(
    client: TestClient[Litestar], tenant: dict[str, Any], pg_settings: Settings
) -> None:
    before = int(time.time())
    token = password_grant(client, tenant["admin_username"]).json()["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) >= CLAIMS
    assert claims["role"] == "tenant_admin"
    assert claims["tenant_id"] == tenant["tenant"]["id"]
    assert claims["site_ids"] == []
    assert claims["sub"].startswith("user:")
    assert claims["iss"] == pg_settings.jwt_issuer and claims["aud"] == pg_settings.jwt_audience
    assert before - 1 <= claims["iat"] <= int(time.time()) + 1
    assert claims["exp"] - claims["iat"] == pg_settings.jwt_ttl_seconds
    assert re.fullmatch(r"[0-9a-f]{32}", claims["jti"])

    jwks = client.get("/.well-known/jwks.json")  # public: no Authorization header
    assert jwks.status_code == 200
    keys = jwks.json()["keys"]
    matching = [k for k in keys if k["kid"] == header["kid"]]
    assert len(matching) == 1
    assert not {"d", "p", "q"} & set(matching[0])
    verified = jwt.decode(
        token,
        jwt.PyJWK(matching[0]).key,
        algorithms=["RS256"],
        audience=pg_settings.jwt_audience,
        issuer=pg_settings.jwt_issuer,
    )
    assert verified == claims


def test_bad_credentials_are_401_and_do_not_reveal_which_part_was_wrong(
    client: TestClient[Litestar], tenant: dict[str, Any]
) -> None:
    wrong_password = assert_unauthorized(password_grant(client, tenant["admin_username"], "wrong-password!"))
    unknown_user = assert_unauthorized(password_grant(client, f"nobody-{uuid.uuid4().hex[:8]}"))
    assert wrong_password["detail"] == unknown_user["detail"]
    assert "access_token" not in wrong_password


def test_disabled_user_cannot_log_in(client: TestClient[Litestar], tenant: dict[str, Any]) -> None:
    admin: Api = tenant["admin"]
    username = f"mgr-{uuid.uuid4().hex[:8]}"
    user = admin.ok(
        "POST",
        "/v1/users",
        201,
        json={
            "username": username,
            "password": PASSWORD,
            "role": "site_manager",
            "site_ids": [tenant["site"]["id"]],
        },
    )
    assert password_grant(client, username).status_code == 200
    admin.ok("PATCH", f"/v1/users/{user['id']}", json={"disabled": True})
    body = assert_unauthorized(password_grant(client, username))
    assert "disabled" in body["detail"]
    # Only the right password learns that the account exists but is disabled.
    wrong = assert_unauthorized(password_grant(client, username, "wrong-password!"))
    assert "disabled" not in wrong["detail"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (json.dumps({"grant_type": "password", "username": "someone"}), "application/json"),
        (json.dumps({"grant_type": "password", "password": "x"}), "application/json"),
        (json.dumps({"grant_type": "api_key"}), "application/json"),
        (json.dumps({"grant_type": "client_credentials", "client_id": "x"}), "application/json"),
        (json.dumps({"username": "someone", "password": "x"}), "application/json"),
        (json.dumps({"grant_type": "password", "username": "", "password": "x"}), "application/json"),
        (
            json.dumps({"grant_type": "password", "username": "a", "password": "b", "extra": 1}),
            "application/json",
        ),
        (json.dumps(["password", "someone", "x"]), "application/json"),
        ("{not json", "application/json"),
        ("", "application/json"),
        ("grant_type=password&username=someone", "application/x-www-form-urlencoded"),
        ("grant_type=refresh_token&refresh_token=x", "application/x-www-form-urlencoded"),
        (b"grant_type=password&username=\xff\xfe&password=x", "application/x-www-form-urlencoded"),
    ],
    ids=[
        "no-password",
        "no-username",
        "api-key-missing",
        "unknown-grant",
        "no-grant-type",
        "empty-username",
        "unknown-field",
        "array",
        "not-json",
        "empty",
        "form-no-password",
        "form-unknown-grant",
        "form-not-utf8",
    ],
)
def test_malformed_grants_are_400(
    client: TestClient[Litestar], content: str | bytes, content_type: str
) -> None:
    response = client.post(TOKEN_URL, content=content, headers={"Content-Type": content_type})
    assert_problem(response, 400)


# -- tokens the server must refuse -----------------------------------------------------------------


@pytest.fixture
def server_key(data_dir: Path, client: TestClient[Litestar]) -> rsa.RSAPrivateKey:
    """The server's signing key from ``<data_dir>/keys/jwt_private.pem`` (created at app start)."""
    key = serialization.load_pem_private_key((data_dir / "keys" / "jwt_private.pem").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def forge(claims: dict[str, Any], alg: str, secret: bytes | None) -> str:
    """Hand-built JWS: pyjwt refuses to make the malicious ones (alg none, HS256 with a PEM)."""
    signing_input = (
        b64(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
    )
    if secret is None:
        return signing_input + "."
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(signing_input.encode())
    return signing_input + "." + b64(mac.finalize())


def test_forged_broken_and_missing_tokens_are_401(
    client: TestClient[Litestar],
    tenant: dict[str, Any],
    server_key: rsa.RSAPrivateKey,
    pg_settings: Settings,
) -> None:
    good = password_grant(client, tenant["admin_username"]).json()["access_token"]
    kid = jwt.get_unverified_header(good)["kid"]
    claims = jwt.decode(good, options={"verify_signature": False})
    now = int(time.time())

    def signed(key: Any = server_key, **changes: Any) -> str:
        return jwt.encode(
            {**claims, "jti": uuid.uuid4().hex, **changes}, key, algorithm="RS256", headers={"kid": kid}
        )

    # Control: the same claims, signed with the server's own key, are accepted.
    assert client.get("/v1/sites", headers=bearer(signed())).status_code == 200

    public_pem = server_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    no_exp = {k: v for k, v in claims.items() if k != "exp"}
    bad_tokens = {
        "alg-none": forge(claims, "none", None),
        "alg-none-upper": forge(claims, "None", None),
        "hs256-with-public-key": forge(claims, "HS256", public_pem),
        "hs256-with-public-key-stripped": forge(claims, "HS256", public_pem.strip()),
        "other-rsa-key": signed(other_key),
        "expired": signed(iat=now - 7200, exp=now - 3600),
        "wrong-audience": signed(aud="some-other-api"),
        "wrong-issuer": signed(iss="someone-else"),
        "no-exp": jwt.encode(no_exp, server_key, algorithm="RS256"),
        "role-escalation": good.split(".")[0]
        + "."
        + b64(json.dumps({**claims, "role": "system_admin"}).encode())
        + "."
        + good.split(".")[2],
        "garbage": "not-a-token",
        "three-dots": "a.b.c",
    }
    for name, token in bad_tokens.items():
        response = client.get("/v1/sites", headers=bearer(token))
        assert response.status_code == 401, (name, response.text)
        assert_unauthorized(response)

    for headers in (
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer   "},
        {"Authorization": f"Basic {b64(b'admin:' + PASSWORD.encode())}"},
        {"Authorization": good},  # no scheme
    ):
        assert_unauthorized(client.get("/v1/sites", headers=headers))
    # ?access_token= is honoured only where a route opts in (the browser event stream).
    assert_unauthorized(client.get("/v1/sites", params={"access_token": good}))


# -- API keys and worker tokens ------------------------------------------------------------------


def exchange(client: TestClient[Litestar], api_key: str) -> Any:
    return client.post(TOKEN_URL, json={"grant_type": "api_key", "api_key": api_key})


def ingest_operations(app: Litestar) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of the edge ingest routes: the ones in the "ingest" rate-limit group."""
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if handler.opt.get("rate_limit") == "ingest":
                path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)
                found |= {(path, method.lower()) for method in handler.http_methods}
    return found


def worker_forbidden_everywhere(client: TestClient[Litestar], token: str) -> int:
    """Call every documented operation with the worker token; return how many were checked."""
    paths: dict[str, dict[str, Any]] = client.app.openapi_schema.to_schema()["paths"]
    ingest = ingest_operations(client.app)
    checked = 0
    for path, operations in paths.items():
        # The session routes are public too (a browser's refresh cookie, tests/integration/test_sessions.py).
        if path == TOKEN_URL or path in PUBLIC_PATHS or path.startswith("/v1/auth/session"):
            continue
        url = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)
        for method in operations:
            if method not in {"get", "post", "put", "patch", "delete"} or (path, method) in ingest:
                continue
            kwargs: dict[str, Any] = {"json": {}} if method in {"post", "put", "patch"} else {}
            response = client.request(method.upper(), url, headers=bearer(token), **kwargs)
            assert response.status_code == 403, (method, path, response.status_code, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            checked += 1
    return checked


def test_api_key_worker_token_lifecycle(
    client: TestClient[Litestar], tenant: dict[str, Any], api: Api
) -> None:
    admin: Api = tenant["admin"]
    site_id, tenant_id = tenant["site"]["id"], tenant["tenant"]["id"]
    created = admin.ok("POST", "/v1/api-keys", 201, json={"site_id": site_id, "name": "door edge"})
    api_key: str = created["api_key"]
    assert api_key.startswith(f"apk_{uuid.UUID(tenant_id).hex}_{uuid.UUID(created['id']).hex}_")
    # The secret is shown once: reading the key back never returns it.
    again = admin.ok("GET", f"/v1/api-keys/{created['id']}")
    # (The secret is base64url, which has "_" of its own: split off the three prefix fields.)
    secret = api_key.split("_", 3)[3]
    assert "api_key" not in again and secret not in json.dumps(again)

    response = exchange(client, api_key)
    assert response.status_code == 200, response.text
    worker = response.json()["access_token"]
    claims = jwt.decode(worker, options={"verify_signature": False})
    assert claims["role"] == "worker"
    assert claims["site_ids"] == [site_id]
    assert claims["tenant_id"] == tenant_id
    assert claims["sub"] == f"apikey:{created['id']}"
    # The form-encoded api_key grant works too, and last_used_at is recorded.
    form = client.post(TOKEN_URL, data={"grant_type": "api_key", "api_key": api_key})
    assert form.status_code == 200, form.text
    assert admin.ok("GET", f"/v1/api-keys/{created['id']}")["last_used_at"] is not None

    # Every documented operation but the token endpoint and the public ones (36 today).
    assert worker_forbidden_everywhere(client, worker) >= 30
    for path in PUBLIC_PATHS:
        assert client.get(path, headers=bearer(worker)).status_code == 200

    admin.ok("PATCH", f"/v1/api-keys/{created['id']}", json={"revoked": True})
    assert_unauthorized(exchange(client, api_key))
    assert_unauthorized(client.get("/v1/sites", headers=bearer(worker)))
    # Un-revoking brings the same token back (the check is live, not cached) …
    admin.ok("PATCH", f"/v1/api-keys/{created['id']}", json={"revoked": False})
    assert client.get("/v1/cameras", headers=bearer(worker)).status_code == 403
    # … and deleting the key kills it for good.
    admin.ok("DELETE", f"/v1/api-keys/{created['id']}", 204)
    assert_unauthorized(client.get("/v1/cameras", headers=bearer(worker)))
    assert_unauthorized(exchange(client, api_key))


def test_bogus_api_keys_are_401(client: TestClient[Litestar], tenant: dict[str, Any], api: Api) -> None:
    admin: Api = tenant["admin"]
    created = admin.ok("POST", "/v1/api-keys", 201, json={"site_id": tenant["site"]["id"]})
    prefix, tenant_hex, key_hex, secret = created["api_key"].split("_", 3)
    other = api.new_tenant(f"other-{uuid.uuid4().hex[:8]}")["tenant"]["id"]
    bogus = [
        "garbage",
        "apk_x_y_z",
        f"apk_{uuid.uuid4().hex}_{uuid.uuid4().hex}_{secret}",  # well formed, unknown ids
        f"{prefix}_{tenant_hex}_{key_hex}_{secret}x",  # right key, wrong secret
        f"{prefix}_{tenant_hex}_{key_hex}_{secret[:-1]}",
        f"{prefix}_{tenant_hex}_{uuid.uuid4().hex}_{secret}",  # right secret, other key id
        f"{prefix}_{uuid.UUID(other).hex}_{key_hex}_{secret}",  # the key named under another tenant
    ]
    for key in bogus:
        assert_unauthorized(exchange(client, key))
    assert exchange(client, created["api_key"]).status_code == 200  # control


# -- roles ---------------------------------------------------------------------------------------


def test_site_manager_is_confined_to_its_sites(client: TestClient[Litestar], tenant: dict[str, Any]) -> None:
    admin: Api = tenant["admin"]
    s1 = tenant["site"]["id"]
    s2 = admin.ok("POST", "/v1/sites", 201, json={"name": "Second", "timezone": "UTC"})["id"]
    c1 = admin.ok("POST", "/v1/cameras", 201, json={"site_id": s1, "name": "One", "source": "0"})["id"]
    c2 = admin.ok("POST", "/v1/cameras", 201, json={"site_id": s2, "name": "Two", "source": "1"})["id"]
    username = f"mgr-{uuid.uuid4().hex[:8]}"
    admin.ok(
        "POST",
        "/v1/users",
        201,
        json={"username": username, "password": PASSWORD, "role": "site_manager", "site_ids": [s1]},
    )
    manager = admin.login(username)
    claims = jwt.decode(manager.token, options={"verify_signature": False})
    assert claims["role"] == "site_manager" and claims["site_ids"] == [s1]

    sites = manager.ok("GET", "/v1/sites")
    assert [s["id"] for s in sites["items"]] == [s1] and sites["total"] == 1
    cameras = manager.ok("GET", "/v1/cameras")
    assert [c["id"] for c in cameras["items"]] == [c1] and cameras["total"] == 1
    assert manager.ok("GET", "/v1/cameras", params={"site_id": s2})["items"] == []
    assert_problem(manager.get(f"/v1/sites/{s2}"), 404)
    assert_problem(manager.get(f"/v1/cameras/{c2}"), 404)
    assert_problem(manager.patch(f"/v1/cameras/{c2}", json={"enabled": False}), 404)
    assert_problem(manager.delete(f"/v1/cameras/{c2}"), 404)
    assert admin.ok("GET", f"/v1/cameras/{c2}")["enabled"] is True
    refused = assert_problem(
        manager.post("/v1/cameras", json={"site_id": s2, "name": "Sneaky", "source": "2"}), 422
    )
    assert "site" in json.dumps(refused)
    manager.ok("POST", "/v1/cameras", 201, json={"site_id": s1, "name": "Allowed", "source": "3"})
    for path in ("/v1/users", "/v1/api-keys", "/v1/audit", "/v1/tenants"):
        assert_problem(manager.get(path), 403)
    assert_problem(manager.post("/v1/sites", json={"name": "Mine", "timezone": "UTC"}), 403)


def test_tenant_admin_cannot_reach_the_tenant_registry(tenant: dict[str, Any]) -> None:
    admin: Api = tenant["admin"]
    tenant_id = tenant["tenant"]["id"]
    assert_problem(admin.get("/v1/tenants"), 403)
    assert_problem(admin.get(f"/v1/tenants/{tenant_id}"), 403)
    assert_problem(admin.post("/v1/tenants", json={"name": f"x-{uuid.uuid4().hex}"}), 403)
    assert_problem(admin.patch(f"/v1/tenants/{tenant_id}", json={"name": "renamed"}), 403)
    assert_problem(admin.delete(f"/v1/tenants/{tenant_id}"), 403)


def test_every_real_route_declares_who_may_call_it(app: Litestar) -> None:
    """Deny by default only helps if nothing relies on it by accident: every route says public or roles."""
    undeclared = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if getattr(handler, "http_methods", set()) == {"OPTIONS"}:
                continue  # Litestar's automatic CORS preflight handlers
            opt = handler.opt
            if not opt.get("public") and not opt.get("roles"):
                undeclared.append((route.path, sorted(getattr(handler, "http_methods", []))))
            for role in opt.get("roles", ()):
                assert isinstance(role, Role), (route.path, role)
    assert undeclared == []


def test_a_route_without_roles_is_denied(client: TestClient[Litestar], tenant: dict[str, Any]) -> None:
    """The real guard on a tiny app: a valid token still gets 403 where the handler names no roles."""

    @get("/undeclared", sync_to_thread=False)
    def undeclared() -> dict[str, bool]:
        return {"reached": True}

    @get("/declared", opt={"roles": MANAGERS}, sync_to_thread=False)
    def declared() -> dict[str, bool]:
        return {"reached": True}

    @get("/empty-roles", opt={"roles": frozenset()}, sync_to_thread=False)
    def empty_roles() -> dict[str, bool]:
        return {"reached": True}

    @get("/open", opt={"public": True}, sync_to_thread=False)
    def open_route() -> dict[str, bool]:
        return {"reached": True}

    tiny = Litestar(
        route_handlers=[undeclared, declared, empty_roles, open_route],
        guards=[authorize],
        exception_handlers=EXCEPTION_HANDLERS,
        # The running app's services: its issuer verifies the real tokens.
        state=State({"services": client.app.state.services}),
        dependencies=DEPENDENCIES,
    )
    token = password_grant(client, tenant["admin_username"]).json()["access_token"]
    with TestClient(app=tiny) as tiny_client:
        assert tiny_client.get("/declared", headers=bearer(token)).json() == {"reached": True}
        assert tiny_client.get("/open").json() == {"reached": True}
        for path in ("/undeclared", "/empty-roles"):
            assert_problem(tiny_client.get(path, headers=bearer(token)), 403)
            assert_unauthorized(tiny_client.get(path))  # authentication still comes first


# -- rate limit ----------------------------------------------------------------------------------


def test_token_endpoint_is_rate_limited(pg_settings: Settings) -> None:
    limited = create_app(msgspec.structs.replace(pg_settings, rate_limit_auth_per_minute=6))
    with TestClient(app=limited) as limited_client:
        statuses = []
        response = None
        for _ in range(20):
            # A malformed grant: cheap, and still counted against the limit.
            response = limited_client.post(TOKEN_URL, json={"grant_type": "password"})
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
        assert response is not None and response.status_code == 429, statuses
        assert statuses[0] == 400
        assert int(response.headers["retry-after"]) >= 1
        body = assert_problem(response, 429)
        assert body["instance"] == TOKEN_URL
        # Other routes are not limited.
        assert limited_client.get("/healthz").status_code == 200
