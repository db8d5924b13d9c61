"""Milvus Lite as a sidecar process of ``appliance serve``.

Milvus Lite is pure Python: opened in-process (a ``.db`` URI) its searches hold the API's GIL, and
its data dir is locked by that one process. ``appliance serve`` therefore starts Lite in a child
process (``python -m appliance.vectors.lite_server``, a thin entry point around Lite's own
``run_server``) on a free loopback port, hands ``http://127.0.0.1:<port>`` to its workers, and
writes ``<data_dir>/milvus/server.json`` so CLI commands (reindex, purge, admin) use the same
server while it runs. See docs/adr/0004-vector-index-milvus.md and docs/runbooks/milvus-lite-sidecar.md.

The child serves the same directory an in-process Lite would open (``<data_dir>/milvus/vectors.db``),
so switching between the two keeps the data. It dies with its parent (PR_SET_PDEATHSIG on Linux
plus a watchdog thread polling the parent pid), ignores SIGINT/SIGHUP (a terminal Ctrl-C reaches
the whole process group; the parent stops it only after its workers flushed), and shuts down
gracefully on SIGTERM (Lite flushes and releases its lock).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import faulthandler
import functools
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any

import msgspec

from appliance.lib import heap
from appliance.vectors.lite_lane import lane_socket_path

log = logging.getLogger("appliance.vectors")

LITE_DIR_NAME = "vectors.db"
DISCOVERY_FILE = "server.json"
LOG_FILE = "sidecar.log"
DEFAULT_HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
"""Seconds a stopping sidecar gets to flush and close before it is killed."""
SELF_STOP_TIMEOUT = 10.0
"""Seconds the sidecar gives its own graceful close before it exits hard (when its parent died,
nobody else would kill it; Lite's write-ahead log replays at the next start)."""
WATCHDOG_INTERVAL = 0.5
LOG_TAIL_LINES = 25
_PORT_ATTEMPTS = 3
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LITE_VERSION_PREFIX = "milvus_lite"  # = appliance.vectors.milvus.LITE_VERSION_PREFIX (not imported: slow)

# RPCs that change a collection. Lite is single-writer per collection (in one process
# MilvusIndex serialises its writes); with several client processes the sidecar must do it.
_WRITE_RPCS = (
    "CreateCollection",
    "DropCollection",
    "RenameCollection",
    "AlterCollection",
    "TruncateCollection",
    "CreatePartition",
    "DropPartition",
    "CreateIndex",
    "DropIndex",
    "LoadCollection",
    "ReleaseCollection",
    "Insert",
    "Upsert",
    "Delete",
    "Flush",
    "ManualCompaction",
    "CreateDatabase",
    "DropDatabase",
    "AlterDatabase",
    "CreateAlias",
    "AlterAlias",
    "DropAlias",
)


class SidecarError(RuntimeError):
    """The sidecar could not be started (the message says why, with its log's last lines)."""


class SidecarInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The discovery file ``<data_dir>/milvus/server.json``."""

    pid: int
    port: int
    uri: str
    data_dir: str
    """The Lite data directory the sidecar serves (absolute)."""
    log: str = ""
    search_socket: str = ""
    """The search lane's Unix socket (``lite_lane``); empty when the path would be too long."""


def lite_data_dir(data_dir: str | Path) -> Path:
    """The directory Lite keeps its data in: the same one an in-process ``.db`` URI opens."""
    return Path(data_dir) / "milvus" / LITE_DIR_NAME


def discovery_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "milvus" / DISCOVERY_FILE


def read_discovery(path: Path) -> SidecarInfo | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=SidecarInfo)
    except (OSError, msgspec.DecodeError):
        return None


