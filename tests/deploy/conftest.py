"""Deploy artefact checks: offline, fast, no database (tests/conftest.py's fixtures unused)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tool(name: str, *candidates: Path) -> str:
    """Path of a command-line tool: next to this Python, at a candidate path, or on PATH.

    Missing: a skip on a developer machine, a failure in CI (CI=true), so a check never
    silently stops running there.
    """
    for path in (BIN / name, *candidates):
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed (make deploy-check installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
