"""Per-camera tracker: one person passing a camera → one event carrying its best frame.

Detections (already gated and embedded) are associated with open tracks greedily by
``similarity + IoU``. A pair is eligible only if the faces look alike (cosine ≥
``min_similarity``) AND either the boxes overlap (IoU ≥ ``iou_threshold``) or the faces are
clearly the same (cosine ≥ ``reid_similarity``, e.g. after a short occlusion or a jump between
sampled frames). A track closes when unseen for ``timeout`` seconds of stream time, or at the end
of the stream; it is then reported once with its best-quality observation. A track open longer
than ``max_duration`` reports its best so far and starts a new segment (same ``track_id``), so a
person standing in view still shows up; the server folds those sightings into one visit.

Time is the stream's: the position in a file, the wall clock for a live source.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
import numpy as np
import numpy.typing as npt

from appliance.vision.detect import Face
from appliance.vision.images import Image

Vector = npt.NDArray[np.float32]


class TrackerConfig(msgspec.Struct, frozen=True, kw_only=True):
    timeout: float = 2.0
    max_duration: float = 60.0
    iou_threshold: float = 0.2
    min_similarity: float = 0.35
    reid_similarity: float = 0.55
    min_hits: int = 2
    """Tracks seen fewer times are dropped silently (one-frame blips never become events)."""
    ema: float = 0.5
    """Weight of the newest embedding in the track's appearance."""


@dataclass(slots=True)
class Observation:
    at: float
    """Stream time, seconds."""
    captured_at: datetime
    face: Face
    embedding: Vector
    quality: float
    crop: Image | None = None
    """The snapshot (face with margin) and where it sits in the frame."""
    crop_origin: tuple[int, int] = (0, 0)


@dataclass(slots=True)
class Track:
    track_id: str
    first_at: float
    last_at: float
    bbox: tuple[float, float, float, float]
    appearance: Vector
    best: Observation
    hits: int = 1
    segment: int = 0
    segment_start: float = 0.0
    segment_hits: int = 1


@dataclass(slots=True, frozen=True)
class TrackReport:
    """What a closed track (or segment) turns into: one event."""

    track_id: str
    segment: int
    first_at: float
    last_at: float
    hits: int
    best: Observation = field(repr=False)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _normalise(vector: Vector) -> Vector:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector


class Tracker:
    def __init__(self, config: TrackerConfig, prefix: str = "t") -> None:
        self.config = config
        self.prefix = prefix
        self._ids = itertools.count(1)
        self.tracks: list[Track] = []

    def update(self, at: float, observations: Sequence[Observation]) -> list[TrackReport]:
        """Feed one analysed frame (possibly with no faces); returns the tracks it closed."""
        reports = self._expire(at)
        pairs: list[tuple[float, int, int]] = []
        for ti, track in enumerate(self.tracks):
            for oi, obs in enumerate(observations):
                similarity = float(np.dot(track.appearance, obs.embedding))
                if similarity < self.config.min_similarity:
                    continue
                overlap = iou(track.bbox, obs.face.bbox)
                if overlap >= self.config.iou_threshold or similarity >= self.config.reid_similarity:
                    pairs.append((similarity + overlap, ti, oi))
        used_tracks: set[int] = set()
        used_obs: set[int] = set()
        for _, ti, oi in sorted(pairs, reverse=True):
            if ti in used_tracks or oi in used_obs:
                continue
            used_tracks.add(ti)
            used_obs.add(oi)
            self._extend(self.tracks[ti], observations[oi])
        for oi, obs in enumerate(observations):
            if oi not in used_obs:
                self.tracks.append(self._start(obs))
        for track in self.tracks:
            if at - track.segment_start >= self.config.max_duration and track.last_at == at:
                report = self._report(track)
                if report is not None:
                    reports.append(report)
                track.segment += 1
                track.segment_start = at
                track.segment_hits = 0
        return reports

    def flush(self) -> list[TrackReport]:
        """End of stream: close every open track."""
        reports = [r for r in (self._report(t) for t in self.tracks) if r is not None]
        self.tracks = []
        return reports

    # -- internals ---------------------------------------------------------------------------
    def _expire(self, at: float) -> list[TrackReport]:
        reports: list[TrackReport] = []
        kept: list[Track] = []
        for track in self.tracks:
            if at - track.last_at > self.config.timeout:
                report = self._report(track)
                if report is not None:
                    reports.append(report)
            else:
                kept.append(track)
        self.tracks = kept
        return reports

    def _start(self, obs: Observation) -> Track:
        return Track(
            track_id=f"{self.prefix}{next(self._ids)}",
            first_at=obs.at,
            last_at=obs.at,
            bbox=obs.face.bbox,
            appearance=_normalise(obs.embedding.astype(np.float32)),
            best=obs,
            segment_start=obs.at,
        )

    def _extend(self, track: Track, obs: Observation) -> None:
        track.last_at = obs.at
        track.bbox = obs.face.bbox
        alpha = self.config.ema
        track.appearance = _normalise(
            ((1 - alpha) * track.appearance + alpha * obs.embedding).astype(np.float32)
        )
        track.hits += 1
        track.segment_hits += 1
        if track.segment_hits == 1 or obs.quality > track.best.quality:
            track.best = obs

    def _report(self, track: Track) -> TrackReport | None:
        if track.hits < self.config.min_hits or track.segment_hits == 0:
            return None
        return TrackReport(
            track_id=track.track_id,
            segment=track.segment,
            first_at=track.segment_start,
            last_at=track.last_at,
            hits=track.segment_hits,
            best=track.best,
        )