def find_sidecar(data_dir: str | Path, timeout: float = 2.0) -> SidecarInfo | None:
    """The live sidecar serving this data dir, or None (no file, or a stale one: dead pid, another
    data dir, or nothing Lite answering on its port)."""
    info = read_discovery(discovery_path(data_dir))
    if info is None:
        return None
    if Path(info.data_dir) != lite_data_dir(data_dir).resolve() or not pid_alive(info.pid):
        return None
    version = server_version(info.uri, timeout)
    if version is None or not version.startswith(_LITE_VERSION_PREFIX):
        return None
    return info


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a crashed child not yet reaped by its parent still has a pid
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def server_version(uri: str, timeout: float = 2.0) -> str | None:
    """What the Milvus at ``uri`` answers to GetVersion, or None if nothing answers in time."""
    from pymilvus import MilvusClient

    client = None
    try:
        client = MilvusClient(uri=uri, timeout=timeout)
        return str(client.get_server_version(timeout=timeout))
    except Exception:
        return None
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class _PortTaken(Exception):
    pass


class LiteSidecar:
    """Starts and stops one sidecar for a data dir; usable as a context manager.

    Call ``start()`` from a long-lived thread (the main thread): Linux sends the parent-death
    signal when the *thread* that spawned the child exits, not only the process.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        host: str = DEFAULT_HOST,
        startup_timeout: float = STARTUP_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()  # the child and CLI commands may run elsewhere
        self.host = host
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.lite_dir = lite_data_dir(self.data_dir)
        self.discovery = discovery_path(self.data_dir)
        self.log_path = self.data_dir / "milvus" / LOG_FILE
        self.search_socket = lane_socket_path(self.lite_dir)
        self.info: SidecarInfo | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def uri(self) -> str:
        if self.info is None:
            raise RuntimeError("the sidecar is not running")
        return self.info.uri

    def start(self) -> SidecarInfo:
        """Start the server, wait until it answers, write the discovery file. Blocking."""
        if self._proc is not None:
            raise RuntimeError("the sidecar is already started")
        self.lite_dir.parent.mkdir(parents=True, exist_ok=True)
        live = find_sidecar(self.data_dir)
        if live is not None:
            raise SidecarError(
                f"a Milvus Lite sidecar (pid {live.pid}, {live.uri}) already serves {self.lite_dir}: "
                "is another `appliance serve` running on this data dir? Stop it first "
                "(see docs/runbooks/milvus-lite-sidecar.md)"
            )
        if self.discovery.exists():
            stale = read_discovery(self.discovery)
            log.warning(
                "ignoring a stale Milvus Lite discovery file",
                extra={"file": str(self.discovery), "stale_pid": stale.pid if stale else None},
            )
            self.discovery.unlink(missing_ok=True)
        started = time.monotonic()
        for _ in range(_PORT_ATTEMPTS):
            port = free_port(self.host)
            self._spawn(port)
            try:
                version = self._wait_ready(port)
                break
            except _PortTaken:  # another process took the port between our probe and the bind
                self._reap()
        else:
            raise SidecarError(f"the Milvus Lite sidecar could not bind a port; see {self.log_path}")
        assert self._proc is not None
        self.info = SidecarInfo(
            pid=self._proc.pid,
            port=port,
            uri=f"http://{self.host}:{port}",
            data_dir=str(self.lite_dir.resolve()),
            log=str(self.log_path),
            search_socket=str(self.search_socket or ""),
        )
        self._write_discovery(self.info)
        log.info(
            "milvus lite sidecar started",
            extra={
                "uri": self.info.uri,
                "sidecar_pid": self.info.pid,
                "data_dir": self.info.data_dir,
                "log_file": self.info.log,
                "version": version,
                "startup_s": round(time.monotonic() - started, 2),
            },
        )
        return self.info

    def restart(self) -> SidecarInfo:
        """Start the server again on the same port after it died: its clients (the workers'
        gRPC channels, the discovery file's readers) reconnect to the address they know."""
        if self.info is None:
            raise RuntimeError("the sidecar was never started")
        if self.running():
            return self.info
        port, uri = self.info.port, self.info.uri
        self._reap()
        started = time.monotonic()
        self._spawn(port)
        try:
            version = self._wait_ready(port)
        except _PortTaken as exc:
            self._reap()
            raise SidecarError(f"the Milvus Lite sidecar cannot bind its port {port} again") from exc
        assert self._proc is not None
        self.info = msgspec.structs.replace(self.info, pid=self._proc.pid)
        self._write_discovery(self.info)
        log.warning(
            "milvus lite sidecar restarted",
            extra={
                "uri": uri,
                "sidecar_pid": self.info.pid,
                "version": version,
                "startup_s": round(time.monotonic() - started, 2),
            },
        )
        return self.info

    def exit_code(self) -> int | None:
        """The sidecar's exit status once it has ended (None while it runs or before a start)."""
        return self._proc.poll() if self._proc is not None else None

    def _spawn(self, port: int) -> None:
        if self.log_path.exists():  # keep the previous run's log for a post-mortem
            os.replace(self.log_path, self.log_path.with_name(LOG_FILE + ".1"))
        self._log_file = self.log_path.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # One OpenMP thread for FAISS unless the operator says otherwise: its searches are small
        # batches and its index builds run beside the API and PostgreSQL; on the 2-core box a
        # second thread spun more than it helped (ADR 0006: index builds 12.4 -> 7.5 ms median,
        # 626-645 -> 646-661 events/s).
        env.setdefault("OMP_NUM_THREADS", "1")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "appliance.vectors.lite_server",
                "--data-dir",
                str(self.lite_dir),
                "--host",
                self.host,
                "--port",
                str(port),
                "--parent-pid",
                str(os.getpid()),
                "--discovery-file",
                str(self.discovery),
                *(["--search-socket", str(self.search_socket)] if self.search_socket else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            close_fds=True,
        )

    def _wait_ready(self, port: int) -> str:
        assert self._proc is not None
        uri = f"http://{self.host}:{port}"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                tail = self.log_tail()
                if "Failed to bind" in tail:
                    raise _PortTaken
                self._reap()
                hint = ""
                if "DataDirLockedError" in tail:
                    hint = (
                        " — another process has the Lite data dir open (an `appliance` command, or a "
                        "serve with APPLIANCE_MILVUS_LITE_SIDECAR=false); stop it and start again"
                    )
                raise SidecarError(
                    f"the Milvus Lite sidecar exited with code {code} while starting "
                    f"(data dir {self.lite_dir}){hint}; last lines of {self.log_path}:\n{tail}"
                )
            if _port_open(self.host, port):
                version = server_version(uri, timeout=2.0)
                if version is not None and version.startswith(_LITE_VERSION_PREFIX):
                    return version
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self._terminate()
                raise SidecarError(
                    f"the Milvus Lite sidecar did not answer on {uri} within {self.startup_timeout:.0f} s; "
                    f"last lines of {self.log_path}:\n{tail}"
                )
            time.sleep(0.1)

    def _write_discovery(self, info: SidecarInfo) -> None:
        tmp = self.discovery.with_name(DISCOVERY_FILE + ".tmp")
        tmp.write_bytes(msgspec.json.format(msgspec.json.encode(info)) + b"\n")
        os.replace(tmp, self.discovery)  # readers never see half a file

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Remove the discovery file, SIGTERM the sidecar, kill it after ``stop_timeout``."""
        proc = self._proc
        if proc is None:
            return
        remove_discovery(self.discovery, proc.pid)  # first: no new client finds a stopping server
        code = self._terminate()
        self.info = None
        log.info("milvus lite sidecar stopped", extra={"sidecar_pid": proc.pid, "returncode": code})

    def _terminate(self) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning(
                    "milvus lite sidecar did not stop in time; killing it",
                    extra={"sidecar_pid": proc.pid, "timeout_s": self.stop_timeout},
                )
                proc.kill()
                proc.wait()
        self._reap()
        return proc.returncode

    def _reap(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
        self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> LiteSidecar:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SidecarSupervisor:
    """Restarts the sidecar when it dies while ``serve`` runs: without it ingest answers 503
    until someone restarts the box. Retries with a growing pause when a restart fails. The
    workers' write-behind keeps failed vector writes and applies them once it is back.

    Run it on a long-lived thread of its own (it spawns the new sidecar, whose parent-death
    signal follows the spawning thread), and stop it before stopping the sidecar."""

    def __init__(self, sidecar: LiteSidecar, interval: float = 1.0, max_pause: float = 30.0) -> None:
        self.sidecar = sidecar
        self.interval = interval
        self.max_pause = max_pause
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sidecar-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; waits for a restart in progress, so the caller can then stop the
        sidecar without racing it."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(self.sidecar.startup_timeout + STOP_TIMEOUT)

    def _run(self) -> None:
        pause = self.interval
        while not self._stopping.wait(pause):
            try:
                pause = self._check(pause)
            except Exception:  # this thread must live on: the sidecar's death signal follows it
                log.exception("milvus lite sidecar supervision failed; checking again")
                pause = self.max_pause

    def _check(self, pause: float) -> float:
        """One look at the sidecar; the pause before the next."""
        if self.sidecar.running():
            return self.interval
        log.error(
            "milvus lite sidecar is not running; restarting it",
            extra={"returncode": self.sidecar.exit_code(), "log_tail": self.sidecar.log_tail(10)},
        )
        try:
            self.sidecar.restart()
        except (SidecarError, OSError):
            pause = min(max(pause, self.interval) * 2, self.max_pause)
            log.exception("milvus lite sidecar restart failed; next try in %.0f s", pause)
            return pause
        self.restarts += 1
        return self.interval


def remove_discovery(path: Path, pid: int) -> None:
    """Remove the discovery file if it still names ``pid`` (a newer sidecar may own it)."""
    info = read_discovery(path)
    if info is not None and info.pid == pid:
        path.unlink(missing_ok=True)


# -- the child process -------------------------------------------------------------------------


def _set_parent_death_signal(sig: int) -> bool:
    """Linux: have the kernel send ``sig`` to this process when its parent (thread) dies."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result = libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return False
    return bool(result == 0)


def _watch_parent(parent_pid: int, on_orphaned: Callable[[], None]) -> None:
    """Fallback for the death signal (other OSes, or a lost race): an orphan is re-parented."""
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_INTERVAL)
    on_orphaned()


