"""A real Milvus standalone server for tests, from the PyPI package ``milvus`` (no Docker, no network).

The package unpacks a standalone binary (embedded etcd, local storage) into a base dir and starts it;
that takes 6 to 8 s (half of it unpacking), so tests share one server per session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

BASE_DIR_PREFIX = "appliance-milvus-test-"


class MilvusServerError(RuntimeError):
    """The test server did not start (the message carries the server's log tail)."""


def _log_tail(base_dir: Path, lines: int = 40) -> str:
    parts = []
    for name in ("milvus-stderr.log", "milvus-stdout.log"):
        path = base_dir / "logs" / name
        if path.exists():
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path} (last {len(tail)} lines) ---\n" + "\n".join(tail))
    return "\n".join(parts) or f"(no logs under {base_dir / 'logs'})"


def _server_pids(bin_dir: Path) -> list[int]:
    """Processes running the binary unpacked into ``bin_dir`` (ours alone: the dir is ours)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if Path(os.readlink(entry / "exe")).parent == bin_dir:
                pids.append(int(entry.name))
    return pids


def kill_orphans() -> None:
    """Kill servers of earlier test sessions that died without stopping theirs (reparented to init).

    Only binaries unpacked under our own base-dir prefix are candidates, and a live session's server
    still has its pytest as parent, so concurrent sessions are left alone.
    """
    tmp = Path(tempfile.gettempdir())
    for base in tmp.glob(BASE_DIR_PREFIX + "*"):
        for pid in _server_pids(base / "bin"):
            with contextlib.suppress(OSError, StopIteration, ValueError):
                status = Path(f"/proc/{pid}/status").read_text()
                ppid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
                if ppid == 1:
                    os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """These environment variables while the block runs (the server process inherits them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(uri: str, health_port: int) -> bool:
    """All components healthy (the package's own check) and the proxy serving gRPC."""
    from pymilvus import MilvusClient

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/healthz", timeout=2) as response:
            if b"OK" not in response.read():
                return False
        client = MilvusClient(uri=uri, timeout=2)
        try:
            client.list_collections(timeout=2)
        finally:
            client.close()
    except Exception:
        return False
    return True


class MilvusTestServer:
    """One Milvus standalone process in its own temp base dir."""

    def __init__(self, start_timeout: float = 120.0) -> None:
        from milvus import MilvusServer, MilvusServerConfig

        self.start_timeout = start_timeout
        self.base_dir = Path(tempfile.mkdtemp(prefix=BASE_DIR_PREFIX))
        # Our own instance, not the module-level ``default_server`` singleton: nothing else shares it.
        self._server: Any = MilvusServer(MilvusServerConfig(), wait_for_started=False)
        self._server.set_base_dir(str(self.base_dir))
        self.uri = ""
        self.spawned_in = self.started_in = 0.0

    def _etcd_config(self) -> str:
        """Embedded etcd's ports: the package picks a free client port but leaves the peer port at
        2380, so a second server on the machine (another test session) would fail to start."""
        client, peer = _free_port(), _free_port()
        self._server.config.update(etcd_port=client)
        path = self.base_dir / "embed-etcd.yaml"
        path.write_text(
            f"listen-client-urls: http://127.0.0.1:{client}\n"
            f"advertise-client-urls: http://127.0.0.1:{client}\n"
            f"listen-peer-urls: http://127.0.0.1:{peer}\n"
            f"initial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
            f"initial-cluster: default=http://127.0.0.1:{peer}\n"
        )
        return str(path)

    def start(self, attempts: int = 2) -> str:
        began = time.monotonic()
        deadline = began + self.start_timeout
        for attempt in range(1, attempts + 1):
            try:
                # The server reads its environment; the package passes ours on.
                with _environment(ETCD_CONFIG_PATH=self._etcd_config()):
                    self._server.start()  # unpacks the binary (about 3 s) and spawns it
            except Exception as exc:
                self._fail(f"could not be spawned ({exc})")
            self.spawned_in = time.monotonic() - began
            self.uri = f"http://127.0.0.1:{self._server.listen_port}"
            while time.monotonic() < deadline:
                if self._server.server_proc.poll() is not None:
                    break
                if _answers(self.uri, self._server.webservice_port):
                    self.started_in = time.monotonic() - began
                    return self.uri
                time.sleep(0.5)
            else:
                self._fail(
                    f"did not answer within {self.start_timeout:.0f} s "
                    f"(spawned after {self.spawned_in:.1f} s, unpacking included)"
                )
            if attempt == attempts:
                self._fail(f"exited with code {self._server.server_proc.returncode} while starting")
            # Likely a port taken between the package's check and the server's bind (another session
            # starting one too): retry on fresh ports and a fresh etcd.
            self._kill()
            shutil.rmtree(self.base_dir / "data", ignore_errors=True)
        raise AssertionError("unreachable")

    def _fail(self, what: str) -> NoReturn:
        tail = _log_tail(self.base_dir)
        self.stop()
        raise MilvusServerError(f"Milvus at {self.uri or '?'} {what} (base dir {self.base_dir})\n{tail}")

    def _kill(self) -> None:
        with contextlib.suppress(Exception):
            self._server.stop()  # SIGTERM, then SIGKILL after 1 s
        for pid in _server_pids(self.base_dir / "bin"):  # anything it left behind
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.base_dir, ignore_errors=True)
