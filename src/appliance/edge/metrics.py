"""Prometheus metrics of one edge worker (own registry: several workers per test process are fine),
served with ``/healthz`` on the optional metrics port."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, make_wsgi_app

if TYPE_CHECKING:
    from wsgiref.types import StartResponse

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class EdgeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.frames = self._counter("edge_frames_total", "Frames analysed", "camera")
        self.frames_skipped = self._counter(
            "edge_frames_skipped_total", "Frames read but skipped by the fps limit", "camera"
        )
        self.frames_dropped = self._counter(
            "edge_frames_dropped_total", "Live frames dropped because the analysis fell behind", "camera"
        )
        self.frames_static = self._counter(
            "edge_frames_static_total",
            "Analysed frames of an unchanged empty scene (detection skipped)",
            "camera",
        )
        self.faces = self._counter("edge_faces_detected_total", "Faces detected", "camera")
        self.rejections = self._counter(
            "edge_face_rejections_total", "Faces rejected by the quality gate", "reason"
        )
        self.tracks = self._counter("edge_tracks_closed_total", "Tracks closed into an event", "camera")
        self.staff_matches = self._counter("edge_staff_matches_total", "Events matched to local staff")
        self.events_queued = self._counter("edge_events_queued_total", "Events written to the queue")
        self.events_sent = self._counter("edge_events_sent_total", "Events acknowledged by the API")
        self.events_failed = self._counter(
            "edge_events_failed_total", "Delivery failures (transient: retried; dead: dead-lettered)", "kind"
        )
        self.events_dropped = self._counter(
            "edge_events_dropped_total", "Oldest pending events dropped because the queue was full"
        )
        self.snapshots_failed = self._counter(
            "edge_snapshots_failed_total", "Snapshots the store refused (event sent without)"
        )
        self.queue_depth = self._gauge("edge_queue_depth", "Undelivered events on disk")
        self.camera_up = self._gauge("edge_camera_up", "1 while the camera delivers frames", "camera")
        self.reconnects = self._counter("edge_camera_reconnects_total", "Reconnections to a camera", "camera")
        self.detect_seconds = self._seconds("edge_detect_seconds", "Face detection time per frame")
        self.embed_seconds = self._seconds(
            "edge_embed_seconds", "Alignment + embedding time per frame's faces"
        )
        self.frame_seconds = self._seconds("edge_frame_seconds", "Whole analysis time per frame")
        self.upload_seconds = self._seconds(
            "edge_upload_seconds", "Delivery time per event (snapshot + event)"
        )

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def _gauge(self, name: str, documentation: str, *labels: str) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def _seconds(self, name: str, documentation: str) -> Histogram:
        """A latency histogram: the same buckets for every stage, so stages compare."""
        return Histogram(name, documentation, buckets=LATENCY_BUCKETS, registry=self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (tests, health); 0 when never set."""
        found = self.registry.get_sample_value(name, labels or {})
        return float(found) if found is not None else 0.0

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds up the worker's exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # no line per scrape
        return


class MetricsServer:
    """``/metrics`` (prometheus_client's own exposition: text or OpenMetrics, gzip when asked)
    and ``/healthz`` (JSON; 503 when unhealthy), on one port."""

    def __init__(
        self, metrics: EdgeMetrics, health: Callable[[], dict[str, Any]], port: int, host: str = "127.0.0.1"
    ) -> None:
        exposition = make_wsgi_app(metrics.registry)

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            path = str(environ.get("PATH_INFO", ""))
            if path.startswith("/metrics"):
                return exposition(environ, start_response)  # type: ignore[no-any-return]
            if path.startswith("/healthz"):
                report = health()
                body = json.dumps(report, default=str).encode()
                status = "200 OK" if report.get("ok") else "503 Service Unavailable"
                content_type = "application/json"
            else:
                status, body, content_type = "404 Not Found", b"not found\n", "text/plain"
            start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
            return [body]

        self._server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="edge-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
