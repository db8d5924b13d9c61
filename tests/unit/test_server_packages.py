"""The friendly "this command needs the server stack" message knows every top-level module the
``server`` extra installs: ``SERVER_PACKAGES`` is kept by hand (a frozen binary has no
pyproject.toml to read), so this test reads the extra and the installed distributions' metadata."""

from __future__ import annotations

import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from appliance.cli import SERVER_PACKAGES

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def server_extra_modules() -> dict[str, set[str]]:
    """Each distribution of the ``server`` extra (for this platform) → the top-level modules it installs."""
    extra = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["server"]
    modules: dict[str, set[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            modules.setdefault(canonicalize_name(distribution), set()).add(module)
    wanted = [Requirement(line) for line in extra]
    return {
        req.name: modules.get(canonicalize_name(req.name), set())
        for req in wanted
        if req.marker is None or req.marker.evaluate({"extra": "server"})
    }


def test_server_packages_names_every_module_of_the_server_extra() -> None:
    by_distribution = server_extra_modules()
    not_installed = [name for name, modules in by_distribution.items() if not modules]
    assert not not_installed, f"install the server extra to run this test: {not_installed} missing"
    missing = {name: sorted(modules - SERVER_PACKAGES) for name, modules in by_distribution.items()}
    assert not {name: m for name, m in missing.items() if m}, (
        f"add to appliance.cli.SERVER_PACKAGES: {missing}"
    )


def test_server_packages_names_nothing_else() -> None:
    installed = set().union(*server_extra_modules().values())
    assert installed >= SERVER_PACKAGES, f"not installed by the server extra: {SERVER_PACKAGES - installed}"
