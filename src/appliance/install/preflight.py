"""What must hold before an install changes anything; every check is read-only."""

from __future__ import annotations

import platform
import shutil
import socket
from pathlib import Path

import msgspec

MIN_POSTGRES = 140000
MIN_FREE_BYTES = 5 * 2**30
# numpy 2 and ONNX Runtime wheels need x86-64-v2; AVX2 is what makes the models fast.
X86_REQUIRED = ("sse4_2", "popcnt")
X86_WANTED = ("avx2", "fma")


class Check(msgspec.Struct, frozen=True):
    name: str
    ok: bool
    detail: str
    fatal: bool = True


def _maintenance(database_url: str) -> tuple[str, str]:
    """The owner URL's server with its maintenance database (the appliance's may not exist yet),
    and the host:port to name in messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(database_url)
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    return admin, parts.netloc.rsplit("@", 1)[-1]


def postgres(database_url: str, timeout: int = 5) -> Check:
    """The server answers on the owner URL (its maintenance database) and is new enough."""
    import psycopg

    admin, where = _maintenance(database_url)
    try:
        with psycopg.connect(admin, connect_timeout=timeout) as conn:
            row = conn.execute("SELECT current_setting('server_version_num')::int, version()").fetchone()
    except psycopg.Error as exc:
        return Check("postgresql", False, f"cannot connect to {where}: {str(exc).strip()}")
    assert row is not None
    number, text = int(row[0]), str(row[1]).split(" on ")[0]
    if number < MIN_POSTGRES:
        return Check("postgresql", False, f"{text} at {where}; 14 or newer is needed")
    return Check("postgresql", True, f"{text} at {where}")


def autovacuum(database_url: str, timeout: int = 5) -> Check:
    """A warning where the server runs without autovacuum: nothing then refreshes the planner's
    statistics, and the plans stay those made on empty tables (ADR 0013, amendment f)."""
    import psycopg

    try:
        with psycopg.connect(_maintenance(database_url)[0], connect_timeout=timeout) as conn:
            row = conn.execute(
                "SELECT current_setting('autovacuum') = 'on' AND current_setting('track_counts') = 'on'"
            ).fetchone()
    except psycopg.Error as exc:  # the postgresql check says why
        return Check("autovacuum", False, f"not checked: {str(exc).strip()}", fatal=False)
    if row is not None and row[0]:
        return Check("autovacuum", True, "on", fatal=False)
    return Check(
        "autovacuum",
        False,
        "off (autovacuum or track_counts): turn it on in postgresql.conf, or run VACUUM (ANALYZE) on the "
        "appliance's database nightly; without it ingest slows as the tables grow",
        fatal=False,
    )


def free_disk(path: Path, minimum: int = MIN_FREE_BYTES) -> Check:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    detail = f"{free / 2**30:.1f} GiB free at {existing}"
    if free < minimum:
        return Check("disk", False, f"{detail}; at least {minimum / 2**30:.0f} GiB needed")
    return Check("disk", True, detail)


def port(host: str, number: int, *, ours: bool = False) -> Check:
    """The port is free, or (``ours``: an upgrade) held by the appliance being upgraded."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, number))
        except OSError as exc:
            if ours:
                return Check("port", True, f"{host}:{number} in use by the installed appliance (upgrade)")
            return Check("port", False, f"{host}:{number} is taken ({exc.strerror})")
    return Check("port", True, f"{host}:{number} is free")


def cpu(machine: str | None = None, cpuinfo: str | None = None) -> Check:
    machine = (machine or platform.machine()).lower()
    if machine in {"x86_64", "amd64"}:
        if cpuinfo is None:
            try:
                cpuinfo = Path("/proc/cpuinfo").read_text()
            except OSError:
                return Check("cpu", True, "x86_64 (no /proc/cpuinfo to check its features)", fatal=False)
        flags = set()
        for line in cpuinfo.splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
        missing = [f for f in X86_REQUIRED if f not in flags]
        if missing:
            return Check("cpu", False, f"x86_64 without {', '.join(missing)} (x86-64-v2 is needed)")
        slow = [f for f in X86_WANTED if f not in flags]
        if slow:
            return Check(
                "cpu", True, f"x86_64 without {', '.join(slow)}: face models run slower", fatal=False
            )
        return Check("cpu", True, "x86_64 with " + ", ".join(X86_REQUIRED + X86_WANTED))
    if machine in {"aarch64", "arm64"}:
        return Check("cpu", True, f"{machine} (NEON)")
    return Check("cpu", False, f"{machine}: no binary is built for this CPU")


def models(models_dir: Path, files: tuple[str, ...]) -> Check:
    missing = [name for name in files if not (models_dir / name).is_file()]
    if missing:
        return Check(
            "models",
            False,
            f"{', '.join(missing)} missing in {models_dir}: run `appliance models pull --models-dir "
            f"{models_dir}` or pass --models-dir",
        )
    return Check("models", True, f"{', '.join(files)} in {models_dir}")


def ffmpeg(*, fatal: bool) -> Check:
    """The ffmpeg program the edge decodes video files, RTSP streams and cameras with (ADR 0016):
    fatal for an edge install, a warning on a server box (it runs edge workers only if asked)."""
    from appliance.edge.ffmpeg import FfmpegMissing, ffmpeg_program

    try:
        return Check("ffmpeg", True, ffmpeg_program(), fatal=fatal)
    except FfmpegMissing as exc:
        return Check("ffmpeg", False, str(exc), fatal=fatal)
