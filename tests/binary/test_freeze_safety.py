"""What a frozen binary needs from the code: no ``python -m`` re-exec, data through
importlib.resources, serve's options flowing into every worker's settings."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from appliance.config import load_settings
from appliance.contracts import schema_text
from appliance.db.migrate import alembic_config, head_revision, migrations_dir
from appliance.lib.frozen import build_info, self_command
from appliance.server.bind import public_url_problem
from appliance.server.spa import static_root
from appliance.vision.models import MANIFEST, packaged_manifest, parse_manifest
from tests.binary.flow import REPO, Box, free_port, serving

SRC = REPO / "src" / "appliance"


def test_no_source_file_reexecutes_python_with_dash_m() -> None:
    # `sys.executable -m appliance` is the CLI itself in a frozen binary: use self_command()
    # (lib/frozen.py, which knows the difference; codegen.py is a build-time tool).
    pattern = re.compile(r"sys\.executable\s*,\s*[\"']-m[\"']")
    offenders = [
        str(path.relative_to(REPO))
        for path in SRC.rglob("*.py")
        if path.name not in {"codegen.py", "frozen.py"} and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_self_command_runs_this_appliance(tmp_path: Path) -> None:
    assert self_command() == [sys.executable, "-m", "appliance"]  # not frozen under pytest
    result = subprocess.run(
        [*self_command(), "--version"], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    info = build_info()
    assert (
        result.stdout.strip() == f"appliance {info['version']} (commit {info['commit']}, {info['variant']})"
    )
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True
    )
    assert info["commit"] == head.stdout.strip()


def test_data_files_come_from_the_package_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = migrations_dir()
    assert (folder / "env.py").is_file() and folder.is_relative_to(SRC)
    from alembic.script import ScriptDirectory

    revisions = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
    assert len(revisions) == len(list((folder / "versions").glob("0*.py")))
    assert head_revision() == revisions[0].revision
    assert '"$schema"' in schema_text("Event.FaceDetected.v1")
    assert parse_manifest(packaged_manifest()) == MANIFEST
    root = static_root()
    if root is not None:  # built by `make web`
        assert root.is_relative_to(SRC) and (root / "index.html").is_file()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"APPLIANCE_PORT": "9000", "APPLIANCE_PUBLIC_URL": "http://127.0.0.1:9000"}, None),
        ({"APPLIANCE_PORT": "9000", "APPLIANCE_PUBLIC_URL": "http://localhost:9000/"}, None),
        ({"APPLIANCE_PORT": "9000", "APPLIANCE_PUBLIC_URL": "http://127.0.0.1:8080"}, "names port 8080"),
        ({"APPLIANCE_PUBLIC_URL": "https://127.0.0.1:8080"}, "is https"),
        ({"APPLIANCE_PUBLIC_URL": "http://shop.example:8080"}, "listens on 127.0.0.1 only"),
        ({"APPLIANCE_HOST": "0.0.0.0", "APPLIANCE_PUBLIC_URL": "http://shop.example:8080"}, None),
        ({"APPLIANCE_HOST": "0.0.0.0"}, "wildcard"),
        ({"APPLIANCE_PUBLIC_URL": "ftp://x"}, "not an http(s) URL"),
    ],
)
def test_public_url_problem(env: dict[str, str], expected: str | None) -> None:
    problem = public_url_problem(load_settings(env=env))
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


@pytest.mark.integration
def test_serve_port_reaches_the_settings_of_every_worker(source_box: Box) -> None:
    """`serve --port P --workers 2` (spawned workers): presigned local-store URLs name P, the start-up
    log says where it listens, and a public URL on another port is warned about."""
    source_box.run("migrate")
    source_box.env["APPLIANCE_PUBLIC_URL"] = "http://127.0.0.1:8080"
    port = free_port()
    with serving(source_box, "--workers", "2", port=port) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        log = server.log.read_text()
    assert f'"port": {port}' in log and '"workers": 2' in log, log
    assert "names port 8080, this server listens on " + str(port) in log, log
    del source_box.env["APPLIANCE_PUBLIC_URL"]
    from tests.binary.flow import run_flow

    figures = run_flow(source_box)
    assert figures["serve_ready_s"] > 0
