"""Video in and out through the ``ffmpeg`` program (FFmpeg's command line, from the system's
packages: Debian ``ffmpeg``, Homebrew ``ffmpeg``), not a bundled copy of its libraries.

A source is decoded by one ``ffmpeg`` process into raw BGR frames on its stdout; the ``showinfo``
filter reports each frame's presentation time and size on stderr, in the same order. Skipped frames
are read and dropped (the decoding is ffmpeg's either way). Files, RTSP/HTTP/… streams and USB
cameras (V4L2 on Linux, AVFoundation on macOS) all go through it. See docs/adr/0016 for why.
"""

from __future__ import annotations

import collections
import functools
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

from appliance.vision.images import Image

FFMPEG_ENV = "APPLIANCE_FFMPEG"
"""The ``ffmpeg`` program to run (default: the one on PATH)."""
INPUT_OPTIONS_ENV = "APPLIANCE_CAPTURE_OPTIONS"
"""Extra input options for streams, ``key;value|key;value`` (e.g. ``rtsp_transport;udp``)."""
LEGACY_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
"""The same, under the name the OpenCV capture read (kept for existing installations)."""

NEWEST = (99, 0)
_SHOWINFO = re.compile(r"\bn:\s*(\d+)\s+pts:\s*(\S+)\s+pts_time:(\S+).*?\bs:(\d+)x(\d+)")
_END = None


class FfmpegMissing(OSError):
    """No ``ffmpeg`` program: video capture needs the system's FFmpeg package."""


def ffmpeg_program() -> str:
    configured = os.environ.get(FFMPEG_ENV)
    found = shutil.which(configured or "ffmpeg")
    if found is None:
        where = f"{FFMPEG_ENV}={configured} is not a program" if configured else "none on PATH"
        raise FfmpegMissing(
            f"ffmpeg not found ({where}): install the FFmpeg package (Debian: apt-get install ffmpeg; "
            f"macOS: brew install ffmpeg) or set {FFMPEG_ENV}"
        )
    return found


