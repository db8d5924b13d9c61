"""Facts about how this process was started: a source checkout/wheel, or a frozen binary.

A PyInstaller binary has no ``python`` beside it: ``sys.executable`` *is* the appliance, so a
child process is started as ``[sys.executable, "serve", …]``, never ``sys.executable -m …``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from importlib import resources
from pathlib import Path

BUILD_INFO = "BUILD_INFO.json"
"""Written into the package by the binary build (installer/build.py): version, commit, variant."""


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def self_command() -> list[str]:
    """The argv prefix that runs this appliance's CLI in a new process."""
    if is_frozen():
        return [sys.executable]
    return [sys.executable, "-m", "appliance"]


@cache
def build_info() -> dict[str, str]:
    """``{"version", "commit", "variant"}``: stamped by the build, else read from a git checkout."""
    from appliance import __version__

    info = {"version": __version__, "commit": "unknown", "variant": "source"}
    stamped = resources.files("appliance").joinpath(BUILD_INFO)
    if stamped.is_file():
        info.update({k: str(v) for k, v in json.loads(stamped.read_text(encoding="utf-8")).items()})
        return info
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / ".git").exists():
        try:
            commit = subprocess.run(
                ["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],
                check=True,
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = ""
        info["commit"] = commit or "unknown"
    return info
