"""``appliance edge`` at a terminal (a pseudo-terminal here) vs under a service manager (a pipe):
a status line and plain errors for a person, JSON lines and patient retries for systemd (issue 22)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from appliance.config import Settings
from appliance.edge.videogen import VideoInfo
from tests.integration.edge.conftest import EdgeShop, LiveServer

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


def _edge(*args: str, queue: Path, tty: bool, models_dir: str) -> tuple[subprocess.Popen[bytes], int | None]:
    """The edge command with stdout on a pseudo-terminal (``tty``) or a pipe; stderr always a pipe."""
    env = {**os.environ, "APPLIANCE_MODELS_DIR": models_dir, "APPLIANCE_LOG_LEVEL": "INFO", "COLUMNS": "200"}
    command = [sys.executable, "-m", "appliance.cli.edge", *args, "--queue", str(queue)]
    if not tty:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE), None
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, env=env, stdout=follower, stderr=subprocess.PIPE)
    os.close(follower)
    return process, leader


def _read_terminal(leader: int, process: subprocess.Popen[bytes], timeout: float) -> str:
    """Everything written to the terminal until the process ends (or ``timeout``)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the other side closed: the process is gone
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(leader)
    return ANSI.sub("", b"".join(chunks).decode(errors="replace"))


def test_an_unreachable_api_is_a_clear_error_at_a_terminal(
    tmp_path: Path, edge_api_settings: Settings
) -> None:
    api = f"http://127.0.0.1:{_closed_port()}"
    args = ("--api", api, "--api-key", "apk_test_unused")
    process, leader = _edge(
        *args, queue=tmp_path / "q.sqlite3", tty=True, models_dir=edge_api_settings.models_dir
    )
    assert leader is not None
    _read_terminal(leader, process, timeout=30)
    assert process.wait(timeout=30) == 2
    assert process.stderr is not None
    error = " ".join(process.stderr.read().decode().split())
    assert f"cannot reach the API at {api}" in error and "refused" in error.lower(), error
    assert "appliance serve" in error and "--api" in error
    assert "{" not in error  # no JSON log line


def test_under_a_service_manager_it_logs_json_and_keeps_retrying(
    tmp_path: Path, edge_api_settings: Settings
) -> None:
    api = f"http://127.0.0.1:{_closed_port()}"
    args = ("--api", api, "--api-key", "apk_test_unused")
    process, _ = _edge(
        *args, queue=tmp_path / "q.sqlite3", tty=False, models_dir=edge_api_settings.models_dir
    )
    assert process.stderr is not None
    try:
        deadline = time.monotonic() + 60
        while True:
            line = process.stderr.readline().decode()
            assert line and time.monotonic() < deadline, "no retry line"
            if not line.startswith("{"):
                continue  # Python's own warnings (runpy) are not log lines
            if "API not reachable" in json.loads(line)["msg"]:
                break
        time.sleep(1.5)
        assert process.poll() is None  # still retrying: a box may boot before its API
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_a_terminal_shows_one_status_line_then_a_summary(
    live_api: LiveServer, shop: EdgeShop, edge_api_settings: Settings, short_video: VideoInfo, tmp_path: Path
) -> None:
    args = (
        "--api",
        live_api.url,
        "--api-key",
        shop.api_key,
        "--camera",
        f"{shop.camera['id']}={short_video.path}",
    )
    process, leader = _edge(
        *args, queue=tmp_path / "q.sqlite3", tty=True, models_dir=edge_api_settings.models_dir
    )
    assert leader is not None
    screen = _read_terminal(leader, process, timeout=240)
    assert process.wait(timeout=60) == 0, screen
    assert f"edge → {live_api.url}: 1 camera(s)" in screen and "events queued" in screen, screen
    expected = len(short_video.appearances)
    assert f"{expected} events queued, {expected} sent, 0 waiting in the queue" in " ".join(screen.split()), (
        screen
    )
    assert '{"ts"' not in screen  # no JSON on the terminal
    assert len(shop.visits()) == expected


def test_a_refused_key_at_a_terminal_is_one_clear_error(
    live_api: LiveServer, edge_api_settings: Settings, tmp_path: Path
) -> None:
    args = ("--api", live_api.url, "--api-key", "apk_not_a_real_key")
    process, leader = _edge(
        *args, queue=tmp_path / "q.sqlite3", tty=True, models_dir=edge_api_settings.models_dir
    )
    assert leader is not None
    screen = _read_terminal(leader, process, timeout=60)
    assert process.wait(timeout=30) == 2, screen
    assert process.stderr is not None
    error = " ".join(process.stderr.read().decode().split())
    assert "the API refused" in error and "Traceback" not in error + screen, error
