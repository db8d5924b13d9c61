"""The ``appliance`` command line, run in-process against the test database."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from typer.testing import CliRunner, Result

from appliance.cli import app as cli_app
from appliance.config import Settings
from appliance.server.openapi import openapi_document
from tests.conftest import PG_ADMIN_URL
from tests.integration.api import PASSWORD, Api

REPO = Path(__file__).resolve().parents[2]


def invoke(settings: Settings, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``appliance …`` with the test settings (plus ``env``); the caller checks the exit code."""
    base = {
        "APPLIANCE_DATABASE_URL": settings.database_url,
        "APPLIANCE_APP_ROLE": settings.app_role,
        "APPLIANCE_DATA_DIR": settings.data_dir,
    }
    return CliRunner().invoke(cli_app, list(args), env={**base, **(env or {})}, catch_exceptions=False)


def ok_json(settings: Settings, *args: str) -> Any:
    result = invoke(settings, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def flat(text: str) -> str:
    """Rich wraps long lines at the terminal width: compare with whitespace collapsed."""
    return " ".join(text.split())


# -- help, openapi ----------------------------------------------------------------------------


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli_app, ["--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # The commands panel: one "│ <name>  <help>" row per command (box drawing or not).
    listed = set(re.findall(r"^\W*(\w+)\s{2,}\S", result.stdout, flags=re.MULTILINE))
    expected = {
        "serve",
        "migrate",
        "openapi",
        "config",
        "admin",
        "purge",
        "reindex",
        "models",
        "edge",
        "demo",
    }
    assert expected <= listed, result.stdout


def test_openapi_writes_the_document(tmp_path: Path, pg_settings: Settings) -> None:
    target = tmp_path / "out" / "openapi.json"
    result = invoke(pg_settings, "openapi", "-o", str(target))
    assert result.exit_code == 0, result.output
    document = json.loads(target.read_text())
    assert document["openapi"].startswith("3.")
    assert "/v1/sites" in document["paths"] and "/v1/auth/token" in document["paths"]
    assert target.read_text().endswith("}\n")


def test_committed_openapi_document_is_current() -> None:
    committed = (REPO / "docs" / "openapi.json").read_text()
    fresh = json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
    if committed != fresh:
        pytest.fail("docs/openapi.json is stale: run `make openapi`", pytrace=False)


# -- migrate ----------------------------------------------------------------------------------


def test_migrate_is_idempotent(pg_settings: Settings) -> None:
    first = invoke(pg_settings, "migrate")
    assert first.exit_code == 0, first.output
    second = invoke(pg_settings, "migrate")
    assert second.exit_code == 0, second.output
    assert "already at head" in second.output


def test_migrate_creates_a_missing_database_and_role(pg_settings: Settings) -> None:
    suffix = uuid.uuid4().hex[:10]
    db_name, role = f"appliance_clinew_{suffix}", f"appliance_clinew_app_{suffix}"
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    env = {"APPLIANCE_DATABASE_URL": f"{base}/{db_name}", "APPLIANCE_APP_ROLE": role}
    try:
        result = invoke(pg_settings, "migrate", env=env)
        assert result.exit_code == 0, result.output
        assert "migrated" in result.output and "empty" in result.output
        with psycopg.connect(PG_ADMIN_URL) as conn:
            assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db_name,)).fetchone()
            attrs = conn.execute(
                "SELECT rolcanlogin, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", (role,)
            ).fetchone()
        assert attrs == (True, False, False)
        # The runtime role can log in and read the migration marker, nothing more privileged.
        with psycopg.connect(f"{base.replace('postgres@', role + '@')}/{db_name}") as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone()
        again = invoke(pg_settings, "migrate", env=env)
        assert again.exit_code == 0 and "already at head" in again.output, again.output
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (db_name,)
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def test_migrate_reports_an_unreachable_server(pg_settings: Settings) -> None:
    env = {"APPLIANCE_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/appliance"}
    result = invoke(pg_settings, "migrate", env=env)
    assert result.exit_code == 1
    assert "cannot reach PostgreSQL" in flat(result.output)


# -- config -----------------------------------------------------------------------------------


