"""Issue 22, "a reload or bookmark signs you out": browser sessions with a refresh cookie.

Sign-in sets an httpOnly, SameSite=Strict cookie limited to the session routes; a refresh rotates
it; a replaced cookie that comes back after the grace ends the session; signing out, disabling the
user and changing its password or role end the session and the access tokens issued for it at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from appliance.config import Settings
from tests.integration.api import PASSWORD, Api

SESSION = "/v1/auth/session"
REFRESH = f"{SESSION}/refresh"
HEADER = {"X-Appliance-Session": "1"}


def cookies_of(response: Any) -> dict[str, dict[str, str]]:
    """Each Set-Cookie of a response: its value and attributes (lower-case names)."""
    out: dict[str, dict[str, str]] = {}
    for line in response.headers.get_list("set-cookie"):
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(line)
        for name, morsel in parsed.items():
            attrs = {k: str(v) for k, v in morsel.items() if v}
            flags = {part.strip().lower() for part in line.split(";")[1:]}
            attrs.update({flag: "true" for flag in ("httponly", "secure") if flag in flags})
            out[name] = {"value": morsel.value, **attrs}
    return out


class Browser:
    """One browser's cookie for the session routes, sent explicitly (the shared test client's jar
    is cleared before each request so tests never see each other's cookies)."""

    def __init__(self, client: TestClient[Litestar]) -> None:
        self.client = client
        self.cookie: str | None = None

    def send(self, method: str, path: str, cookie: str | None = None, **kwargs: Any) -> Any:
        self.client.cookies.clear()
        headers = {**HEADER, **kwargs.pop("headers", {})}
        value = cookie if cookie is not None else self.cookie
        if value:
            headers["Cookie"] = f"appliance_session={value}"
        response = self.client.request(method, path, headers=headers, **kwargs)
        self.client.cookies.clear()
        set_cookie = cookies_of(response).get("appliance_session")
        if set_cookie is not None and cookie is None:
            self.cookie = set_cookie["value"] or None
        return response

    def sign_in(self, username: str, password: str = PASSWORD) -> Api:
        response = self.send("POST", SESSION, json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return Api(self.client, response.json()["access_token"])

    def refresh(self, cookie: str | None = None) -> Any:
        return self.send("POST", REFRESH, cookie)


@pytest.fixture
def owner(pg_settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_settings.database_url, autocommit=True) as conn:
        yield conn


def status(api: Api) -> int:
    code: int = api.get("/v1/sites").status_code
    return code


def test_sign_in_sets_a_strict_httponly_cookie_for_the_session_routes_only(
    client: TestClient[Litestar], tenant: dict[str, Any]
) -> None:
    browser = Browser(client)
    response = browser.send(
        "POST", SESSION, json={"username": tenant["admin_username"], "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    cookies = cookies_of(response)
    secret = cookies["appliance_session"]
    assert secret["httponly"] == "true" and secret["samesite"].lower() == "strict"
    assert secret["path"] == SESSION and int(secret["max-age"]) == 7 * 24 * 3600
    assert "secure" not in secret  # plain http here; see the https test
    hint = cookies["appliance_signed_in"]
    assert hint["value"] == "1" and hint["path"] == "/" and "httponly" not in hint
    assert hint["samesite"].lower() == "strict"
    # The access token works and names the session.
    assert status(Api(client, body["access_token"])) == 200
    # A wrong password sets nothing.
    wrong = browser.send(
        "POST", SESSION, json={"username": tenant["admin_username"], "password": "nope-nope"}
    )
    assert wrong.status_code == 401 and not wrong.headers.get_list("set-cookie")


def test_over_https_the_cookies_are_secure(client: TestClient[Litestar], tenant: dict[str, Any]) -> None:
    before = client.base_url
    client.base_url = "https://testserver"
    try:
        response = Browser(client).send(
            "POST", SESSION, json={"username": tenant["admin_username"], "password": PASSWORD}
        )
    finally:
        client.base_url = before
    assert response.status_code == 200, response.text
    cookies = cookies_of(response)
    assert cookies["appliance_session"]["secure"] == "true"
    assert cookies["appliance_signed_in"]["secure"] == "true"


def test_a_reload_refreshes_the_session_and_rotates_the_cookie(
    client: TestClient[Litestar], tenant: dict[str, Any]
) -> None:
    browser = Browser(client)
    browser.sign_in(tenant["admin_username"])
    first = browser.cookie
    assert first
    response = browser.refresh()
    assert response.status_code == 200, response.text
    second = browser.cookie
    assert second and second != first, "a refresh rotates the cookie"
    token = response.json()["access_token"]
    assert status(Api(client, token)) == 200
    # A second tab that raced the first still presented the replaced cookie: within the grace it
    # gets an access token and no new cookie (the browser already holds the current one).
    raced = browser.refresh(cookie=first)
    assert raced.status_code == 200, raced.text
    assert "appliance_session" not in cookies_of(raced)
    assert browser.refresh().status_code == 200


def test_a_replaced_cookie_after_the_grace_ends_the_session(
    client: TestClient[Litestar], tenant: dict[str, Any], owner: psycopg.Connection[Any]
) -> None:
    browser = Browser(client)
    signed_in = browser.sign_in(tenant["admin_username"])
    stolen = browser.cookie
    assert stolen and browser.refresh().status_code == 200
    session_id = uuid.UUID(hex=stolen.split(".")[0])
    # The legitimate browser refreshed a minute ago (the owner moves the clock of the row).
    owner.execute(
        "UPDATE user_sessions SET rotated_at = now() - interval '1 minute' WHERE id = %s", [session_id]
    )
    replay = browser.refresh(cookie=stolen)
    assert replay.status_code == 401, replay.text
    assert replay.headers["content-type"].startswith("application/problem+json")
    assert "already been used" in replay.json()["detail"]
    cleared = cookies_of(replay)
    assert cleared["appliance_session"]["value"] == "" and cleared["appliance_signed_in"]["value"] == ""
    # The whole session is over: the current cookie and the tokens issued for it too.
    assert browser.refresh().status_code == 401
    assert status(signed_in) == 401
    assert owner.execute("SELECT count(*) FROM user_sessions WHERE id = %s", [session_id]).fetchone() == (0,)


def test_sign_out_ends_the_session_and_its_access_tokens_at_once(
    client: TestClient[Litestar], tenant: dict[str, Any]
) -> None:
    browser = Browser(client)
    api = browser.sign_in(tenant["admin_username"])
    other = Browser(client)
    other_api = other.sign_in(tenant["admin_username"])
    refreshed = Api(client, browser.refresh().json()["access_token"])
    assert status(api) == 200 and status(refreshed) == 200
    cookie = browser.cookie
    response = browser.send("DELETE", SESSION)
    assert response.status_code == 204
    cleared = cookies_of(response)
    assert cleared["appliance_session"]["value"] == "" and cleared["appliance_session"]["path"] == SESSION
    assert cleared["appliance_signed_in"]["value"] == ""
    assert browser.refresh(cookie=cookie).status_code == 401
    assert status(api) == 401 and status(refreshed) == 401
    # Another browser of the same user stays signed in.
    assert status(other_api) == 200 and other.refresh().status_code == 200
    # Signing out again, or without a cookie, is fine and changes nothing.
    assert browser.send("DELETE", SESSION, cookie=cookie).status_code == 204
    assert Browser(client).send("DELETE", SESSION).status_code == 204


@pytest.mark.parametrize(
    "change",
    [{"disabled": True}, {"password": "another-horse-9"}, {"role": "site_manager"}],
    ids=["disabled", "password", "role"],
)
def test_disabling_or_changing_the_user_ends_its_sessions(
    client: TestClient[Litestar], tenant: dict[str, Any], change: dict[str, Any]
) -> None:
    admin: Api = tenant["admin"]
    name = f"mgr-{uuid.uuid4().hex[:8]}"
    user = admin.ok(
        "POST",
        "/v1/users",
        201,
        json={"username": name, "password": PASSWORD, "role": "tenant_admin"},
    )
    browser = Browser(client)
    api = browser.sign_in(name)
    assert browser.refresh().status_code == 200
    if change.get("role") == "site_manager":
        change = {**change, "site_ids": [tenant["site"]["id"]]}
    admin.ok("PATCH", f"/v1/users/{user['id']}", 200, json=change)
    response = browser.refresh()
    assert response.status_code == 401, response.text
    assert "disabled or changed" in response.json()["detail"]
    assert status(api) == 401
    # Ended for good: the row is gone, a second try says so.
    assert browser.refresh().status_code == 401


def test_session_routes_refuse_cross_site_requests_and_other_methods(
    client: TestClient[Litestar], tenant: dict[str, Any]
) -> None:
    browser = Browser(client)
    browser.sign_in(tenant["admin_username"])
    client.cookies.clear()
    cookie = {"Cookie": f"appliance_session={browser.cookie}"}
    # No custom header: a form post from another site cannot add one.
    bare = client.post(REFRESH, headers=cookie)
    assert bare.status_code == 400 and "X-Appliance-Session" in bare.text
    assert bare.headers["content-type"].startswith("application/problem+json")
    # A browser that says the request comes from another site.
    cross = client.post(REFRESH, headers={**cookie, **HEADER, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert client.get(REFRESH, headers={**cookie, **HEADER}).status_code == 405
    # None of these used the cookie up.
    assert browser.refresh().status_code == 200
    # No cookie at all.
    assert Browser(client).refresh().status_code == 401
    # A malformed cookie is a 401 too, never a 500.
    for junk in ("x", "not-hex.secret", f"{uuid.uuid4().hex}.", "a" * 500):
        assert browser.refresh(cookie=junk).status_code == 401, junk


def test_an_idle_or_expired_session_ends(
    client: TestClient[Litestar], tenant: dict[str, Any], owner: psycopg.Connection[Any]
) -> None:
    for column, interval in (("rotated_at", "8 days"), ("expires_at", "1 second")):
        browser = Browser(client)
        browser.sign_in(tenant["admin_username"])
        assert browser.cookie
        session_id = uuid.UUID(hex=browser.cookie.split(".")[0])
        owner.execute(
            f"UPDATE user_sessions SET {column} = now() - interval '{interval}' WHERE id = %s", [session_id]
        )
        response = browser.refresh()
        assert response.status_code == 401 and "expired" in response.json()["detail"], column


def test_a_system_admin_session_survives_a_refresh(client: TestClient[Litestar], api: Api) -> None:
    name = f"root-{uuid.uuid4().hex[:8]}"
    from tests.integration.api import run_cli

    settings = client.app.state.services.settings
    run_cli(
        settings, "admin", "create-user", "--username", name, "--password", PASSWORD, "--role", "system_admin"
    )
    browser = Browser(client)
    first = browser.sign_in(name)
    assert first.get("/v1/tenants").status_code == 200
    refreshed = browser.refresh()
    assert refreshed.status_code == 200, refreshed.text
    assert Api(client, refreshed.json()["access_token"]).get("/v1/tenants").status_code == 200
    assert browser.send("DELETE", SESSION).status_code == 204
    assert first.get("/v1/tenants").status_code == 401


def test_the_runtime_role_sees_only_the_session_it_names(
    client: TestClient[Litestar],
    tenant: dict[str, Any],
    pg_settings: Settings,
    owner: psycopg.Connection[Any],
) -> None:
    browser = Browser(client)
    browser.sign_in(tenant["admin_username"])
    assert browser.cookie
    mine = browser.cookie.split(".")[0]
    assert owner.execute("SELECT count(*) FROM user_sessions").fetchone() != (0,)
    with psycopg.connect(pg_settings.runtime_database_url) as runtime:
        assert runtime.execute("SELECT count(*) FROM user_sessions").fetchone() == (0,)
        assert runtime.execute("DELETE FROM user_sessions").rowcount == 0
        runtime.execute("SELECT set_config('app.tenant_id', %s, true)", [tenant["tenant"]["id"]])
        assert runtime.execute("SELECT count(*) FROM user_sessions").fetchone() == (0,)
        runtime.execute("SELECT set_config('app.session_id', %s, true)", [str(uuid.UUID(hex=mine))])
        assert runtime.execute("SELECT id::text FROM user_sessions").fetchall() == [
            (str(uuid.UUID(hex=mine)),)
        ]
        runtime.rollback()