def _install_fastpath() -> bool:
    """Patch Lite's search with the vectorised one when that module is there."""
    try:
        module = importlib.import_module("appliance.vectors.lite_fastpath")
    except ImportError as exc:
        missing = isinstance(exc, ModuleNotFoundError) and exc.name == "appliance.vectors.lite_fastpath"
        log.info(
            "milvus lite fastpath not installed",
            extra={"fastpath": False, "reason": "module absent" if missing else repr(exc)},
        )
        return False
    try:
        installed = bool(module.install())
    except Exception:  # a broken patch must not take the index down: Lite's own search still works
        log.exception("milvus lite fastpath failed to install", extra={"fastpath": False})
        return False
    log.info("milvus lite fastpath", extra={"fastpath": installed})
    return installed


_PATCHES = {
    "compaction_off_search_lock": "appliance.vectors.lite_compaction",
    "plain_parquet_vectors": "appliance.vectors.lite_parquet",
    "fast_record_validation": "appliance.vectors.lite_validation",
    "memtable_without_python_cells": "appliance.vectors.lite_memtable",
}
"""Lite patches besides the fast path: compaction off the search lock, vectors written without
Parquet dictionaries, record validation without a loop per float, the memtable's flush table and
search vectors without a Python value per cell. Each module's ``install()`` checks the version
and stock sources it was written against."""