def test_config_show_masks_secrets(pg_settings: Settings) -> None:
    env = {
        "APPLIANCE_DATABASE_URL": "postgresql://owner:Sup3rS3cret@db.local:5432/appliance",
        "APPLIANCE_APP_DATABASE_PASSWORD": "AppP4ssw0rd",
    }
    result = invoke(pg_settings, "config", "show", "--json", env=env)
    assert result.exit_code == 0, result.output
    assert "Sup3rS3cret" not in result.output and "AppP4ssw0rd" not in result.output
    shown = json.loads(result.stdout)
    assert shown["database_url"] == "postgresql://owner:****@db.local:5432/appliance"
    assert shown["app_database_password"] == "****"
    assert (
        shown["runtime_database_url"] == f"postgresql://{pg_settings.app_role}:****@db.local:5432/appliance"
    )
    assert shown["data_dir"] == pg_settings.data_dir


def test_config_show_table_masks_secrets_too(pg_settings: Settings) -> None:
    env = {"APPLIANCE_DATABASE_URL": "postgresql://owner:Sup3rS3cret@db.local/appliance"}
    result = invoke(pg_settings, "config", "show", env=env)
    assert result.exit_code == 0, result.output
    assert "Sup3rS3cret" not in result.output and "****" in result.output


def test_bad_configuration_is_a_clear_error(pg_settings: Settings) -> None:
    result = invoke(pg_settings, "config", "show", env={"APPLIANCE_PORT": "eighty"})
    assert result.exit_code == 1
    assert "invalid configuration" in flat(result.output)


# -- admin ------------------------------------------------------------------------------------


def test_create_tenant_and_tenant_admin(pg_settings: Settings, client: TestClient[Litestar]) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    tenant = ok_json(pg_settings, "admin", "create-tenant", name)
    assert tenant["name"] == name and uuid.UUID(tenant["id"])
    username = f"cli-admin-{uuid.uuid4().hex[:8]}"
    user = ok_json(
        pg_settings,
        "admin",
        "create-user",
        "--username",
        username,
        "--password",
        PASSWORD,
        "--role",
        "tenant_admin",
        "--tenant",
        tenant["id"],
    )
    assert user["role"] == "tenant_admin" and user["tenant_id"] == tenant["id"]
    assert "password_hash" not in user and PASSWORD not in json.dumps(user)
    admin = Api(client, "").login(username)
    assert admin.ok("GET", "/v1/sites")["total"] == 0

    duplicate = invoke(pg_settings, "admin", "create-tenant", name)
    assert duplicate.exit_code == 1
    assert "already exists" in flat(duplicate.output)


def _create_user(settings: Settings, *extra: str, password: str = PASSWORD) -> Result:
    username = f"cli-user-{uuid.uuid4().hex[:8]}"
    return invoke(settings, "admin", "create-user", "--username", username, "--password", password, *extra)


def test_create_user_rules(pg_settings: Settings) -> None:
    tenant = ok_json(pg_settings, "admin", "create-tenant", f"cli-{uuid.uuid4().hex[:8]}")

    no_tenant = _create_user(pg_settings, "--role", "tenant_admin")
    assert no_tenant.exit_code == 1
    assert "--tenant is required for tenant roles" in flat(no_tenant.output)

    sysadmin_with_tenant = _create_user(pg_settings, "--role", "system_admin", "--tenant", tenant["id"])
    assert sysadmin_with_tenant.exit_code == 1
    assert "not allowed for system_admin" in flat(sysadmin_with_tenant.output)

    short = _create_user(pg_settings, "--role", "tenant_admin", "--tenant", tenant["id"], password="short")
    assert short.exit_code == 1
    assert "at least 8 characters" in flat(short.output)

    worker = _create_user(pg_settings, "--role", "worker", "--tenant", tenant["id"])
    assert worker.exit_code == 1
    assert "create-api-key" in flat(worker.output)

    ghost = _create_user(pg_settings, "--role", "tenant_admin", "--tenant", str(uuid.uuid4()))
    assert ghost.exit_code == 1
    assert "not present" in flat(ghost.output)

    manager = _create_user(pg_settings, "--role", "site_manager", "--tenant", tenant["id"])
    assert manager.exit_code == 1
    assert "site_manager needs at least one site" in flat(manager.output)

    sysadmin = _create_user(pg_settings, "--role", "system_admin", "--json")
    assert sysadmin.exit_code == 0, sysadmin.output
    assert json.loads(sysadmin.stdout)["tenant_id"] is None


