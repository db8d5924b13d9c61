"""The dashboard in a real browser against a real ``appliance serve`` and a real database.

Starts the app (``create_app``: PostgreSQL with RLS from the ``pg_settings`` fixture, Milvus Lite
and the local object store in a temporary data dir, 128-D vectors, no scheduler) with uvicorn on a
free port, creates a system_admin with ``appliance admin create-user``, and runs
``node src/web/e2e/run.mjs`` which drives Debian's chromium through playwright-core: sign-in, a
tenant set up through the UI, face events from an edge worker's API key, the live monitor (< 2 s),
reports, CSV export, customers (merge, erase), every page's screenshot and axe-core check (at
1280 px and 390 px), the tablet width, a site manager kept to its own site, a reload and a bookmark
that keep the user signed in (refresh cookie) and a reload after sign-out that lands on /login.
Every console error must be announced and asserted by the step that causes it. It also measures
the load budget.

Screenshots go to a temporary folder; ``UPDATE_SCREENSHOTS=1`` writes them to docs/screenshots/.
Missing chromium/node/npm packages skip the test on a workstation and fail it under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar

from appliance.config import Settings
from appliance.server.app import create_app
from appliance.server.spa import SpaController
from tests.e2e.server import free_port, serve
from tests.e2e.support import CHROMIUM, REPO, STATIC, WEB, node, require, require_web_deps, spa_is_fresh
from tests.integration.api import PASSWORD, run_cli

INITIAL_JS_BUDGET = 300 * 1024
INTERACTIVE_BUDGET_MS = 1000


def _build_spa_if_stale(node_bin: str) -> None:
    if spa_is_fresh():
        return
    proc = subprocess.run(
        ["npm", "--prefix", str(WEB), "run", "build"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PATH": f"{Path(node_bin).parent}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    assert proc.returncode == 0, f"`npm run build` failed:\n{proc.stdout}\n{proc.stderr}"
    assert (STATIC / "index.html").is_file()


def _with_spa(settings: Settings) -> Litestar:
    app = create_app(settings)
    if not any(route.path == "/" for route in app.routes):  # until app.py registers SPA_ROUTES
        app.register(SpaController)
    return app


@pytest.mark.integration
def test_dashboard_end_to_end(
    pg_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node_bin = node()
    require_web_deps("playwright-core")
    require_web_deps("axe-core")
    require(Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: apt-get install -y chromium")
    _build_spa_if_stale(node_bin)

    port = free_port()
    # Staff photo enrolment needs the face detector and embedder; with them (../shared/models,
    # or APPLIANCE_MODELS_DIR) the run enrols a real photo, without them it leaves that step out.
    models = Path(os.environ.get("APPLIANCE_MODELS_DIR") or REPO.parent / "shared" / "models")
    photos = sorted((REPO.parent / "shared" / "faces").glob("*/1.jpg"))
    photo = next((p for p in photos if not p.parent.name.startswith("_")), None)
    enrol = (models / "face_detection_yunet_2023mar.onnx").is_file() and photo is not None
    settings = msgspec.structs.replace(
        pg_settings,
        embedding_dim=128,
        data_dir=str(tmp_path / "data"),
        scheduler=False,
        host="127.0.0.1",
        port=port,
        log_level="WARNING",
        models_dir=str(models) if enrol else pg_settings.models_dir,
    )
    # the documented bootstrap: `appliance admin create-user` (a fresh database per test session)
    username, password = "platform.admin", PASSWORD
    run_cli(
        settings,
        "admin",
        "create-user",
        "--username",
        username,
        "--password",
        password,
        "--role",
        "system_admin",
    )
    update = bool(os.environ.get("UPDATE_SCREENSHOTS"))
    screenshots = REPO / "docs" / "screenshots" if update else tmp_path / "shots"
    config = {
        "username": username,
        "password": password,
        "screenshots": str(screenshots),
        "artifacts": str(tmp_path),
        **({"staffPhoto": str(photo)} if enrol else {}),
    }

    with serve(_with_spa(settings), port) as base:
        proc = subprocess.run(
            [node_bin, "e2e/run.mjs", base, json.dumps(config)],
            cwd=WEB,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            env={**os.environ, "CHROMIUM_PATH": CHROMIUM},
        )
    output = proc.stdout + proc.stderr
    results = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    result_line = results[-1] if results else None
    assert proc.returncode == 0, f"the browser run failed (exit {proc.returncode}):\n{output}"
    assert result_line is not None, output
    result = json.loads(result_line.removeprefix("RESULT "))
    budget = result["budget"]
    with capsys.disabled():
        print(
            f"\n[dashboard] initial route JS {budget['initialJsGzipBytes'] / 1024:.1f} kB gzipped "
            f"({budget['initialScripts']} files; budget {INITIAL_JS_BUDGET // 1024} kB), "
            f"first page interactive {budget['interactiveMsMedian']} ms "
            f"(median of {budget['interactiveMsRuns']}; budget {INTERACTIVE_BUDGET_MS} ms); "
            f"sign-in + Reports {budget['signedInReportsJsGzipBytes'] / 1024:.1f} kB "
            f"(+ charts: {budget['signedInReportsWithChartsJsGzipBytes'] / 1024:.1f} kB); "
            f"live monitor showed the visits after {result['liveLatencyMs']} ms; "
            f"{result['checks']} checks, axe clean on {len(result['axe'])} pages, "
            f"staff photo enrolled: {result['staffPhotoEnrolled']}; "
            f"{result['expectedConsoleErrors']} expected console errors (asserted), "
            f"{len(result['unexpectedConsoleErrors'])} unexpected"
        )
    assert budget["initialJsGzipBytes"] <= INITIAL_JS_BUDGET
    assert budget["interactiveMsMedian"] < INTERACTIVE_BUDGET_MS
    assert all(ms < 2000 for ms in result["liveLatencyMs"]) and len(result["liveLatencyMs"]) == 2
    assert all(count == 0 for count in result["axe"].values())
    assert len(result["axe"]) >= 14, result["axe"]
    phone = [name for name in result["axe"] if name.endswith("-phone")]
    assert len(phone) >= 11, phone  # the sign-in page and the ten signed-in pages at 390 px
    assert result["unexpectedConsoleErrors"] == []
    assert result["staffPhotoEnrolled"] is enrol
