"""Shared by the dashboard tests: where things are, and "skip here, fail under CI"."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "src" / "web"
STATIC = REPO / "src" / "appliance" / "static"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(condition: bool, reason: str) -> None:
    """Skip when a build tool is missing on a workstation; under CI=true that is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the dashboard checks must run)")
    pytest.skip(reason)


def node() -> str:
    found = shutil.which("node")
    require(found is not None, "node is not on PATH")
    assert found is not None
    return found


def require_web_deps(package: str) -> None:
    require(
        (WEB / "node_modules" / package).is_dir(),
        f"src/web/node_modules/{package} is missing: run `make web-deps` (npm ci in src/web)",
    )


def newest_source_mtime() -> float:
    paths = [WEB / name for name in ("index.html", "vite.config.ts", "package-lock.json")]
    paths.append(REPO / "docs" / "openapi.json")
    for folder in (WEB / "src", WEB / "generated", WEB / "public"):
        paths.extend(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".test.ts"))
    return max(p.stat().st_mtime for p in paths if p.exists())


def spa_is_fresh() -> bool:
    index = STATIC / "index.html"
    return index.is_file() and index.stat().st_mtime >= newest_source_mtime()
