"""The model manifest is one file, ``src/appliance/vision/models.json``: it decodes into typed
packs, a bad one fails with msgspec's error, and the wheel, both PyInstaller specs and the build
carry that same file (that ``assets/models.json`` is a copy of it: tests/binary/test_install_units.py)."""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from appliance.vision.models import MANIFEST, packaged_manifest, parse_manifest

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO / "src" / "appliance" / "vision" / "models.json"


def installer_module(name: str) -> ModuleType:
    """``installer/<name>.py``, which is no package (PyInstaller runs the specs as scripts)."""
    spec = importlib.util.spec_from_file_location(f"installer_{name}", REPO / "installer" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_packaged_manifest_decodes_into_unique_packs() -> None:
    assert packaged_manifest() == SOURCE.read_bytes()
    assert parse_manifest(packaged_manifest()) == MANIFEST
    assert len(MANIFEST) == 7
    assert len({p.name for p in MANIFEST}) == len(MANIFEST)
    assert len({p.file for p in MANIFEST}) == len(MANIFEST)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["packs"][3].update(size="big"), "got `str` - at `$.packs[3].size`"),
        (lambda d: d["packs"][1].update(archive_membr="x"), "field `archive_membr` - at `$.packs[1]`"),
        (lambda d: d["packs"][0].pop("sha256"), "missing required field `sha256` - at `$.packs[0]`"),
        (lambda d: d["packs"][2].update(role="detectr"), "'detectr' - at `$.packs[2].role`"),
        (lambda d: d.update(version=2), "Invalid enum value 2 - at `$.version`"),
    ],
)  # fmt: skip
def test_a_bad_manifest_fails_with_msgspecs_error(change: Callable[[Any], object], message: str) -> None:
    document = json.loads(packaged_manifest())
    change(document)
    with pytest.raises(msgspec.ValidationError, match=re.escape(message)):
        parse_manifest(json.dumps(document))


def test_the_wheel_carries_the_manifest() -> None:
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    relative = SOURCE.relative_to(REPO / "src" / "appliance").as_posix()
    assert any(fnmatch(relative, pattern) for pattern in package_data["appliance"])


def test_both_binaries_carry_the_manifest() -> None:
    pytest.importorskip("PyInstaller")
    specs = installer_module("specs")
    shipped = (str(SOURCE), "appliance/vision")
    assert shipped in specs.edge_datas()
    if (REPO / "src" / "appliance" / "static" / "index.html").is_file():  # else: `make web` first
        assert shipped in specs.server_datas()


def test_the_build_refreshes_assets_models_json(tmp_path: Path) -> None:
    build = installer_module("build")
    target = tmp_path / "models.json"
    target.write_text("stale\n")
    build.refresh_models_json(target)
    assert target.read_bytes() == packaged_manifest()
