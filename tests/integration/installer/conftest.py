"""``appliance install`` run as an operator would: a new process, a staging root, a real database."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.lib.frozen import self_command
from tests.binary.conftest import BINARY, BINARY_WANTED
from tests.binary.flow import MODELS_DIR, Box, free_port

PASSWORD = "install-admin-password"


@dataclass
class Site:
    """One staged site install: the command, its root and its own database and role."""

    command: list[str]
    root: Path
    box: Box
    port: int

    def install(self, *extra: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        args = [
            "install", "--root", str(self.root),
            "--database-url", self.box.env["APPLIANCE_DATABASE_URL"], "--app-role", self.box.role,
            "--host", "127.0.0.1", "--port", str(self.port), "--models-dir", str(MODELS_DIR),
            "--embedder", os.environ["APPLIANCE_EMBEDDER"],  # the test-only stand-in (tests/conftest.py)
            "--tenant", "First Shop", "--admin-password", PASSWORD, *extra,
        ]  # fmt: skip
        return self.run(*args, expect=expect)

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        if self.command == self_command():  # the source install: in-process, so coverage sees it
            from typer.testing import CliRunner

            from appliance.cli import app

            unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("APPLIANCE_")}
            invoked = CliRunner().invoke(app, list(args), env=unset, catch_exceptions=False)
            result = subprocess.CompletedProcess(args, invoked.exit_code, invoked.stdout, invoked.stderr)
        else:
            env = {k: v for k, v in self.box.env.items() if not k.startswith("APPLIANCE_")}
            result = subprocess.run(
                [*self.command, *args], env=env, capture_output=True, text=True, timeout=300, check=False
            )
        assert result.returncode == expect, (
            f"{args[:2]} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
        return result

    @property
    def units(self) -> Path:
        return self.root / "etc" / "systemd" / "system"

    @property
    def env_file(self) -> Path:
        return self.root / "etc" / "appliance" / "appliance.env"

    @property
    def data_dir(self) -> Path:
        return self.root / "var" / "lib" / "appliance"


@pytest.fixture(params=["source", "binary"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    if request.param == "binary":
        if not BINARY_WANTED or not BINARY.is_file():
            pytest.skip("the binary runs in `make binary-smoke` (APPLIANCE_BINARY=dist/appliance/appliance)")
        command = [str(BINARY)]
    else:
        command = self_command()
    box = Box(command=command, root=tmp_path)
    made = Site(command=command, root=tmp_path / "root", box=box, port=free_port())
    try:
        yield made
    finally:
        box.drop()
