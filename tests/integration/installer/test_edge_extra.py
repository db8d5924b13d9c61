"""``pip install 'appliance[edge]'``: the edge alone, as on a Mac Mini without the binary.

A fresh venv gets the package from this checkout with the ``edge`` extra only: the server stack
is not installed, the edge's command line works, and the server's commands say what is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.cli import SERVER_PACKAGES
from tests.binary.flow import MODELS_DIR

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def edge_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("edge-extra") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"{REPO}[edge]"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


def run(venv: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    command = [str(venv / "bin" / argv[0]), *argv[1:]]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)


def test_the_edge_extra_leaves_the_server_stack_out(edge_venv: Path) -> None:
    probe = "import importlib.util as u, sys; print(sorted(m for m in sys.argv[1:] if u.find_spec(m)))"
    found = run(edge_venv, "python", "-c", probe, *sorted(SERVER_PACKAGES))
    assert found.returncode == 0 and found.stdout.strip() == "[]", found.stdout + found.stderr
    present = run(edge_venv, "python", "-c", "import numpy, onnxruntime, simplejpeg, httpx, msgspec")
    assert present.returncode == 0, present.stderr


def test_the_edge_command_line_works(edge_venv: Path) -> None:
    helped = run(edge_venv, "appliance-edge", "edge", "--help")
    assert helped.returncode == 0 and "--api" in helped.stdout, helped.stderr
    listed = run(edge_venv, "appliance-edge", "models", "list", "--models-dir", str(MODELS_DIR))
    assert listed.returncode == 0, listed.stderr
    assert "runtime" in listed.stdout.lower()


def test_a_server_command_says_what_is_missing(edge_venv: Path) -> None:
    assert run(edge_venv, "appliance", "--help").returncode == 0
    served = run(edge_venv, "appliance", "serve")
    assert served.returncode == 1
    assert "pip install 'appliance[server]'" in served.stderr and "Traceback" not in served.stderr
