"""One camera's analysis: frame → detect → gate → align/embed → track → (on close) attributes,
staff check, snapshot → an Event.FaceDetected.v1 ready for the queue."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any

import msgspec
import numpy as np

from appliance.contracts import EventFaceDetectedV1, ModelInfo
from appliance.edge.capture import Frame
from appliance.edge.metrics import EdgeMetrics
from appliance.edge.quality import QualityConfig, assess, crop_with_margin
from appliance.edge.staff import StaffGallery
from appliance.edge.track import Observation, Tracker, TrackerConfig, TrackReport
from appliance.vision.align import align_face
from appliance.vision.attributes import AttributeModel
from appliance.vision.detect import Detector, Face
from appliance.vision.embed import Embedder
from appliance.vision.images import encode_jpeg, resize_area, scaled_size, to_grey

JPEG_QUALITY = 90
THUMB_SIZE = (96, 54)
STATIC_PIXEL_DELTA = 12
STATIC_MAX_CHANGED = 4


@dataclass(slots=True, frozen=True)
class QueuedEvent:
    event_id: str
    camera_id: str
    payload: bytes
    snapshot: bytes | None
    dedupe_key: str | None


@dataclass(eq=False, slots=True)
class CameraPipeline:
    """Not thread-safe: one per camera thread (the detector keeps per-size state); the embedder,
    the attribute model and the staff gallery are shared."""

    _: KW_ONLY
    camera_id: str
    site_id: str
    detector: Detector
    embedder: Embedder
    attributes: AttributeModel | None
    staff: StaffGallery | None
    quality: QualityConfig
    tracker: InitVar[TrackerConfig]
    metrics: EdgeMetrics
    detect_max_width: int = 1280
    dedupe_prefix: str | None = None
    new_id: Callable[[], uuid.UUID] = uuid.uuid4
    static_skip_seconds: float = 1.0
    _tracker: Tracker = field(init=False)
    """Built from the ``tracker`` settings."""
    frames: int = field(default=0, init=False)
    static_frames: int = field(default=0, init=False)
    _empty_thumb: np.ndarray[Any, Any] | None = field(default=None, init=False)
    """The last empty scene's thumbnail: while frames still look like it, detection is skipped."""
    _empty_at: float = field(default=0.0, init=False)

    def __post_init__(self, tracker: TrackerConfig) -> None:
        self._tracker = Tracker(tracker)

    # -- per frame ------------------------------------------------------------------------------
    def process(self, frame: Frame) -> list[QueuedEvent]:
        started = time.perf_counter()
        self.metrics.frames.labels(camera=self.camera_id).inc()
        self.frames += 1
        thumb = self._thumbnail(frame.image)
        if self._is_static(frame.at, thumb):
            self.static_frames += 1
            self.metrics.frames_static.labels(camera=self.camera_id).inc()
            return [self.to_event(r) for r in self._tracker.update(frame.at, [])]
        faces = self.detect(frame.image)
        detected = time.perf_counter()
        self.metrics.detect_seconds.observe(detected - started)
        if faces or self._tracker.tracks:
            self._empty_thumb = None
        elif self._empty_thumb is None or not self._is_static(frame.at, thumb, force=True):
            self._empty_thumb, self._empty_at = thumb, frame.at
        else:
            self._empty_at = frame.at
        if faces:
            self.metrics.faces.labels(camera=self.camera_id).inc(len(faces))
        observations = self.observe(frame, faces)
        if faces:
            self.metrics.embed_seconds.observe(time.perf_counter() - detected)
        reports = self._tracker.update(frame.at, observations)
        events = [self.to_event(r) for r in reports]
        self.metrics.frame_seconds.observe(time.perf_counter() - started)
        return events

    @staticmethod
    def _thumbnail(image: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return to_grey(resize_area(image, THUMB_SIZE))  # shrink first: far fewer pixels to convert

    def _is_static(self, at: float, thumb: np.ndarray[Any, Any], force: bool = False) -> bool:
        """An empty scene that has not changed: detection can be skipped — but a full detection
        still runs at least every ``static_skip_seconds`` (a far-away person changes few pixels)."""
        reference = self._empty_thumb
        if reference is None or self._tracker.tracks:
            return False
        if not force and (self.static_skip_seconds <= 0 or at - self._empty_at >= self.static_skip_seconds):
            return False
        delta = np.abs(thumb.astype(np.int16) - reference.astype(np.int16))
        changed = int(np.count_nonzero(delta > STATIC_PIXEL_DELTA))
        return changed < STATIC_MAX_CHANGED

    def finish(self) -> list[QueuedEvent]:
        """End of stream: every open track becomes its event."""
        return [self.to_event(r) for r in self._tracker.flush()]

    def detect(self, image: np.ndarray[Any, Any]) -> list[Face]:
        width = image.shape[1]
        if width <= self.detect_max_width:
            return self.detector.detect(image)
        scale = self.detect_max_width / width
        size = scaled_size(width, image.shape[0], scale)
        small = resize_area(image, size)
        back = width / size[0]
        return [
            Face(
                bbox=(f.bbox[0] * back, f.bbox[1] * back, f.bbox[2] * back, f.bbox[3] * back),
                landmarks=tuple((x * back, y * back) for x, y in f.landmarks),
                score=f.score,
            )
            for f in self.detector.detect(small)
        ]

    def observe(self, frame: Frame, faces: list[Face]) -> list[Observation]:
        passed: list[tuple[Face, float, Any]] = []
        for face in faces:
            try:
                chip = align_face(frame.image, face.landmarks)
            except ValueError:
                self.metrics.rejections.labels(reason="small").inc()
                continue
            verdict = assess(face, chip, self.quality)
            if not verdict.ok:
                self.metrics.rejections.labels(reason=verdict.reason or "unknown").inc()
                continue
            passed.append((face, verdict.score, chip))
        if not passed:
            return []
        vectors = self.embedder.embed([chip for _, _, chip in passed])
        observations = []
        for (face, score, _), vector in zip(passed, vectors, strict=True):
            crop, origin = crop_with_margin(frame.image, face.bbox)
            observations.append(
                Observation(
                    at=frame.at,
                    captured_at=frame.captured_at,
                    face=face,
                    embedding=vector,
                    quality=score,
                    crop=crop,
                    crop_origin=origin,
                )
            )
        return observations

    # -- per closed track -----------------------------------------------------------------------
    def to_event(self, report: TrackReport) -> QueuedEvent:
        best = report.best
        face = best.face
        event_id = str(self.new_id())
        extra: dict[str, Any] = {}
        snapshot: bytes | None = None
        if best.crop is not None and best.crop.size:
            ox, oy = best.crop_origin
            local = [(x - ox, y - oy) for x, y in face.landmarks]
            if self.attributes is not None:
                try:
                    attrs = self.attributes.predict(best.crop, local)
                    extra["gender"], extra["age"] = attrs.gender, min(120.0, max(0.0, attrs.age))
                except ValueError:  # degenerate landmarks: the event goes without attributes
                    pass
            snapshot = encode_jpeg(best.crop, JPEG_QUALITY)
        staff_id = None
        if self.staff is not None:
            staff_id, _ = self.staff.match(best.embedding)
            if staff_id is not None:
                self.metrics.staff_matches.inc()
        x, y, w, h = face.bbox
        p = [(float(px), float(py)) for px, py in face.landmarks]
        landmarks = (p[0], p[1], p[2], p[3], p[4])
        event = EventFaceDetectedV1(
            event_id=uuid.UUID(event_id),
            site_id=uuid.UUID(self.site_id),
            camera_id=uuid.UUID(self.camera_id),
            captured_at=best.captured_at,
            embedding=[float(v) for v in best.embedding],
            det_score=float(min(1.0, max(0.0, face.score))),
            bbox=(max(0.0, x), max(0.0, y), max(0.0, w + min(0.0, x)), max(0.0, h + min(0.0, y))),
            landmarks=landmarks,
            quality=float(min(1.0, max(0.0, best.quality))),
            is_staff_local=staff_id is not None,
            staff_id=staff_id,
            model=ModelInfo(name=self.embedder.name, version=self.embedder.version),
            track_id=f"{report.track_id}.{report.segment}",
            **extra,
        )
        self.metrics.tracks.labels(camera=self.camera_id).inc()
        dedupe = None
        if self.dedupe_prefix is not None:
            dedupe = f"{self.dedupe_prefix}|{report.first_at:.3f}|{report.track_id}|{report.segment}"
        return QueuedEvent(
            event_id=event_id,
            camera_id=self.camera_id,
            payload=msgspec.json.encode(event),
            snapshot=snapshot,
            dedupe_key=dedupe,
        )
