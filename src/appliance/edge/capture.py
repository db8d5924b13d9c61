"""Camera input: RTSP/HTTP streams, USB cameras (by index) and video files, decoded by the
system's ``ffmpeg`` program (:mod:`appliance.edge.ffmpeg`).

One thread per camera reads frames and keeps ``fps`` of them per second:
- files: by the file's own timestamps (a 25 fps file at 5 fps keeps every 5th frame, however
  fast it is read); the file is read as fast as the analysis consumes it, never dropping a kept
  frame; a file ends the camera;
- live sources: by the wall clock; when the analysis falls behind, the oldest waiting frame is
  dropped (the worker stays real-time); when the stream drops, the thread reconnects with
  exponential backoff (1 s … 30 s) without restarting anything else.

Skipped frames are only ``grab()``-ed (their time read, their pixels dropped), never turned into
arrays (``retrieve()``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import msgspec
import numpy as np

from appliance.edge.ffmpeg import FfmpegReader, probe
from appliance.vision.images import Image

log = logging.getLogger("appliance.edge.capture")
SourceKind = Literal["stream", "usb", "file"]
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


class SourceSpec(msgspec.Struct, frozen=True):
    camera_id: str
    source: str

    @property
    def kind(self) -> SourceKind:
        return source_kind(self.source)

    @property
    def live(self) -> bool:
        return self.kind != "file"


def source_kind(source: str) -> SourceKind:
    lowered = source.strip().lower()
    if lowered.startswith(STREAM_SCHEMES):
        return "stream"
    if lowered.isdigit():
        return "usb"
    return "file"


def parse_camera_arg(value: str) -> SourceSpec:
    """``CAMERA_ID=SOURCE`` (CAMERA_ID a UUID; SOURCE an rtsp:// URL, a USB index or a file)."""
    camera, sep, source = value.partition("=")
    if not sep or not source.strip():
        raise ValueError(f"expected CAMERA_ID=SOURCE, got {value!r}")
    try:
        camera_id = str(uuid.UUID(camera.strip()))
    except ValueError as exc:
        raise ValueError(f"camera id {camera!r} is not a UUID") from exc
    return SourceSpec(camera_id=camera_id, source=source.strip())


def file_fingerprint(spec: SourceSpec) -> str:
    """Identifies one file for one camera: path, size and mtime (a new recording is a new file)."""
    path = Path(spec.source).resolve()
    stat = path.stat()
    return f"{spec.camera_id}|{path}|{stat.st_size}|{stat.st_mtime_ns}"


class FrameSampler:
    """Keeps about ``fps`` frames per second of the given timeline, without drift."""

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.interval = 1.0 / fps
        self._next: float | None = None

    def keep(self, at: float) -> bool:
        if self._next is None or at >= self._next - 1e-6:
            if self._next is None or at - self._next >= self.interval:
                self._next = at + self.interval  # first frame, or after a gap: restart the grid
            else:
                self._next += self.interval
            return True
        return False


class Backoff:
    """Exponential reconnect delays: base, 2·base … cap; reset after a good connection."""

    def __init__(self, base: float = 1.0, cap: float = 30.0) -> None:
        self.base, self.cap = base, cap
        self.attempt = 0

    def next(self) -> float:
        delay: float = min(self.cap, self.base * 2.0**self.attempt)
        self.attempt = min(self.attempt + 1, 32)
        return delay

    def reset(self) -> None:
        self.attempt = 0


@dataclass(slots=True)
class Frame:
    camera_id: str
    image: Image
    at: float
    """Stream time in seconds (file position, or the wall clock for live sources)."""
    captured_at: datetime
    index: int


END = None
"""Put on the frame queue when the source has ended (files) or the capture stopped."""


def open_capture(spec: SourceSpec, timeout_ms: int = 5000) -> FfmpegReader:
    """A reader of the source (a stream: TCP for RTSP, ``timeout_ms`` for socket I/O)."""
    kind = spec.kind
    if kind == "file" and not Path(spec.source).is_file():
        raise FileNotFoundError(f"video file not found: {spec.source}")
    return FfmpegReader(spec.source, kind, timeout_ms)


def file_duration(source: str | Path) -> float:
    """A video file's length in seconds (0 when unknown)."""
    return probe(str(source))[1]


class CameraCapture(threading.Thread):
    """Reads one source into ``frames`` (a bounded queue), ending it with :data:`END`."""

    def __init__(
        self,
        spec: SourceSpec,
        frames: queue.Queue[Frame | None],
        *,
        fps: float,
        stop: threading.Event,
        start_time: datetime | None = None,
        on_frame: Callable[[bool], None] | None = None,
        on_state: Callable[[bool], None] | None = None,
        on_reconnect: Callable[[], None] | None = None,
        on_drop: Callable[[], None] | None = None,
        backoff: Backoff | None = None,
        max_reconnects: int | None = None,
    ) -> None:
        super().__init__(name=f"capture-{spec.camera_id[:8]}", daemon=True)
        self.spec = spec
        self.frames = frames
        self.fps = fps
        self.stop_event = stop
        self.start_time = start_time
        self.on_frame = on_frame or (lambda kept: None)
        self.on_state = on_state or (lambda up: None)
        self.on_reconnect = on_reconnect or (lambda: None)
        self.on_drop = on_drop or (lambda: None)
        self.backoff = backoff or Backoff()
        self.max_reconnects = max_reconnects
        self.error: BaseException | None = None
        self.last_frame_at: float | None = None
        self.connected = False
        self.reconnects = 0

    def run(self) -> None:
        try:
            if self.spec.live:
                self._run_live()
            else:
                self._run_file()
        except BaseException as exc:  # reported by the worker
            self.error = exc
            log.exception("camera %s failed", self.spec.camera_id)
        finally:
            self._set_state(False)
            self._put(END, block=True)

    # -- files ---------------------------------------------------------------------------------
    def _run_file(self) -> None:
        fps, duration = probe(self.spec.source)
        capture = open_capture(self.spec)
        try:
            start = self.start_time or datetime.now(UTC) - timedelta(seconds=duration)
            sampler = FrameSampler(self.fps)
            self._set_state(True)
            index = -1
            fallback_fps = fps or 25.0
            while not self.stop_event.is_set():
                if not capture.grab():
                    if index < 0:
                        raise OSError(f"cannot open video file {self.spec.source}: {capture.error()}")
                    return
                index += 1
                position = capture.position
                at = position if position is not None and position >= 0 else index / fallback_fps
                pixels = self._sampled(capture, sampler, at)
                if pixels is None:
                    continue
                frame = Frame(self.spec.camera_id, pixels, at, start + timedelta(seconds=at), index)
                if not self._put(frame, block=True):
                    return
        finally:
            capture.release()

    def _sampled(self, capture: FfmpegReader, sampler: FrameSampler, at: float) -> np.ndarray | None:
        """The grabbed frame's pixels when the sampler keeps it (every frame is counted)."""
        if not sampler.keep(at):
            self.on_frame(False)
            return None
        ok, image = capture.retrieve()
        if not ok or image is None:
            return None
        self.on_frame(True)
        self.last_frame_at = time.monotonic()
        return np.asarray(image)

    # -- live sources ---------------------------------------------------------------------------
    def _run_live(self) -> None:
        sampler = FrameSampler(self.fps)
        index = -1
        first = True
        while not self.stop_event.is_set():
            if not first:
                if self.max_reconnects is not None and self.reconnects >= self.max_reconnects:
                    raise OSError(f"camera {self.spec.camera_id}: gave up after {self.reconnects} reconnects")
                delay = self.backoff.next()
                log.warning("camera %s: stream down; reconnecting in %.0f s", self.spec.camera_id, delay)
                if self.stop_event.wait(delay):
                    return
                self.reconnects += 1
                self.on_reconnect()
            first = False
            capture = open_capture(self.spec)
            try:
                if not capture.isOpened():
                    continue
                got_frames = 0
                while not self.stop_event.is_set():
                    if not capture.grab():
                        break
                    index += 1
                    got_frames += 1
                    if got_frames == 1:
                        self._set_state(True)
                        log.info("camera %s: connected", self.spec.camera_id)
                    if got_frames == 25:
                        self.backoff.reset()  # a stable connection: start the delays over
                    now = time.time()
                    pixels = self._sampled(capture, sampler, now)
                    if pixels is None:
                        continue
                    frame = Frame(self.spec.camera_id, pixels, now, datetime.fromtimestamp(now, UTC), index)
                    self._put(frame, block=False)
            finally:
                capture.release()
                self._set_state(False)

    # -- helpers --------------------------------------------------------------------------------
    def _set_state(self, up: bool) -> None:
        if up != self.connected:
            self.connected = up
            self.on_state(up)

    def _put(self, frame: Frame | None, *, block: bool) -> bool:
        """Blocking: wait for room (False if stopped meanwhile). Non-blocking: drop the oldest."""
        if block:
            while True:
                try:
                    self.frames.put(frame, timeout=0.2)
                    return True
                except queue.Full:
                    if self.stop_event.is_set() and frame is not END:
                        return False
                    if self.stop_event.is_set():
                        self._drop_oldest()
        while True:
            try:
                self.frames.put_nowait(frame)
                return True
            except queue.Full:
                self._drop_oldest()

    def _drop_oldest(self) -> None:
        try:
            dropped = self.frames.get_nowait()
        except queue.Empty:
            return
        if dropped is not END:
            self.on_drop()