def _install_patches() -> dict[str, bool]:
    """Install each of ``_PATCHES``; which ones are in place."""
    installed = {}
    for name, module in _PATCHES.items():
        try:
            installed[name] = bool(importlib.import_module(module).install())
        except Exception:  # the stock code still works: never take the index down for a patch
            log.exception("milvus lite patch %s failed to install", name)
            installed[name] = False
    return installed


def _serialise_writes() -> threading.Lock:
    """Run the servicer's write RPCs one at a time (reads stay concurrent, as in one process);
    the lock, for the lane's upserts to take as well."""
    from milvus_lite.adapter.grpc import server as grpc_server

    base: Any = grpc_server.MilvusServicer
    lock = threading.Lock()

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(self: Any, request: Any, context: Any) -> Any:
            with lock:
                return method(self, request, context)

        return call

    methods = {name: locked(getattr(base, name)) for name in _WRITE_RPCS if hasattr(base, name)}
    # run_server builds its servicer from this module attribute.
    grpc_server.MilvusServicer = type("SerialisedWritesServicer", (base,), methods)
    return lock


def _run_server(
    data_dir: str,
    host: str,
    port: int,
    max_workers: int,
    search_socket: str | None,
    write_lock: threading.Lock,
) -> None:
    """Lite's own ``run_server`` (milvus_lite.adapter.grpc.server), plus the search lane on the
    same engine. Blocks until KeyboardInterrupt; then drains gRPC calls and closes Lite."""
    from milvus_lite.adapter.grpc.server import _build_server
    from milvus_lite.db import MilvusLite

    from appliance.vectors.lite_lane import LaneServer

    db = MilvusLite(data_dir)
    lane = LaneServer(db, Path(search_socket), write_lock) if search_socket else None
    server = _build_server(db, max_workers)
    try:
        if lane is not None:
            try:
                lane.start()  # before gRPC answers: the parent's readiness check covers both
            except OSError as exc:  # searches still work through gRPC
                log.warning("search lane not started: %s", exc, extra={"socket": search_socket})
                lane = None
        server.add_insecure_port(f"{host}:{port}")
        server.start()
        # The opened segments and every import: out of the collector's full passes (lib/heap.py).
        heap.freeze_long_lived("milvus lite sidecar started")
        server.wait_for_termination()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(grace=5)
        if lane is not None:
            lane.stop()
        db.close()


