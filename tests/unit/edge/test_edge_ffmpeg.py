"""Video through the ``ffmpeg`` program (docs/adr/0016): options, and real decoding of clips made by
ffmpeg itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from appliance.edge.capture import SourceSpec, file_duration, open_capture
from appliance.edge.ffmpeg import (
    FFMPEG_ENV,
    INPUT_OPTIONS_ENV,
    LEGACY_OPTIONS_ENV,
    FfmpegMissing,
    VideoWriter,
    ffmpeg_program,
    input_arguments,
    output_arguments,
    parse_options,
    probe,
)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """2 s of a 64x48 test pattern at 5 fps (10 frames)."""
    path = tmp_path / "clip.mp4"
    subprocess.run(
        [ffmpeg_program(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=duration=2:size=64x48:rate=5",
         "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_options_syntax() -> None:
    assert parse_options("rtsp_transport;udp|max_delay;500000") == [
        "-rtsp_transport", "udp", "-max_delay", "500000",
    ]  # fmt: skip
    assert parse_options("") == []


def test_rtsp_is_tcp_with_a_socket_timeout_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INPUT_OPTIONS_ENV, raising=False)
    monkeypatch.delenv(LEGACY_OPTIONS_ENV, raising=False)
    args = input_arguments("rtsp://cam/stream", "stream", timeout_ms=3000)
    assert args == ["-timeout", "3000000", "-rtsp_transport", "tcp", "-i", "rtsp://cam/stream"]
    monkeypatch.setenv(LEGACY_OPTIONS_ENV, "rtsp_transport;udp")
    assert input_arguments("rtsp://cam/stream", "stream")[2:4] == ["-rtsp_transport", "udp"]
    monkeypatch.setenv(INPUT_OPTIONS_ENV, "rtsp_transport;http")
    assert input_arguments("rtsp://cam/stream", "stream")[2:4] == ["-rtsp_transport", "http"]
    assert input_arguments("http://cam/mjpeg", "stream")[:2] == ["-rw_timeout", "5000000"]


def test_usb_cameras_and_files() -> None:
    assert input_arguments("0", "usb", system="linux") == ["-f", "v4l2", "-i", "/dev/video0"]
    assert input_arguments("1", "usb", system="darwin")[-2:] == ["-i", "1:none"]
    assert input_arguments("/v/door.mp4", "file") == ["-i", "/v/door.mp4"]


def test_older_ffmpeg_spells_the_options_its_way() -> None:
    assert "-fps_mode" in output_arguments((5, 1)) and "showinfo=checksum=0" in output_arguments((6, 0))
    old = output_arguments((4, 4))
    assert "-vsync" in old and "showinfo" in old and "-fps_mode" not in old


def test_missing_program_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(FFMPEG_ENV, str(tmp_path / "no-ffmpeg"))
    with pytest.raises(FfmpegMissing, match="ffmpeg not found"):
        ffmpeg_program()


def test_a_file_decodes_to_bgr_frames_with_their_times(clip: Path) -> None:
    reader = open_capture(SourceSpec(camera_id="c", source=str(clip)))
    times, shapes = [], []
    try:
        while reader.grab():
            times.append(reader.position)
            if len(times) % 2:  # every other frame is skipped: its pixels are dropped unread
                ok, image = reader.retrieve()
                assert ok and image is not None
                shapes.append(image.shape)
        assert not reader.grab()
    finally:
        reader.release()
    assert times == pytest.approx([i / 5 for i in range(10)])
    assert shapes == [(48, 64, 3)] * 5
    assert probe(str(clip)) == (pytest.approx(5.0), pytest.approx(2.0))
    assert file_duration(clip) == pytest.approx(2.0)


def test_a_missing_file_or_a_bad_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_capture(SourceSpec(camera_id="c", source=str(tmp_path / "none.mp4")))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    reader = open_capture(SourceSpec(camera_id="c", source=str(bad)))
    try:
        assert not reader.grab()
        assert reader.error()  # ffmpeg says why (kept for the camera error)
    finally:
        reader.release()


def test_written_video_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    writer = VideoWriter(path, 32, 24, fps=10)
    for level in range(0, 250, 50):
        writer.write(np.full((24, 32, 3), level, np.uint8))
    with pytest.raises(ValueError, match="frame is"):
        writer.write(np.zeros((10, 10, 3), np.uint8))
    writer.close()
    reader = open_capture(SourceSpec(camera_id="c", source=str(path)))
    try:
        levels = []
        while (frame := reader.read())[0]:
            assert frame[1] is not None
            levels.append(int(frame[1].mean()))
    finally:
        reader.release()
    assert len(levels) == 5
    # through 4:2:0 YUV and back: grey levels come back within a few steps
    assert all(abs(got - want) <= 8 for got, want in zip(levels, range(0, 250, 50), strict=True))


def test_a_source_that_stops_delivering_is_stopped(tmp_path: Path) -> None:
    """A pipe nobody writes to stands for a USB camera that hangs: no frame within the stall
    time ends the read (a live source then reconnects), and ffmpeg is gone."""
    import os
    import time

    from appliance.edge.ffmpeg import FfmpegReader

    fifo = tmp_path / "silent.fifo"
    os.mkfifo(fifo)
    reader = FfmpegReader(str(fifo), "file", stall_seconds=0.5)
    started = time.monotonic()
    assert reader.grab() is False
    assert time.monotonic() - started < 5
    assert not reader.running  # the child does not outlive the read
    assert "stalled" in reader.error()
    assert reader.grab() is False
    reader.release()