def test_create_api_key_prints_the_secret_once_and_it_works(
    pg_settings: Settings, client: TestClient[Litestar], api: Api
) -> None:
    tenant = ok_json(pg_settings, "admin", "create-tenant", f"cli-{uuid.uuid4().hex[:8]}")
    inside = api.as_tenant(tenant["id"])
    site = inside.ok("POST", "/v1/sites", 201, json={"name": "Edge", "timezone": "UTC"})

    created = ok_json(pg_settings, "admin", "create-api-key", "--tenant", tenant["id"], "--site", site["id"])
    secret = created["api_key"]
    assert secret.startswith("apk_") and created["site_id"] == site["id"]

    response = client.post("/v1/auth/token", json={"grant_type": "api_key", "api_key": secret})
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "bearer" and token["expires_in"] > 0

    # Never shown again: reading the key back returns metadata only.
    stored = inside.ok("GET", f"/v1/api-keys/{created['id']}")
    assert "api_key" not in stored and secret.split("_", 3)[3] not in json.dumps(stored)  # base64url has "_"

    # The human-readable form prints it with a warning to store it.
    table = invoke(pg_settings, "admin", "create-api-key", "--tenant", tenant["id"], "--site", site["id"])
    assert table.exit_code == 0, table.output
    assert "apk_" in table.stdout and "cannot be shown again" in flat(table.output)

    # A site of another tenant (or none) is refused with a clear message.
    foreign = invoke(
        pg_settings, "admin", "create-api-key", "--tenant", tenant["id"], "--site", str(uuid.uuid4())
    )
    assert foreign.exit_code == 1
    assert "unknown site" in flat(foreign.output)


# -- issue 22: sites and tenants from the command line, clean help, named env vars ---------------


def test_create_and_list_sites_and_tenants(pg_settings: Settings, api: Api) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    tenant = ok_json(pg_settings, "admin", "create-tenant", name)
    site = ok_json(
        pg_settings,
        "admin",
        "create-site",
        "Main Street",
        "--tenant",
        tenant["id"],
        "--timezone",
        "Europe/Paris",
    )
    assert site["tenant_id"] == tenant["id"] and site["timezone"] == "Europe/Paris"

    # The site is real: the API sees it, the audit log names it, an API key can be issued for it.
    inside = api.as_tenant(tenant["id"])
    assert inside.ok("GET", f"/v1/sites/{site['id']}")["name"] == "Main Street"
    audit = inside.ok("GET", "/v1/audit", params={"action": "site.create"})["items"]
    assert [row["target_id"] for row in audit] == [site["id"]] and audit[0]["actor"] == "cli:admin"
    key = ok_json(pg_settings, "admin", "create-api-key", "--tenant", tenant["id"], "--site", site["id"])
    assert key["site_id"] == site["id"]

    listed = ok_json(pg_settings, "admin", "list-sites", "--tenant", tenant["id"])
    assert [(s["id"], s["name"]) for s in listed] == [(site["id"], "Main Street")]
    table = invoke(pg_settings, "admin", "list-sites", "--tenant", tenant["id"])
    assert table.exit_code == 0 and "Main Street" in table.stdout and site["id"] in table.stdout

    tenants = ok_json(pg_settings, "admin", "list-tenants")
    assert {"id": tenant["id"], "name": name} in [{"id": t["id"], "name": t["name"]} for t in tenants]
    human = invoke(pg_settings, "admin", "list-tenants")
    assert human.exit_code == 0 and name in human.stdout

    bad_zone = invoke(
        pg_settings, "admin", "create-site", "X", "--tenant", tenant["id"], "--timezone", "Mars/Base"
    )
    assert bad_zone.exit_code == 1 and "Mars/Base" in flat(bad_zone.output)
    ghost = invoke(pg_settings, "admin", "create-site", "X", "--tenant", str(uuid.uuid4()))
    assert ghost.exit_code == 1 and "not found" in flat(ghost.output)
    assert ok_json(pg_settings, "admin", "list-sites", "--tenant", tenant["id"])[0]["id"] == site["id"]
    assert len(ok_json(pg_settings, "admin", "list-sites", "--tenant", tenant["id"])) == 1


