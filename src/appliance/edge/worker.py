"""The edge worker: cameras → analysis → durable queue → API, in one process.

Threads: per camera one capture thread and one analysis thread (detect, gate, align/embed,
attributes, track, staff check); ``senders`` uploader threads; the staff refresher; the optional
metrics/health HTTP server. The main thread only supervises.

Lifecycle: ``GET /v1/edge/config`` (retried until the API answers) gives the site and, without
explicit cameras, the enabled cameras of the key's site. File sources end; once every camera
is a finished file and the queue is drained, :meth:`EdgeWorker.run` returns 0. Live sources run
until :meth:`EdgeWorker.request_stop` (SIGTERM/SIGINT in the CLI): captures stop, every open
track is closed into its event, the queue is drained for up to ``drain_timeout_seconds`` (the rest
stays on disk for the next start), and the threads are joined.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance.config import Settings
from appliance.edge.capture import END, Backoff, CameraCapture, Frame, SourceSpec, file_fingerprint
from appliance.edge.ffmpeg import FfmpegMissing, ffmpeg_program
from appliance.edge.metrics import EdgeMetrics, MetricsServer
from appliance.edge.pipeline import CameraPipeline, QueuedEvent
from appliance.edge.queue import EventQueue, QueueBusy
from appliance.edge.settings import EdgeSettings
from appliance.edge.staff import StaffGallery, StaffRefresher
from appliance.edge.track import TrackerConfig
from appliance.edge.uploader import ApiClient, DeliveryError, Uploader
from appliance.vision.attributes import AttributeModel
from appliance.vision.detect import YuNetDetector
from appliance.vision.embed import Embedder, load_embedder
from appliance.vision.faces import DETECTOR_FILE

log = logging.getLogger("appliance.edge")


class EdgeError(Exception):
    """A configuration problem the worker cannot recover from (bad key, unknown camera, no model)."""


@dataclass(slots=True)
class CameraRuntime:
    spec: SourceSpec
    frames: queue.Queue[Frame | None]
    capture: CameraCapture
    pipeline: CameraPipeline
    fingerprint: str | None
    thread: threading.Thread | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    error: str | None = None


class EdgeWorker:
    def __init__(
        self,
        *,
        api_url: str,
        api_key: str,
        settings: Settings,
        edge: EdgeSettings,
        cameras: Sequence[SourceSpec] = (),
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
        start_time: datetime | None = None,
        embedder: Embedder | None = None,
        on_started: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.api_url = api_url
        self.api_key = api_key
        self.settings = settings
        self.edge = edge
        self.requested_cameras = list(cameras)
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.start_time = start_time
        self.metrics = EdgeMetrics()
        self.stop_event = threading.Event()
        self.cameras: list[CameraRuntime] = []
        self.summary: dict[str, Any] = {}
        self.metrics_server: MetricsServer | None = None
        self._embedder = embedder
        self._on_started = on_started
        """Called with the edge config once the API answered, before any camera starts."""
        self._queued_this_run = 0
        self._duplicates_skipped = 0
        self._queue: EventQueue | None = None
        self._uploader: Uploader | None = None
        self._enqueue_lock = threading.Lock()

    def request_stop(self) -> None:
        self.stop_event.set()

    # -- run ------------------------------------------------------------------------------------
    def run(self) -> int:
        started = time.monotonic()
        api = ApiClient(self.api_url, self.api_key, timeout=self.edge.http_timeout_seconds)
        refresher: StaffRefresher | None = None
        try:
            config = self._fetch_config(api)
            if config is None:
                return 0  # stopped before the API ever answered
            site_id = str(config["site_id"])
            specs = self._cameras_from(config)
            if self._on_started is not None:
                self._on_started(config)
            embedder = self._embedder or self._load_embedder(config)
            models_dir = Path(self.settings.models_dir)
            attributes = AttributeModel.from_dir(models_dir) if self.edge.attributes else None
            gallery = StaffGallery(
                float(config.get("staff_threshold", self.settings.staff_threshold)), embedder.dim
            )
            try:
                gallery.refresh(api)
            except Exception as exc:  # the API may be down already: the refresher retries
                log.warning("staff gallery not loaded yet (%s); retrying in the background", exc)
            refresher = StaffRefresher(gallery, api, self.edge.staff_refresh_seconds)
            refresher.start()

            try:
                event_queue = EventQueue(
                    self.edge.queue_path,
                    max_rows=self.edge.queue_max_rows,
                    on_drop=lambda n: self.metrics.events_dropped.inc(n),
                )
            except QueueBusy as exc:
                raise EdgeError(f"{exc}: one worker per queue file (--queue)") from exc
            self._queue = event_queue
            if event_queue.recovered:
                log.info("%d event(s) claimed by a previous run are due again", event_queue.recovered)
            uploader = Uploader(
                event_queue,
                api,
                self.metrics,
                senders=self.edge.senders,
                backoff_base=self.edge.backoff_base_seconds,
                backoff_cap=self.edge.backoff_cap_seconds,
                max_server_errors=self.edge.max_server_errors,
                snapshot_tries=self.edge.snapshot_tries,
            )
            self._uploader = uploader
            uploader.start()
            try:
                if self.metrics_port is not None:
                    self.metrics_server = MetricsServer(
                        self.metrics, self.health, self.metrics_port, self.metrics_host
                    )
                for spec in specs:
                    self._start_camera(spec, site_id, embedder, attributes, gallery, event_queue)
                log.info(
                    "edge worker running: site %s, %d camera(s), embedder %s (%d-D, %s)",
                    site_id,
                    len(self.cameras),
                    embedder.name,
                    embedder.dim,
                    embedder.backend,
                )
                self._supervise(event_queue)
            finally:
                self._shutdown(event_queue, uploader)
            stats = event_queue.stats()
            self.summary = {
                "cameras": len(self.cameras),
                "frames": sum(c.pipeline.frames for c in self.cameras),
                "events_queued": self._queued_this_run,
                "duplicates_skipped": self._duplicates_skipped,
                "sent": stats.sent,
                "pending": stats.depth,
                "dead": stats.dead,
                "dropped": stats.dropped,
                "seconds": round(time.monotonic() - started, 1),
            }
            event_queue.close()
            failed = [c for c in self.cameras if c.error]
            for camera in failed:
                log.error("camera %s failed: %s", camera.spec.camera_id, camera.error)
            return 1 if failed else 0
        finally:
            if refresher is not None:
                refresher.stop()
            if self.metrics_server is not None:
                self.metrics_server.close()
            api.close()

    # -- setup ----------------------------------------------------------------------------------
    def _fetch_config(self, api: ApiClient) -> dict[str, Any] | None:
        backoff = Backoff(1.0, 30.0)
        while not self.stop_event.is_set():
            try:
                config: dict[str, Any] = api.get_json("/v1/edge/config")
                return config
            except DeliveryError as exc:
                if exc.permanent:
                    raise EdgeError(f"the API refused the edge configuration: {exc}") from exc
                error = str(exc)
            except OSError as exc:
                error = str(exc)
            except Exception as exc:  # httpx.TransportError and friends
                error = f"{type(exc).__name__}: {exc}"
            delay = backoff.next()
            log.warning("API not reachable (%s); retrying in %.0f s", error, delay)
            self.stop_event.wait(delay)
        return None

    def _cameras_from(self, config: dict[str, Any]) -> list[SourceSpec]:
        known = {str(c["id"]): c for c in config.get("cameras", [])}
        if self.requested_cameras:
            for spec in self.requested_cameras:
                if spec.camera_id not in known:
                    raise EdgeError(f"camera {spec.camera_id} is not a camera of this API key's site")
            return self.requested_cameras
        specs = [
            SourceSpec(camera_id=cid, source=str(c["source"]))
            for cid, c in known.items()
            if c.get("enabled", True)
        ]
        if not specs:
            raise EdgeError("the site has no enabled camera (add one, or pass --camera ID=SOURCE)")
        return specs

    def _load_embedder(self, config: dict[str, Any]) -> Embedder:
        models_dir = Path(self.settings.models_dir)
        name = str(config.get("embedder") or self.settings.embedder)
        path = models_dir / name
        if not path.is_file():
            raise EdgeError(
                f"embedder {path} not found (the server uses {name}; run `appliance models pull`)"
            )
        embedder = load_embedder(path)
        expected = config.get("embedding_dim")
        if expected is not None and int(expected) != embedder.dim:
            raise EdgeError(f"{name} gives {embedder.dim}-D embeddings but the server expects {expected}-D")
        return embedder

    def _start_camera(
        self,
        spec: SourceSpec,
        site_id: str,
        embedder: Embedder,
        attributes: AttributeModel | None,
        gallery: StaffGallery,
        event_queue: EventQueue,
    ) -> None:
        fingerprint = None
        if not spec.live:
            if not Path(spec.source).is_file():
                raise EdgeError(f"camera {spec.camera_id}: video file not found: {spec.source}")
            fingerprint = file_fingerprint(spec)
            if event_queue.source_done(fingerprint):
                log.info("camera %s: %s was already processed; skipped", spec.camera_id, spec.source)
                return
        try:
            ffmpeg_program()
        except FfmpegMissing as exc:
            raise EdgeError(str(exc)) from exc
        edge = self.edge
        detector = YuNetDetector(Path(self.settings.models_dir) / DETECTOR_FILE)
        pipeline = CameraPipeline(
            camera_id=spec.camera_id,
            site_id=site_id,
            detector=detector,
            embedder=embedder,
            attributes=attributes,
            staff=gallery,
            quality=edge,  # the settings extend the quality gate
            tracker=TrackerConfig(timeout=edge.track_timeout_seconds, max_duration=edge.track_max_seconds),
            metrics=self.metrics,
            detect_max_width=edge.detect_max_width,
            dedupe_prefix=fingerprint,
        )
        frames: queue.Queue[Frame | None] = queue.Queue(maxsize=2 if spec.live else 8)
        camera = spec.camera_id
        m = self.metrics
        capture = CameraCapture(
            spec,
            frames,
            fps=edge.worker_fps,
            stop=self.stop_event,
            start_time=self.start_time,
            on_frame=lambda kept: None if kept else m.frames_skipped.labels(camera=camera).inc(),
            on_state=lambda up: m.camera_up.labels(camera=camera).set(1 if up else 0),
            on_reconnect=lambda: m.reconnects.labels(camera=camera).inc(),
            on_drop=lambda: m.frames_dropped.labels(camera=camera).inc(),
        )
        runtime = CameraRuntime(
            spec=spec, frames=frames, capture=capture, pipeline=pipeline, fingerprint=fingerprint
        )
        runtime.thread = threading.Thread(
            target=self._analyse, args=(runtime, event_queue), name=f"analyse-{camera[:8]}", daemon=True
        )
        self.cameras.append(runtime)
        capture.start()
        runtime.thread.start()

    # -- per camera analysis ----------------------------------------------------------------------
    def _analyse(self, camera: CameraRuntime, event_queue: EventQueue) -> None:
        try:
            while True:
                frame = camera.frames.get()
                if frame is END:
                    break
                try:
                    events = camera.pipeline.process(frame)
                except Exception:
                    log.exception("camera %s: frame %d failed", camera.spec.camera_id, frame.index)
                    continue
                self._enqueue(event_queue, events)
            self._enqueue(event_queue, camera.pipeline.finish())
            if camera.capture.error is not None:
                camera.error = str(camera.capture.error)
            elif camera.fingerprint is not None and not self.stop_event.is_set():
                event_queue.mark_source_done(camera.fingerprint)
        except Exception as exc:
            log.exception("camera %s: analysis stopped", camera.spec.camera_id)
            camera.error = str(exc)
        finally:
            camera.finished.set()

    def _enqueue(self, event_queue: EventQueue, events: list[QueuedEvent]) -> None:
        for event in events:
            added = event_queue.put(
                event.event_id, event.camera_id, event.payload, event.snapshot, dedupe_key=event.dedupe_key
            )
            with self._enqueue_lock:
                if added:
                    self._queued_this_run += 1
                    self.metrics.events_queued.inc()
                else:
                    self._duplicates_skipped += 1
        if events:
            self.metrics.queue_depth.set(event_queue.depth())

    # -- supervision ------------------------------------------------------------------------------
    def _supervise(self, event_queue: EventQueue) -> None:
        files_only = all(not c.spec.live for c in self.cameras)
        while not self.stop_event.is_set():
            self.metrics.queue_depth.set(event_queue.depth())
            if files_only and all(c.finished.is_set() for c in self.cameras) and event_queue.depth() == 0:
                return
            self.stop_event.wait(0.2)

    def _shutdown(self, event_queue: EventQueue, uploader: Uploader) -> None:
        self.stop_event.set()
        for camera in self.cameras:
            camera.capture.join(timeout=10)
            if camera.thread is not None:
                camera.thread.join(timeout=30)
        deadline = time.monotonic() + self.edge.drain_timeout_seconds
        while event_queue.depth() > 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        uploader.stop()
        left = event_queue.depth()
        if left:
            log.warning("%d event(s) not delivered yet; they stay queued in %s", left, event_queue.path)
        self.metrics.queue_depth.set(left)

    def health(self) -> dict[str, Any]:
        now = time.monotonic()
        cameras = {}
        ok = True
        for camera in self.cameras:
            last = camera.capture.last_frame_at
            age = None if last is None else round(now - last, 1)
            up = camera.finished.is_set() or (camera.capture.connected and age is not None and age < 30)
            ok = ok and up and camera.error is None
            cameras[camera.spec.camera_id] = {
                "connected": camera.capture.connected,
                "finished": camera.finished.is_set(),
                "last_frame_age_s": age,
                "frames": camera.pipeline.frames,
                "reconnects": camera.capture.reconnects,
                "error": camera.error,
            }
        stats = self._queue.stats() if self._queue is not None else None
        uploader = self._uploader
        return {
            "ok": ok,
            "cameras": cameras,
            "queue": None
            if stats is None
            else {"depth": stats.depth, "dead": stats.dead, "dropped": stats.dropped},
            "uploader": None
            if uploader is None
            else {
                "healthy": uploader.healthy,
                "last_success": uploader.last_success,
                "last_error": uploader.last_error,
            },
        }


def install_signal_handlers(worker: EdgeWorker, signals: Sequence[int] | None = None) -> Callable[[], None]:
    """SIGTERM/SIGINT → a clean drain (a second signal exits at once). Returns an uninstaller."""
    import signal as signal_module

    chosen = list(signals) if signals is not None else [signal_module.SIGTERM, signal_module.SIGINT]
    previous = {sig: signal_module.getsignal(sig) for sig in chosen}

    def handler(signum: int, _frame: Any) -> None:
        if worker.stop_event.is_set():
            raise SystemExit(130)
        log.info(
            "signal %d: stopping (draining the queue for up to %.0f s)",
            signum,
            worker.edge.drain_timeout_seconds,
        )
        worker.request_stop()

    for sig in chosen:
        signal_module.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal_module.signal(sig, old)

    return restore
