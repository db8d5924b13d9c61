"""compose files against the compose spec, workflows against GitHub's schema, and their wiring."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.conftest import ROOT, tool

COMPOSE = ROOT / "compose" / "compose.yaml"
COMPOSE_DEV = ROOT / "compose" / "compose.dev.yaml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def check_jsonschema(schema: str, *files: Path) -> None:
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def test_compose_files_match_the_compose_spec() -> None:
    check_jsonschema("vendor.compose-spec", COMPOSE, COMPOSE_DEV)


def test_workflows_match_githubs_schema() -> None:
    assert WORKFLOWS
    check_jsonschema("vendor.github-workflows", *WORKFLOWS)


def test_site_compose_wiring() -> None:
    services = load(COMPOSE)["services"]
    assert {"postgres", "migrate", "api", "milvus", "minio", "purge"} <= set(services)
    assert services["milvus"]["profiles"] == ["milvus"] and services["minio"]["profiles"] == ["s3"]
    assert "profiles" not in services["api"] and "profiles" not in services["postgres"]
    api = services["api"]
    assert api["command"] == ["serve"] and services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    deps = api["depends_on"]
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    for optional in ("milvus", "minio"):  # only when their profile is active
        assert deps[optional] == {"condition": "service_healthy", "required": False}
    for name in ("postgres", "api", "milvus", "minio"):
        assert services[name]["healthcheck"]["test"], name
    assert "readyz" in " ".join(api["healthcheck"]["test"])
    assert api["read_only"] is True and api["cap_drop"] == ["ALL"]


def test_site_compose_keeps_secrets_in_env_files() -> None:
    compose = load(COMPOSE)
    for name, service in compose["services"].items():
        env = service.get("environment", {})
        for key in env:
            assert not any(word in key for word in ("PASSWORD", "SECRET", "DATABASE_URL", "KEY")), (name, key)
    for name in ("postgres", "api", "migrate", "minio"):
        files = compose["services"][name]["env_file"]
        assert all(f["required"] is True for f in files), name
    for example in ("postgres", "appliance", "minio"):
        assert (ROOT / "compose" / f"{example}.env.example").is_file()


def test_dev_compose_adds_seed_worker_and_web() -> None:
    services = load(COMPOSE_DEV)["services"]
    worker = services["worker"]
    assert "appliance edge" in worker["command"][0]
    assert worker["depends_on"]["seed"]["condition"] == "service_completed_successfully"
    assert worker["build"]["dockerfile"] == "Dockerfile.edge"
    assert services["seed"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["web"]["network_mode"] == "service:api"
    assert (ROOT / "compose" / "dev" / "seed.py").is_file()


def test_ci_workflow_covers_the_pipeline() -> None:
    workflow = load(ROOT / ".github" / "workflows" / "ci.yml")
    jobs = workflow["jobs"]
    assert {"lint", "test", "deploy-checks", "binaries", "images", "chart", "release"} <= set(jobs)
    assert "postgres" in jobs["test"]["services"]
    targets = {entry["target"] for entry in jobs["binaries"]["strategy"]["matrix"]["include"]}
    assert targets == {"linux-amd64", "linux-arm64", "macos-arm64-edge"}
    build = next(
        s for s in jobs["images"]["steps"] if s.get("uses", "").startswith("docker/build-push-action")
    )
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    uploads = [
        s["with"]["name"] for s in jobs["deploy-checks"]["steps"] if "upload-artifact" in s.get("uses", "")
    ]
    assert uploads == ["rendered-manifests"]
    assert jobs["release"]["if"].startswith("startsWith(github.ref, 'refs/tags/v')")
