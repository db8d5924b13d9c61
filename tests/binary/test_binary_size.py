"""The size targets of issue 19 on the built one-dir folders (docs/adr/0016): the appliance ≤ 250 MB,
the edge-only build ≤ 120 MB, and neither carries OpenCV. Run by ``make binary-smoke`` (which sets
APPLIANCE_BINARY and APPLIANCE_EDGE_BINARY after building); skipped otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TARGETS = {"APPLIANCE_BINARY": 250e6, "APPLIANCE_EDGE_BINARY": 120e6}


def folder_bytes(folder: Path) -> int:
    """Apparent size of every file, as `installer/build.py` reports it (links not followed)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.parametrize("variable", sorted(TARGETS))
def test_binary_is_within_its_size_target(variable: str) -> None:
    binary = os.environ.get(variable)
    if not binary:
        pytest.skip(f"set {variable} (make binary-smoke)")
    folder = Path(binary).resolve().parent
    size = folder_bytes(folder)
    print(f"\n{folder}: {size / 1e6:.1f} MB ({size / 2**20:.1f} MiB)")
    assert size <= TARGETS[variable]
    internal = folder / "_internal"
    assert not (internal / "cv2").exists() and not list(internal.glob("opencv*")), "OpenCV is bundled"
