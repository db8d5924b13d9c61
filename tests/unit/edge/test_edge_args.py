"""Argument parsing: durations, cameras, edge settings, the CLI's own validation."""

from __future__ import annotations

import uuid

import pytest
import typer
from typer.testing import CliRunner

from appliance.cli.edge import register as register_edge
from appliance.config import ConfigError
from appliance.edge.capture import parse_camera_arg, source_kind
from appliance.edge.settings import load_edge_settings, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("2s", 2.0),
        ("2", 2.0),
        ("1.5m", 90.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        (" 3 S ", 3.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "-1s", "1w", "s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_camera_arg() -> None:
    cam = uuid.uuid4()
    spec = parse_camera_arg(f"{cam}=rtsp://user:pa=ss@10.0.0.2:554/stream1")
    assert spec.camera_id == str(cam) and spec.source == "rtsp://user:pa=ss@10.0.0.2:554/stream1"
    assert spec.kind == "stream" and spec.live
    assert parse_camera_arg(f"{str(cam).upper()}=0").camera_id == str(cam)
    usb = parse_camera_arg(f"{cam}=0")
    assert usb.kind == "usb" and usb.live
    video = parse_camera_arg(f"{cam}=/data/entrance.mp4")
    assert video.kind == "file" and not video.live


CAMERA = uuid.UUID("3f1d2c4b-5a69-4788-9c0d-1e2f3a4b5c6d")


@pytest.mark.parametrize(
    "value",
    ["rtsp://x", "not-a-uuid=rtsp://x", f"{CAMERA}=", f"{CAMERA}=  "],
    ids=["no-id", "bad-id", "empty", "blank"],
)
def test_parse_camera_arg_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        parse_camera_arg(value)


def test_source_kinds() -> None:
    assert source_kind("RTSP://cam/1") == "stream"
    assert source_kind("https://cam/mjpeg") == "stream"
    assert source_kind("12") == "usb"
    assert source_kind("videos/12.mp4") == "file"


def test_edge_settings_from_env_and_overrides() -> None:
    settings = load_edge_settings(env={"APPLIANCE_WORKER_FPS": "7.5", "APPLIANCE_QUEUE_MAX_ROWS": "50"})
    assert settings.worker_fps == 7.5 and settings.queue_max_rows == 50
    assert load_edge_settings(env={}).worker_fps == 5.0
    assert (
        load_edge_settings(env={"APPLIANCE_WORKER_FPS": "7"}, worker_fps=2.0, queue_path=None).worker_fps
        == 2.0
    )
    with pytest.raises(ConfigError, match="APPLIANCE_WORKER_FPS='fast'"):
        load_edge_settings(env={"APPLIANCE_WORKER_FPS": "fast"})


def cli() -> typer.Typer:
    app = typer.Typer()
    register_edge(app)

    @app.command()
    def other() -> None:  # a second command, so the app dispatches by name like `appliance`
        pass

    return app


def test_cli_rejects_a_bad_camera_before_connecting() -> None:
    result = CliRunner().invoke(
        cli(), ["edge", "--api", "http://127.0.0.1:9", "--api-key", "k", "--camera", "nope"]
    )
    assert result.exit_code == 2
    assert "CAMERA_ID=SOURCE" in result.output


def test_cli_rejects_a_bad_duration() -> None:
    cam = uuid.uuid4()
    result = CliRunner().invoke(
        cli(),
        [
            "edge",
            "--api",
            "http://127.0.0.1:9",
            "--api-key",
            "k",
            "--camera",
            f"{cam}=0",
            "--track-timeout",
            "soon",
        ],
    )
    assert result.exit_code == 2
    assert "not a duration" in result.output


def test_cli_requires_the_api_and_key() -> None:
    result = CliRunner().invoke(cli(), ["edge"], env={"APPLIANCE_EDGE_API": "", "APPLIANCE_EDGE_API_KEY": ""})
    assert result.exit_code == 2
    assert "--api" in result.output