def test_help_has_no_type_noise_and_lists_every_role() -> None:
    for args in (
        ["--help"],
        ["admin", "create-user", "--help"],
        ["config", "show", "--help"],
        ["edge", "--help"],
    ):
        result = CliRunner().invoke(cli_app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.stdout, result.stdout
    role_help = flat(CliRunner().invoke(cli_app, ["admin", "create-user", "--help"]).stdout)
    for role in ("system_admin", "tenant_admin", "site_manager", "worker"):
        assert role_help.count(role) >= 2, role_help  # in the choices and explained in the help
    admin_help = CliRunner().invoke(cli_app, ["admin", "--help"]).stdout
    assert {"create-site", "list-sites", "list-tenants"} <= set(
        re.findall(r"^\s+([\w-]+)\s{2,}", admin_help, re.M)
    )


def test_a_bad_setting_names_its_environment_variable(pg_settings: Settings) -> None:
    result = invoke(pg_settings, "config", "show", env={"APPLIANCE_PORT": "eighty"})
    assert result.exit_code == 1
    message = flat(result.output)
    assert "APPLIANCE_PORT='eighty'" in message and "$." not in message, message
    limit = invoke(pg_settings, "config", "show", env={"APPLIANCE_VECTOR_CACHE_MB": "0"})
    assert limit.exit_code == 1 and "APPLIANCE_VECTOR_CACHE_MB" in flat(limit.output)


def test_serve_says_where_it_looks_and_what_is_missing(tmp_path: Path) -> None:
    from appliance.cli.server import startup_warnings
    from appliance.config import load_settings
    from appliance.demo import resolve_models_dir

    empty = load_settings(env={}, data_dir=str(tmp_path / "data"), models_dir=str(tmp_path / "models"))
    warnings = " ".join(startup_warnings(empty))
    assert f"models dir {tmp_path / 'models'} has no face_detection_yunet_2023mar.onnx" in warnings
    assert "APPLIANCE_MODELS_DIR" in warnings and "503" in warnings
    assert f"data dir {tmp_path / 'data'} holds no snapshots yet" in warnings

    (tmp_path / "data" / "objects").mkdir(parents=True)
    models = resolve_models_dir(load_settings())
    ready = load_settings(
        env={}, data_dir=str(tmp_path / "data"), models_dir=str(models), embedder=load_settings().embedder
    )
    assert [w for w in startup_warnings(ready) if "models dir" in w or "data dir" in w] == []


def test_config_show_notes_what_serve_would_miss(pg_settings: Settings, tmp_path: Path) -> None:
    result = invoke(pg_settings, "config", "show", env={"APPLIANCE_MODELS_DIR": str(tmp_path / "none")})
    assert result.exit_code == 0, result.output
    notes = flat(result.output)
    assert f"note: models dir {tmp_path / 'none'} has no face_detection_yunet_2023mar.onnx" in notes
    relative = invoke(pg_settings, "config", "show", env={"APPLIANCE_MODELS_DIR": "models"})
    assert f"models (→ {Path('models').resolve()})" in flat(relative.stdout)


def test_a_bad_edge_setting_names_its_environment_variable(tmp_path: Path) -> None:
    env = {"APPLIANCE_WORKER_FPS": "abc", "APPLIANCE_QUEUE_PATH": str(tmp_path / "q.sqlite3")}
    result = CliRunner().invoke(cli_app, ["edge", "--api", "http://x", "--api-key", "k"], env=env)
    assert result.exit_code == 2
    message = flat(result.output)
    assert "invalid edge configuration: APPLIANCE_WORKER_FPS='abc'" in message and "$." not in message, (
        message
    )
