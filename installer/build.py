"""``make binary`` / ``make binary-edge``: stamp the build, run PyInstaller, print size and time.

    python installer/build.py [full|edge] [--onefile]

Writes ``build/BUILD_INFO.json`` (version, commit, variant) that the spec ships as
``appliance/BUILD_INFO.json`` (``appliance --version`` prints it), and refreshes
``assets/models.json`` from the packaged model manifest before bundling it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = {"full": "appliance.spec", "edge": "appliance-edge.spec"}
NAMES = {"full": "appliance", "edge": "appliance-edge"}
MANIFEST = ROOT / "src" / "appliance" / "vision" / "models.json"
"""The model manifest; ``assets/models.json`` is a copy of it."""


def commit() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def strip(folder: Path) -> None:
    """Drop symbols from our own and the interpreter's shared objects (about 60 MiB).

    Not PyInstaller's ``strip=True``: that also rewrites the libraries auditwheel vendored into
    ``*.libs`` folders, and numpy's OpenBLAS then fails to load ("ELF load command address/offset
    not page-aligned"). Those come stripped already.
    """
    targets = [
        str(path)
        for path in folder.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and ".so" in path.name  # not the executable: its archive is appended to the bootloader
        and not any(part.endswith(".libs") for part in path.parts)
        and "openblas" not in path.name
    ]
    subprocess.run(["strip", "--strip-unneeded", *targets], check=True, capture_output=True)


def refresh_models_json(target: Path = ROOT / "assets" / "models.json") -> None:
    """Copy the packaged manifest to ``target``; left alone (and its mtime) when already the same."""
    if not target.is_file() or target.read_bytes() != MANIFEST.read_bytes():
        shutil.copyfile(MANIFEST, target)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("variant", choices=sorted(SPECS), nargs="?", default="full")
    parser.add_argument("--onefile", action="store_true", help="also pack the one-dir build into one file")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "src"))
    from appliance import __version__

    refresh_models_json()
    info = ROOT / "build" / f"info-{args.variant}" / "BUILD_INFO.json"  # the name it has in the bundle
    info.parent.mkdir(parents=True, exist_ok=True)
    info.write_text(json.dumps({"version": __version__, "commit": commit(), "variant": args.variant}) + "\n")

    env = {**os.environ, "APPLIANCE_BUILD_INFO": str(info), "APPLIANCE_ONEFILE": "1" if args.onefile else ""}
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
            "--distpath", str(ROOT / "dist"), "--workpath", str(ROOT / "build" / args.variant),
            str(ROOT / "installer" / SPECS[args.variant]),
        ],
        check=True,
        env=env,
    )  # fmt: skip
    folder = ROOT / "dist" / NAMES[args.variant]
    if sys.platform.startswith("linux") and shutil.which("strip"):
        strip(folder)
    seconds = time.monotonic() - started
    print(f"built {folder} in {seconds:.0f} s: {du(folder) / 2**20:.0f} MiB")
    onefile = ROOT / "dist" / f"{NAMES[args.variant]}-onefile"
    if args.onefile and onefile.is_file():
        print(f"and {onefile}: {onefile.stat().st_size / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
