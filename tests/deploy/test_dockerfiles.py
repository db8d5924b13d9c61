"""Dockerfiles: parsed (dockerfile-parse) for structure, linted by hadolint."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from tests.deploy.conftest import ROOT, tool

DOCKERFILES = [ROOT / "Dockerfile", ROOT / "Dockerfile.edge"]


def instructions(path: Path) -> list[tuple[str, str]]:
    with path.open("rb") as handle:  # a path not named "Dockerfile" is taken for a directory
        parser = DockerfileParser(fileobj=handle)
        return [(i["instruction"], i["value"]) for i in parser.structure]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(path: Path) -> None:
    done = subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_multi_stage_non_root_with_healthcheck(path: Path) -> None:
    steps = instructions(path)
    froms = [value for kind, value in steps if kind == "FROM"]
    assert len(froms) >= 2  # build stage(s) + runtime
    defaults = dict(
        value.split("=", 1) for kind, value in steps[: steps.index(("FROM", froms[0]))] if kind == "ARG"
    )
    stages = {f.split()[-1] for f in froms if " AS " in f}
    for line in froms:
        base = line.split()[-3 if " AS " in line else -1]
        base = defaults.get(base.strip("${}"), base)  # a base given as a build argument: its default
        assert base == "scratch" or base in stages or ":" in base, f"untagged base image in {line!r}"
    final = steps[max(i for i, (kind, _) in enumerate(steps) if kind == "FROM") :]
    users = [value for kind, value in final if kind == "USER"]
    assert users and not users[-1].startswith(("root", "0")), users
    assert any(kind == "HEALTHCHECK" and "/healthz" in value for kind, value in final)
    assert any(kind == "ENTRYPOINT" and "appliance" in value for kind, value in final)
    assert not any(kind == "ADD" for kind, _ in steps)


def test_server_image_builds_the_spa_on_the_build_platform() -> None:
    steps = instructions(ROOT / "Dockerfile")
    web = next(value for kind, value in steps if kind == "FROM" and value.endswith("AS web"))
    assert "--platform=$BUILDPLATFORM" in web  # architecture-free output: built once under buildx
    runs = " ".join(value for kind, value in steps if kind == "RUN")
    assert "npm --prefix src/web ci" in runs and "npm --prefix src/web run build" in runs
    assert "pip wheel" in runs


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("*") :].count("*") == 1
    assert "src/web/node_modules/" in lines and "!docs/openapi.json" in lines
