"""Shared plumbing for the benchmarks: a throwaway database, the real server, percentiles.

Every bench creates its own database + runtime role (``appliance.db.migrate.run_migrations``)
with a unique name and drops both at the end, so it never touches a real installation.
PostgreSQL is found through ``APPLIANCE_BENCH_PG`` (an owner/superuser URL to any database
on the server), default ``postgresql://postgres@127.0.0.1:5432/postgres``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import psycopg

from appliance.config import Settings, load_settings

PG_ADMIN_URL = os.environ.get("APPLIANCE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parents[1]


class BenchError(RuntimeError):
    """A precondition failed (PostgreSQL unreachable, server did not start …): print it, exit 2."""


def require_postgres() -> None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        where = PG_ADMIN_URL.rsplit("@", 1)[-1]
        raise BenchError(
            f"PostgreSQL is not reachable at {where}: {str(exc).strip()}\n"
            "Start it, or point APPLIANCE_BENCH_PG at an owner URL, e.g. "
            "postgresql://postgres@127.0.0.1:5432/postgres"
        ) from exc


def admin_exec(*statements: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


@contextlib.contextmanager
def bench_database(name: str, **overrides: Any) -> Iterator[Settings]:
    """A migrated database ``bench_<name>_<hex>`` with its own runtime role; both dropped after."""
    from appliance.db.migrate import run_migrations

    require_postgres()
    suffix = uuid.uuid4().hex[:10]
    db_name, role = f"bench_{name}_{suffix}", f"bench_{name}_app_{suffix}"
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as data_dir:
        settings = load_settings(
            env={},
            database_url=f"{base}/{db_name}",
            app_role=role,
            data_dir=data_dir,
            **overrides,
        )
        try:
            run_migrations(settings)
            yield settings
        finally:
            admin_exec(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}'",
                f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)',
                f"DROP ROLE IF EXISTS {role}",
            )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for ``appliance …`` subprocesses: the bench's settings, nothing inherited
    that could point them elsewhere (an exported APPLIANCE_APP_DATABASE_URL, a JWT key …)."""
    keep = {"APPLIANCE_MODELS_DIR", "APPLIANCE_EMBEDDER"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_") or k in keep}
    env.update(
        {
            "APPLIANCE_DATABASE_URL": settings.database_url,
            "APPLIANCE_APP_ROLE": settings.app_role,
            "APPLIANCE_DATA_DIR": settings.data_dir,
            "APPLIANCE_RATE_LIMIT_AUTH_PER_MINUTE": str(settings.rate_limit_auth_per_minute),
            "APPLIANCE_RATE_LIMIT_INGEST_PER_SECOND": str(settings.rate_limit_ingest_per_second),
        }
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def serve(settings: Settings, workers: int = 1, **extra_env: str) -> Iterator[str]:
    """``appliance serve`` (uvicorn) in a subprocess on a free port; yields its base URL."""
    port = free_port()
    with tempfile.NamedTemporaryFile("w+b", prefix="bench-serve-", suffix=".log") as log:
        command = [sys.executable, "-m", "appliance", "serve", "--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=settings_env(settings, **extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise BenchError(f"the server exited with {proc.returncode}:\n{_tail(log.name)}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise BenchError(f"the server did not become ready in 60 s:\n{_tail(log.name)}")
                time.sleep(0.2)
            yield url
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _tail(path: str, lines: int = 30) -> str:
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "n": len(ordered),
        "p50": cuts[49],
        "p95": cuts[94],
        "p99": cuts[98],
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def print_latency(label: str, samples_ms: Sequence[float]) -> dict[str, float]:
    p = percentiles(samples_ms)
    print(
        f"  {label:<34} n={int(p['n']):>4}  p50={p['p50']:7.2f} ms  p95={p['p95']:7.2f} ms"
        f"  p99={p['p99']:7.2f} ms  max={p['max']:7.2f} ms"
    )
    return p


def main_guard(run: Any) -> None:
    """Run ``run()``; a ``BenchError`` becomes a clear message and exit status 2."""
    try:
        run()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


def face_event(site_id: str, camera_id: str, captured_at: str, vector: Any) -> dict[str, Any]:
    """An ``Event.FaceDetected.v1`` body as an edge sends it (a fresh event_id)."""
    return {
        "event_id": str(uuid.uuid4()),
        "site_id": site_id,
        "camera_id": camera_id,
        "captured_at": captured_at,
        "embedding": [float(x) for x in vector],
        "det_score": 0.9,
        "bbox": [10, 10, 100, 120],
        "landmarks": [[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]],
        "quality": 0.8,
        "is_staff_local": False,
        "model": {"name": "bench", "version": "1"},
    }


CPU_GROUPS = (
    ("api", "appliance serve"),
    ("api", "multiprocessing.spawn"),  # the workers of ``serve --workers N``
    ("postgres", "postgres"),
    ("wrk", "wrk"),
)
"""Process groups by a piece of their command line, first match wins."""


class ProcessCpu:
    """CPU time per process group over a window, from /proc (Linux): where an event's cost goes."""

    def __init__(self) -> None:
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._start: dict[int, tuple[str, int]] = {}
        self._started = 0.0

    @staticmethod
    def _group(cmdline: str) -> str:
        return next((name for name, part in CPU_GROUPS if part in cmdline), "other")

    def _sample(self) -> dict[int, tuple[str, int]]:
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # ended meanwhile
                continue
            fields = stat.rsplit(")", 1)[1].split()
            found[int(entry.name)] = (self._group(cmdline), int(fields[11]) + int(fields[12]))
        return found

    def start(self) -> None:
        self._start, self._started = self._sample(), time.monotonic()

    def stop(self) -> tuple[dict[str, float], float]:
        """CPU seconds per group since ``start`` (processes that ended meanwhile are missed), and
        the wall time."""
        end, wall = self._sample(), time.monotonic() - self._started
        spent: dict[str, float] = {}
        for pid, (group, ticks) in end.items():
            before = self._start.get(pid)
            used = ticks - (before[1] if before is not None and before[0] == group else 0)
            spent[group] = spent.get(group, 0.0) + used / self._ticks
        return spent, wall
