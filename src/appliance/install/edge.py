"""``appliance install edge``: the edge worker as a launchd agent on the Mac Mini.

Writes ``~/Library/LaunchAgents/<label>.plist`` (KeepAlive, logs under ``~/Library/Logs/appliance``,
mode 0600: it holds the API key), after checking the model pack (present, sha256 as in the
manifest) and that every camera can be opened. On macOS with the real home it then loads the agent
with ``launchctl bootstrap gui/<uid>``; ``--root DIR`` stands in for the home (tests, staging).
"""

from __future__ import annotations

import os
import platform
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from appliance.install.plan import Echo, InstallError, Plan
from appliance.install.preflight import Check, ffmpeg
from appliance.install.templates import render
from appliance.lib.frozen import self_command

LABEL = "com.appliance.edge"


@dataclass
class EdgeOptions:
    api: str
    api_key: str
    cameras: list[str] = field(default_factory=list)
    root: Path | None = None
    """Stands in for the home directory; None: the real home (and launchctl on macOS)."""
    models_dir: Path | None = None
    label: str = LABEL
    dry_run: bool = False
    check_cameras: bool = True
    run: Callable[..., subprocess.CompletedProcess[str]] = field(default=subprocess.run, repr=False)


@dataclass
class EdgeLayout:
    home: Path
    label: str

    @property
    def plist(self) -> Path:
        return self.home / "Library" / "LaunchAgents" / f"{self.label}.plist"

    @property
    def logs(self) -> Path:
        return self.home / "Library" / "Logs" / "appliance"

    @property
    def support(self) -> Path:
        return self.home / "Library" / "Application Support" / "appliance"


def _string(value: str, indent: int) -> str:
    return " " * indent + f"<string>{escape(value)}</string>"


def program_arguments(options: EdgeOptions, layout: EdgeLayout) -> list[str]:
    argv = [*self_command(), "edge", "--queue", str(layout.support / "edge-queue.sqlite3")]
    for camera in options.cameras:
        argv += ["--camera", camera]
    return argv


def render_plist(options: EdgeOptions, layout: EdgeLayout, models_dir: Path) -> str:
    environment = {
        "APPLIANCE_EDGE_API": options.api,
        "APPLIANCE_EDGE_API_KEY": options.api_key,
        "APPLIANCE_MODELS_DIR": str(models_dir),
        "APPLIANCE_DATA_DIR": str(layout.support),
        "APPLIANCE_LOG_JSON": "true",
    }
    text = render(
        "launchd/com.appliance.edge.plist",
        label=escape(options.label),
        arguments="\n".join(_string(arg, 4) for arg in program_arguments(options, layout)),
        environment="\n".join(
            f"    <key>{escape(key)}</key>\n{_string(value, 4)}" for key, value in environment.items()
        ),
        data_dir=escape(str(layout.support)),
        log_dir=escape(str(layout.logs)),
    )
    loaded = plistlib.loads(text.encode())  # a template or escaping mistake fails here, not in launchd
    if loaded.get("Label") != options.label or not loaded.get("KeepAlive"):
        raise InstallError("the rendered launchd plist lost its Label or KeepAlive")
    return text


def model_pack(models_dir: Path) -> Check:
    """The detector, the embedder and the attribute models are present with the manifest's sha256."""
    from appliance.config import load_settings
    from appliance.vision.models import MANIFEST, pack_status

    embedder = load_settings().embedder
    needed = [p for p in MANIFEST if (p.ships and p.role != "embedder") or p.file == embedder]
    states = {pack.file: pack_status(pack, models_dir).state for pack in needed}
    bad = {name: state for name, state in states.items() if state not in {"ok", "unpinned"}}
    if bad:
        listed = ", ".join(f"{name} {state}" for name, state in bad.items())
        return Check(
            "models", False, f"{listed} in {models_dir}: `appliance models pull --models-dir {models_dir}`"
        )
    return Check("models", True, f"{len(states)} model files verified in {models_dir}")