@functools.lru_cache(maxsize=8)
def ffmpeg_version(program: str) -> tuple[int, int]:
    """(major, minor) of ``program``; a development build without a release number counts as new."""
    try:
        banner = subprocess.run(
            [program, "-hide_banner", "-version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return NEWEST
    match = re.search(r"version n?(\d+)\.(\d+)", banner)
    return (int(match.group(1)), int(match.group(2))) if match else NEWEST


def output_arguments(version: tuple[int, int]) -> list[str]:
    """Every decoded frame once, as bgr24, with its time and size reported by ``showinfo``
    (FFmpeg 4.x, still shipped by some distributions, spells two of the options differently)."""
    showinfo = "showinfo=checksum=0" if version >= (5, 0) else "showinfo"
    passthrough = ["-fps_mode", "passthrough"] if version >= (5, 1) else ["-vsync", "passthrough"]
    return ["-vf", showinfo, *passthrough, "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"]


def parse_options(value: str) -> list[str]:
    """``key;value|key;value`` → ``[-key, value, …]``."""
    out: list[str] = []
    for pair in value.split("|"):
        key, _, option = pair.partition(";")
        if key.strip():
            out += [f"-{key.strip()}", option.strip()]
    return out


def input_arguments(source: str, kind: str, timeout_ms: int = 5000, system: str | None = None) -> list[str]:
    """The ffmpeg input options and ``-i`` for one source (``kind``: stream, usb or file)."""
    system = system or sys.platform
    if kind == "usb":
        if system == "darwin":
            return ["-f", "avfoundation", "-framerate", "30", "-i", f"{int(source)}:none"]
        return ["-f", "v4l2", "-i", f"/dev/video{int(source)}"]
    if kind == "stream":
        configured = os.environ.get(INPUT_OPTIONS_ENV) or os.environ.get(LEGACY_OPTIONS_ENV)
        options = parse_options(configured) if configured else []
        lowered = source.lower()
        if lowered.startswith(("rtsp://", "rtsps://")):
            # TCP for RTSP (UDP loses packets on busy networks); the caller's setting wins.
            if "-rtsp_transport" not in options:
                options = ["-rtsp_transport", "tcp", *options]
            timeout = ["-timeout", str(timeout_ms * 1000)]  # socket I/O, microseconds
        else:
            timeout = ["-rw_timeout", str(timeout_ms * 1000)]
        return [*timeout, *options, "-i", source]
    return ["-i", source]


class FfmpegReader:
    """Frames of one source: ``grab()`` the next frame's time, then ``retrieve()`` its pixels or
    ``grab()`` again to drop them. Not thread-safe: one reader per capture thread."""

    def __init__(self, source: str, kind: str, timeout_ms: int = 5000, stall_seconds: float = 15.0) -> None:
        program = ffmpeg_program()
        self.stall_seconds = stall_seconds
        """A source that yields no frame for this long is dead: ``grab()`` stops it and returns
        False (a live source then reconnects). ffmpeg's own timeouts cover network sockets, not a
        USB camera or a pipe that stops delivering."""
        command = [
            program, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
            *input_arguments(source, kind, timeout_ms),
            "-map", "0:v:0", "-an", "-sn", "-dn",
            *output_arguments(ffmpeg_version(program)),
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
        )
        self._headers: queue.Queue[tuple[float | None, int, int] | None] = queue.Queue()
        self._log: collections.deque[str] = collections.deque(maxlen=20)
        self._stderr = threading.Thread(target=self._read_stderr, name="ffmpeg-log", daemon=True)
        self._stderr.start()
        self._pending = 0
        self._size = (0, 0)
        self._ended = False
        self.position: float | None = None
        """Presentation time (seconds) of the grabbed frame, when the stream has one."""
        self.frames = 0
        self.closed = False

    def _read_stderr(self) -> None:
        stream = self._process.stderr
        assert stream is not None
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip()
                match = _SHOWINFO.search(line) if "showinfo" in line else None
                if match is None:
                    if line and "showinfo" not in line:
                        self._log.append(line)
                    continue
                _, _, seconds, width, height = match.groups()
                try:
                    at: float | None = float(seconds)
                except ValueError:  # NOPTS
                    at = None
                self._headers.put((at, int(width), int(height)))
        finally:
            self._headers.put(_END)

    @property
    def running(self) -> bool:
        """Whether the ffmpeg process is still alive."""
        return self._process.poll() is None

    def isOpened(self) -> bool:
        return not self.closed

    def grab(self) -> bool:
        """Advance to the next frame (dropping an unread one); False at the end or on error."""
        if self.closed or self._ended:
            return False
        if self._pending and not self._drop(self._pending):
            return False
        try:
            header = self._headers.get(timeout=self.stall_seconds)
        except queue.Empty:
            self._log.append(f"no frame for {self.stall_seconds:.0f} s: source stalled, ffmpeg stopped")
            self._ended = True
            self._stop_process()
            return False
        if header is None:
            self._ended = True  # the end marker is sent once: later calls must not wait for it
            return False
        self.position, width, height = header
        self._pending = width * height * 3
        self._size = (width, height)
        self.frames += 1
        return True

    def retrieve(self) -> tuple[bool, Image | None]:
        if not self._pending:
            return False, None
        data = self._read(self._pending)
        self._pending = 0
        if data is None:
            return False, None
        width, height = self._size
        return True, np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)

    def read(self) -> tuple[bool, Image | None]:
        if not self.grab():
            return False, None
        return self.retrieve()

    def _read(self, count: int) -> bytearray | None:
        stream: Any = self._process.stdout  # unbuffered (bufsize=0): a raw file with readinto
        buffer = bytearray(count)
        view, got = memoryview(buffer), 0
        while got < count:
            n = stream.readinto(view[got:])
            if not n:
                return None
            got += n
        return buffer

    def _drop(self, count: int) -> bool:
        ok = self._read(count) is not None
        self._pending = 0
        return ok

    def _stop_process(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()

    def error(self) -> str:
        """ffmpeg's last messages (why a source did not open or ended)."""
        return " | ".join(self._log)

    def release(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._stop_process()
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()
        self._stderr.join(timeout=2)


def probe(source: str) -> tuple[float, float]:
    """(frames per second, duration in seconds) of a file's first video stream, 0 when unknown."""
    program = ffmpeg_program()
    probe_program = str(Path(program).with_name("ffprobe")) if os.path.sep in program else "ffprobe"
    try:
        output = subprocess.run(
            [
                probe_program, "-v", "error", "-select_streams", "v:0",
                "-show_entries", "stream=avg_frame_rate,r_frame_rate,duration:format=duration",
                "-of", "default=noprint_wrappers=1", source,
            ],
            capture_output=True, text=True, timeout=30, check=False,
        ).stdout  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return 0.0, 0.0
    values: dict[str, str] = {}
    for line in output.splitlines():
        key, _, value = line.partition("=")
        values.setdefault(key.strip(), value.strip())
    return _rate(values.get("avg_frame_rate")) or _rate(values.get("r_frame_rate")), _number(
        values.get("duration")
    )


def _rate(value: str | None) -> float:
    if not value:
        return 0.0
    top, _, bottom = value.partition("/")
    try:
        return float(top) / float(bottom or 1) if float(bottom or 1) else 0.0
    except ValueError:
        return 0.0


def _number(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


class VideoWriter:
    """BGR frames into an MPEG-4 file (tests, the demo, benchmarks)."""

    def __init__(self, path: Path, width: int, height: int, fps: float, quality: int = 4) -> None:
        self.size = (width, height)
        command = [
            ffmpeg_program(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", f"{fps:g}",
            "-i", "pipe:0",
            "-c:v", "mpeg4", "-q:v", str(quality), "-pix_fmt", "yuv420p", str(path),
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self._stdin: IO[bytes] | None = self._process.stdin

    def write(self, frame: Image) -> None:
        if frame.shape[:2] != (self.size[1], self.size[0]):
            raise ValueError(
                f"frame is {frame.shape[1]}x{frame.shape[0]}, the video {self.size[0]}x{self.size[1]}"
            )
        assert self._stdin is not None
        try:
            self._stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        except BrokenPipeError as exc:
            raise OSError(f"ffmpeg stopped writing the video: {self._stderr_text()}") from exc

    def _stderr_text(self) -> str:
        stream = self._process.stderr
        return stream.read().decode("utf-8", "replace").strip() if stream is not None else ""

    def close(self) -> None:
        if self._stdin is not None:
            self._stdin.close()
            self._stdin = None
        code = self._process.wait()
        message = self._stderr_text()
        if self._process.stderr is not None:
            self._process.stderr.close()
        if code != 0:
            raise OSError(f"ffmpeg could not write the video (exit {code}): {message}")
