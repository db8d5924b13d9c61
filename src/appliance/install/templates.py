"""The systemd unit and launchd plist templates of ``assets/`` and how they are filled.

The binaries ship ``assets/`` as ``appliance/assets`` (installer/specs.py); a source checkout reads
the top-level folder. Placeholders are ``${name}`` (:class:`string.Template`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from string import Template

from appliance.install.plan import InstallError

CHECKOUT_ASSETS = Path(__file__).resolve().parents[3] / "assets"


def assets_dir() -> Path:
    bundled = Path(str(resources.files("appliance").joinpath("assets")))
    for candidate in (bundled, CHECKOUT_ASSETS):
        if (candidate / "systemd").is_dir():
            return candidate
    raise InstallError(f"the unit templates are missing (looked in {bundled} and {CHECKOUT_ASSETS})")


def render(relative: str, **values: str) -> str:
    """The template ``assets/<relative>`` with every placeholder filled (a missing one is an error)."""
    text = (assets_dir() / relative).read_text(encoding="utf-8")
    try:
        return Template(text).substitute(values)
    except KeyError as exc:
        raise InstallError(f"{relative}: no value for the placeholder {exc}") from exc
    except ValueError as exc:
        raise InstallError(f"{relative}: {exc}") from exc