def cameras(specs: list[str]) -> list[Check]:
    """Each ``ID=SOURCE`` parses and opens (USB index: the camera permission is granted; file: readable)."""
    from appliance.edge.capture import open_capture, parse_camera_arg

    checks = []
    for value in specs:
        try:
            spec = parse_camera_arg(value)
        except ValueError as exc:
            checks.append(Check(f"camera {value}", False, str(exc)))
            continue
        source = spec.source
        if isinstance(source, str) and "://" in source:
            checks.append(
                Check(f"camera {spec.camera_id}", True, f"network stream {source} (opened at start)", False)
            )
            continue
        try:
            capture = open_capture(spec)
        except OSError as exc:  # a missing file, or no ffmpeg program
            checks.append(Check(f"camera {spec.camera_id}", False, str(exc)))
            continue
        try:
            opened = capture.read()[0]
        finally:
            capture.release()
        detail = f"{source} opened" if opened else f"{source} cannot be opened"
        if not opened and str(source).isdigit() and platform.system() == "Darwin":
            detail += " (grant camera access: System Settings → Privacy & Security → Camera)"
        checks.append(Check(f"camera {spec.camera_id}", bool(opened), detail))
    return checks


def install_edge(options: EdgeOptions, echo: Echo) -> Path:
    home = options.root or Path.home()
    layout = EdgeLayout(home, options.label)
    models_dir = options.models_dir or layout.support / "models"
    if options.root is None and platform.system() != "Darwin":
        raise InstallError(
            "`install edge` writes a launchd agent (macOS); pass --root DIR to stage it elsewhere"
        )
    checks = [model_pack(models_dir), ffmpeg(fatal=True)]
    if options.check_cameras:
        checks += cameras(options.cameras)
    for check in checks:
        mark = "ok " if check.ok else "FAIL" if check.fatal else "warn"
        echo(f"preflight {mark} {check.name}: {check.detail}")
    failed = [c for c in checks if not c.ok and c.fatal]
    if failed and not options.dry_run:
        raise InstallError("preflight failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed))
    text = render_plist(options, layout, models_dir)

    def write() -> str:
        for folder in (layout.plist.parent, layout.logs, layout.support):
            folder.mkdir(parents=True, exist_ok=True)
        tmp = layout.plist.with_name(f".{layout.plist.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        tmp.replace(layout.plist)
        if shutil.which("plutil"):
            result = options.run(
                ["plutil", "-lint", str(layout.plist)], capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                raise InstallError(f"plutil -lint: {result.stdout.strip()}")
        return "plist written (0600: it holds the API key)"

    plan = Plan()
    plan.add(f"write {layout.plist} (KeepAlive, logs in {layout.logs})", write)
    if options.root is None:
        domain = f"gui/{os.getuid()}"

        def load() -> str:
            options.run(["launchctl", "bootout", domain, str(layout.plist)], capture_output=True, check=False)
            result = options.run(
                ["launchctl", "bootstrap", domain, str(layout.plist)],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise InstallError(f"launchctl bootstrap: {result.stderr.strip()}")
            return f"loaded into {domain} ({options.label})"

        plan.add(f"launchctl bootstrap {domain} (replacing a loaded {options.label})", load)
    else:
        plan.add("staging root: launchd is not told")
    plan.execute(dry_run=options.dry_run, echo=echo)
    echo(f"edge agent {options.label}: {' '.join(program_arguments(options, layout))}")
    echo(f"logs: {layout.logs}")
    return layout.plist


def uninstall_edge(root: Path | None, label: str, dry_run: bool, echo: Echo) -> None:
    layout = EdgeLayout(root or Path.home(), label)
    plan = Plan()
    if root is None and sys.platform == "darwin":
        domain = f"gui/{os.getuid()}"

        def unload() -> str:
            result = subprocess.run(
                ["launchctl", "bootout", domain, str(layout.plist)],
                capture_output=True,
                text=True,
                check=False,
            )
            return (result.stderr or result.stdout).strip() or "unloaded"

        plan.add(f"launchctl bootout {domain} {layout.plist}", unload)
    plan.add(f"remove {layout.plist} (the queue and logs stay)", lambda: layout.plist.unlink(missing_ok=True))
    plan.execute(dry_run=dry_run, echo=echo)