def _exit_hard() -> None:
    """A graceful close that hangs must not keep the sidecar (and its Lite file) alive: log where
    every thread is, then exit."""
    log.error("milvus lite sidecar did not close in %.0f s; exiting hard", SELF_STOP_TIMEOUT)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    os._exit(3)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m appliance.vectors.lite_server", description="Milvus Lite sidecar"
    )
    parser.add_argument("--data-dir", required=True, help="Lite data directory (created if missing)")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-workers", type=int, default=10, help="gRPC thread pool size")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when it dies (default: ours)")
    parser.add_argument("--discovery-file", default=None, help="removed at exit if it names this pid")
    parser.add_argument("--search-socket", default=None, help="serve the search lane (lite_lane) here")
    args = parser.parse_args(argv)

    from appliance.lib.logging import configure_logging

    configure_logging("INFO", json_output=True)
    logging.getLogger("faiss").setLevel(logging.WARNING)  # which CPU build it loaded, at every start
    heap.enable()
    parent_pid: int = args.parent_pid if args.parent_pid is not None else os.getppid()
    discovery = Path(args.discovery_file) if args.discovery_file else None
    stopping = threading.Event()

    def shutdown(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            return  # a second request must not abort the graceful close
        stopping.set()
        deadline = threading.Timer(SELF_STOP_TIMEOUT, _exit_hard)
        deadline.daemon = True
        deadline.start()
        if discovery is not None:
            remove_discovery(discovery, os.getpid())
        log.info("milvus lite sidecar stopping", extra={"signal": signal.Signals(signum).name})
        raise KeyboardInterrupt  # run_server stops the gRPC server and closes Lite on it

    # The parent decides when we stop: Ctrl-C in a terminal signals the whole process group,
    # and the API workers still flush their writes to us while they shut down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, shutdown)
    death_signal = _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        log.warning("parent process is gone; not starting", extra={"parent_pid": parent_pid})
        return 1
    threading.Thread(
        target=_watch_parent,
        args=(parent_pid, lambda: os.kill(os.getpid(), signal.SIGTERM)),
        name="parent-watchdog",
        daemon=True,
    ).start()

    try:
        fastpath = _install_fastpath()
        patches = _install_patches()
        write_lock = _serialise_writes()
        log.info(
            "milvus lite sidecar starting",
            extra={
                "data_dir": args.data_dir,
                "port": args.port,
                "parent_pid": parent_pid,
                "death_signal": death_signal,
                "fastpath": fastpath,
                **patches,
            },
        )
        _run_server(args.data_dir, args.host, args.port, args.max_workers, args.search_socket, write_lock)
    except KeyboardInterrupt:  # SIGTERM before run_server's own handler was reached
        pass
    finally:
        if discovery is not None:
            remove_discovery(discovery, os.getpid())
    log.info("milvus lite sidecar stopped cleanly")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
