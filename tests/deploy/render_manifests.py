"""Render the Helm chart offline (Helm's Go SDK through ``helm-python-sdk``; no helm binary).

    python -m tests.deploy.render_manifests --out rendered-manifests

writes ``<out>/<values set>/<template>.yaml`` for the default and the production values (the
CI artifact), and ``<out>/<values set>/NOTES.txt``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "appliance"
RELEASE, NAMESPACE = "shop", "appliance"
VALUE_SETS: dict[str, Path | None] = {
    "default": None,
    "production": CHART / "values-production.yaml",
}


def values(name: str) -> dict[str, Any]:
    path = VALUE_SETS[name]
    return {} if path is None else helm.values_from_yaml(path.read_text())


def render(overrides: dict[str, Any] | None = None, *, is_install: bool = True) -> dict[str, str]:
    """Template path → rendered text (empty templates dropped)."""
    with helm.Chart.load(CHART) as chart:
        out = chart.render(overrides or {}, name=RELEASE, namespace=NAMESPACE, is_install=is_install)
    return {path: text for path, text in out.items() if text.strip()}


def documents(rendered: dict[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object of a rendering (NOTES.txt left out)."""
    docs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".yaml"):
            docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


def write(out: Path) -> list[Path]:
    written = []
    for name in VALUE_SETS:
        target = out / name
        target.mkdir(parents=True, exist_ok=True)
        for path, text in render(values(name)).items():
            file = target / re.sub(r"^[^/]+/templates/", "", path).replace("/", "_")
            file.write_text(text if text.endswith("\n") else text + "\n")
            written.append(file)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="render the appliance chart")
    parser.add_argument("--out", type=Path, default=Path("rendered-manifests"))
    args = parser.parse_args(argv)
    for file in write(args.out):
        print(file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
