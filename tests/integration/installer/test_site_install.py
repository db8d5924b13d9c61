"""``appliance install --root DIR``: dry run, a real staged install that serves its dashboard, the
upgrade re-run, and uninstall with and without --purge-data."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time

import httpx
import psycopg
import pytest

from appliance.db.migrate import head_revision
from appliance.install.site import UNITS, read_env, verify_units
from tests.binary.flow import Box, serving
from tests.conftest import PG_ADMIN_URL
from tests.integration.installer.conftest import PASSWORD, Site

pytestmark = pytest.mark.integration


def database_exists(name: str) -> bool:
    with psycopg.connect(PG_ADMIN_URL) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def mode(path: os.PathLike[str]) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_dry_run_prints_every_action_and_changes_nothing(site: Site) -> None:
    result = site.install("--dry-run")
    out = result.stderr
    expected_lines = [
        "preflight ok  postgresql",
        "preflight ok  port",
        "would write",
        "would migrate",
        "would create the tenant 'First Shop'",
        "appliance.service",
        "dashboard: http://127.0.0.1:",
    ]
    for expected in expected_lines:
        assert expected in out, out
    assert not site.root.exists()
    assert not database_exists(site.box.db_name)


def test_install_serves_the_dashboard_then_upgrades_and_uninstalls(site: Site) -> None:
    started = time.monotonic()
    first = site.install()
    assert "→ migrate the database" in first.stderr and f"→ {head_revision()}" in first.stderr, first.stderr

    env = read_env(site.env_file)
    assert env["APPLIANCE_DATA_DIR"] == str(site.data_dir)
    assert env["APPLIANCE_PUBLIC_URL"] == f"http://127.0.0.1:{site.port}"
    assert mode(site.env_file) == 0o640 and mode(site.data_dir) == 0o750
    keys = site.data_dir / "keys"
    assert mode(keys) == 0o700
    assert {p.name: mode(p) for p in keys.iterdir()} == {
        "jwt_private.pem": 0o600,
        "object_signing.key": 0o600,
    }
    units = [site.units / name for name in UNITS]
    assert shutil.which("systemd-analyze"), "make system-deps installs systemd"
    assert verify_units(units) == ""
    service = (site.units / "appliance.service").read_text()
    exec_start = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith("serve --workers 2") and f"EnvironmentFile={site.env_file}" in service
    assert "OnCalendar=" in (site.units / "appliance-purge.timer").read_text()

    # Start it the way systemd would: ExecStart with the env file, then log in as the first admin.
    box = Box(command=exec_start.removeprefix("ExecStart=").split()[:-3], root=site.root)
    box.env = {**{k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}, **env}
    with serving(box, "--workers", "2", port=site.port) as server:
        fresh_box_seconds = time.monotonic() - started
        page = httpx.get(f"{server.url}/")
        assert page.status_code == 200 and "<script" in page.text
        token = httpx.post(
            f"{server.url}/v1/auth/token",
            json={"grant_type": "password", "username": "admin", "password": PASSWORD},
        )
        assert token.status_code == 200, token.text
        assert fresh_box_seconds < 120, fresh_box_seconds
        print(f"fresh box → dashboard: {fresh_box_seconds:.1f} s")

    again = site.install()
    assert "upgrade into" in again.stderr and "already at head" in again.stderr, again.stderr
    assert "admin exists: kept" in again.stderr
    assert read_env(site.env_file) == env  # the generated runtime password and every value survive

    site.run("uninstall", "--root", str(site.root))
    assert not any(path.exists() for path in units)
    assert site.env_file.is_file() and (keys / "jwt_private.pem").is_file()
    assert database_exists(site.box.db_name)

    site.run("uninstall", "--root", str(site.root), "--purge-data")
    assert not site.data_dir.exists() and not site.env_file.exists()
    assert not database_exists(site.box.db_name)


def test_preflight_stops_before_any_change(site: Site) -> None:
    site.box.env["APPLIANCE_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:1/nothing_here"
    result = site.install(expect=1)
    assert "preflight FAIL postgresql: cannot connect to 127.0.0.1:1" in result.stderr, result.stderr
    assert "preflight failed" in result.stderr
    assert not site.root.exists()


def test_systemd_analyze_flags_a_broken_unit(tmp_path: os.PathLike[str]) -> None:
    from pathlib import Path

    from appliance.install.plan import InstallError

    broken = Path(tmp_path) / "broken.service"
    broken.write_text("[Service]\nType=sometimes\nExecStart=/bin/true\n")
    with pytest.raises(InstallError, match="Failed to parse service type"):
        verify_units([broken], subprocess.run)
