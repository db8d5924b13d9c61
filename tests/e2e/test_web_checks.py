"""The dashboard's own checks, so `make test` runs them: the typed API client is generated from
the current docs/openapi.json, TypeScript is strict-clean, and the Vitest unit tests pass."""

from __future__ import annotations

import subprocess

from tests.e2e.support import WEB, node, require_web_deps


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node(), *args], cwd=WEB, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_api_client_types_match_openapi_json() -> None:
    require_web_deps("openapi-typescript")
    proc = _run("scripts/gen-api.mjs", "--check")
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}"


def test_typescript_is_strict_clean() -> None:
    require_web_deps("typescript")
    proc = _run("node_modules/typescript/bin/tsc", "--noEmit", "-p", "tsconfig.json")
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}"


def test_vitest_unit_tests() -> None:
    require_web_deps("vitest")
    proc = _run("node_modules/vitest/vitest.mjs", "run", "--reporter=dot")
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}"
