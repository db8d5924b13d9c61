"""``appliance demo`` as a newcomer runs it: the real binary entry point, the real pipeline
(detector, embedder, edge queue, API, PostgreSQL), then the dashboard it leaves running.

Two people (one photo each shown, nobody coming back) keep the video a few seconds long.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from appliance.config import Settings, load_settings
from appliance.demo import DEFAULT_FACES, resolve_models_dir
from appliance.lib.frozen import self_command

DASHBOARD = re.compile(r"^dashboard\s+(http://\S+?)/?\s*$")
LOGIN = re.compile(r"^login\s+(\S+)\s+password\s+(\S+)\s+\(shown only now\)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def two_people(tmp_path: Path) -> Path:
    """A faces folder of two people, one photo each (so nobody is planned to come back)."""
    source = Path(os.environ.get("APPLIANCE_TEST_FACES_DIR", DEFAULT_FACES)).resolve()
    folder = tmp_path / "faces"
    for person in ("alex_lacamoire", "obama"):
        (folder / person).mkdir(parents=True)
        photo = sorted((source / person).iterdir())[0]
        (folder / person / photo.name).symlink_to(photo)
    return folder


@pytest.fixture
def demo_env(pg_settings: Settings, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.update(
        {
            "APPLIANCE_DATABASE_URL": pg_settings.database_url,
            "APPLIANCE_APP_ROLE": pg_settings.app_role,
            "APPLIANCE_DATA_DIR": str(tmp_path / "data"),
            "APPLIANCE_MODELS_DIR": str(resolve_models_dir(load_settings())),
            "APPLIANCE_EMBEDDER": os.environ["APPLIANCE_EMBEDDER"],  # the stand-in (tests/conftest.py)
            "APPLIANCE_PORT": str(_free_port()),
            "COLUMNS": "200",
        }
    )
    return env


class Demo:
    """``appliance demo`` in a subprocess; its output lines read by a thread."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [*self_command(), "demo", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 240) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.output.append(line)
            if found := pattern.match(line.strip()):
                return found
        pytest.fail(f"no line matching {pattern.pattern}:\n" + "\n".join(self.output), pytrace=False)

    def rest(self) -> str:
        while (line := self.lines.get(timeout=30)) is not None:
            self.output.append(line)
        return "\n".join(self.output)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def run_demo(demo_env: dict[str, str]) -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for demo in started:
        demo.kill()


@contextmanager
def _login(base: str, username: str, password: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=30) as http:
        response = http.post(
            "/v1/auth/token", json={"grant_type": "password", "username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        yield http


def _assert_snapshots_load(http: httpx.Client) -> int:
    """Every visit's snapshot link answers with a JPEG: no broken image in the dashboard."""
    visits = http.get("/v1/visits", params={"limit": 50}).json()["items"]
    assert len(visits) == 2, visits  # two people, one visit each
    for visit in visits:
        link = http.get(f"/v1/visits/{visit['visit_id']}/snapshot")
        assert link.status_code == 200, link.text
        image = httpx.get(link.json()["url"], timeout=30)
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert image.content[:3] == b"\xff\xd8\xff"
    return len(visits)


def test_demo_keeps_serving_the_dashboard_with_a_fresh_login_until_ctrl_c(
    two_people: Path, demo_env: dict[str, str], run_demo: list[Demo]
) -> None:
    demo = Demo("--faces", str(two_people), env=demo_env)
    run_demo.append(demo)
    base = demo.wait_for(DASHBOARD).group(1)
    username, password = demo.wait_for(LOGIN).groups()
    assert base == f"http://127.0.0.1:{demo_env['APPLIANCE_PORT']}"
    assert password != "demo-password" and len(password) >= 16  # made for this run

    # Still serving after the report: the SPA at /, the API with the demo's data and snapshots.
    page = httpx.get(base + "/", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<div id="root">' in page.text
    with _login(base, username, password) as http:
        _assert_snapshots_load(http)
        assert http.get("/v1/sites").json()["items"][0]["name"] == "Flagship"

    # The password is shown once: no file of the data dir holds it.
    data = Path(demo_env["APPLIANCE_DATA_DIR"])
    for path in data.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert password.encode() not in path.read_bytes(), path

    demo.process.send_signal(signal.SIGINT)  # Ctrl-C
    assert demo.process.wait(timeout=30) == 0, demo.rest()
    assert "stopping the dashboard" in demo.rest()
    with pytest.raises(httpx.TransportError):
        httpx.get(base + "/readyz", timeout=5)


def test_no_serve_stops_after_the_report_and_serve_later_shows_the_same_snapshots(
    two_people: Path, demo_env: dict[str, str], run_demo: list[Demo]
) -> None:
    demo = Demo("--faces", str(two_people), "--no-serve", env=demo_env)
    run_demo.append(demo)
    username, password = demo.wait_for(LOGIN).groups()
    assert demo.process.wait(timeout=60) == 0, demo.rest()
    output = demo.rest()
    assert "2 customers found for 2 people" in output, output
    assert not any(DASHBOARD.match(line.strip()) for line in output.splitlines())

    # `appliance serve` with the same settings (no demo-specific variable) shows the demo's data.
    base = f"http://127.0.0.1:{demo_env['APPLIANCE_PORT']}"
    server = subprocess.Popen(
        [*self_command(), "serve"], env=demo_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.3)
        with _login(base, username, password) as http:
            assert _assert_snapshots_load(http) == 2
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_missing_model_is_named_before_anything_runs(demo_env: dict[str, str], two_people: Path) -> None:
    env = {**demo_env, "APPLIANCE_EMBEDDER": "no_such_embedder.onnx"}
    result = subprocess.run(
        [*self_command(), "demo", "--faces", str(two_people), "--no-serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    message = " ".join((result.stdout + result.stderr).split())
    assert f"the demo needs no_such_embedder.onnx in {demo_env['APPLIANCE_MODELS_DIR']}" in message, message
    assert "APPLIANCE_MODELS_DIR" in message and "appliance models pull" in message
    assert "login" not in message  # nothing was created
