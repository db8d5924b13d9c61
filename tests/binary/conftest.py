"""Fixtures for the out-of-process tests: a fresh appliance box (own database, data dir) per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.lib.frozen import self_command
from tests.binary.flow import REPO, Box

# Set by `make binary-smoke` (after building it); unset, the binary's tests are skipped, so a stale
# dist/ never runs in the main test run.
BINARY = Path(os.environ.get("APPLIANCE_BINARY") or REPO / "dist" / "appliance" / "appliance")
BINARY_WANTED = bool(os.environ.get("APPLIANCE_BINARY"))


@pytest.fixture
def source_box(tmp_path: Path) -> Iterator[Box]:
    """The appliance as installed from source: ``python -m appliance`` in a new process."""
    box = Box(command=self_command(), root=tmp_path)
    try:
        yield box
    finally:
        box.drop()


@pytest.fixture
def binary_box(tmp_path: Path) -> Iterator[Box]:
    """The one-dir PyInstaller build (``make binary``); skipped when it has not been built."""
    if not BINARY_WANTED or not BINARY.is_file():
        pytest.skip("the binary runs in `make binary-smoke` (APPLIANCE_BINARY=dist/appliance/appliance)")
    box = Box(command=[str(BINARY)], root=tmp_path)
    try:
        yield box
    finally:
        box.drop()
