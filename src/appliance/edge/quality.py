"""The quality gate: which detected faces are good enough to embed, track and report.

A face passes when it is big enough, confidently detected, sharp (variance of the Laplacian on
the aligned chip) and roughly frontal (roll from the eye line, yaw from the nose's offset between
the eyes). Failing faces never create events; the first failing check is the reason (counted in
the ``edge_face_rejections_total{reason}`` metric). Passing faces get a 0..1 score that picks a
track's best frame and travels with the event as ``quality``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import msgspec
import numpy as np

from appliance.vision.detect import Face
from appliance.vision.images import Image, laplacian_variance, to_grey

Reason = Literal["small", "low_score", "roll", "yaw", "blur"]
REASONS: tuple[Reason, ...] = ("small", "low_score", "roll", "yaw", "blur")
GOOD_FACE_PX = 112.0
"""A face this size (or larger) needs no upscaling to the 112 px chip: full size score."""


class QualityConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The quality gate. :class:`~appliance.edge.settings.EdgeSettings` extends it, so each field
    is also a setting (``APPLIANCE_MIN_FACE_PX`` …) with the default declared here."""

    min_face_px: float = 40.0
    min_det_score: float = 0.70
    min_blur: float = 25.0
    """Variance of the Laplacian on the aligned 112x112 chip (see docs/calibration.md)."""
    max_yaw_degrees: float = 45.0
    max_roll_degrees: float = 30.0


class Quality(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    reason: Reason | None
    score: float
    """0..1; 0 for rejected faces."""
    face_px: float
    blur: float
    yaw: float
    roll: float


def pose_from_landmarks(landmarks: Sequence[Sequence[float]]) -> tuple[float, float]:
    """(roll, yaw) in degrees from the five landmarks.

    Roll is the angle of the eye line. Yaw: the nose's offset from the eyes' midpoint, measured
    along the eye line in units of half the eye distance (so roll does not leak in), read as the
    sine of the head's turn. Frontal faces give about 0; the nose over one eye gives ±90.
    """
    (lx, ly), (rx, ry), (nx, ny) = landmarks[0][:2], landmarks[1][:2], landmarks[2][:2]
    ex, ey = rx - lx, ry - ly
    distance = math.hypot(ex, ey)
    if distance < 1e-6:
        return 0.0, 90.0
    roll = math.degrees(math.atan2(ey, ex))
    mx, my = (lx + rx) / 2, (ly + ry) / 2
    offset = ((nx - mx) * ex + (ny - my) * ey) / distance / (distance / 2)
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, offset))))
    return roll, yaw


def blur_variance(chip: Image) -> float:
    """Variance of the Laplacian of the grey chip: high when sharp, near 0 when blurred."""
    return laplacian_variance(to_grey(chip))


def _clip(value: float) -> float:
    return max(0.0, min(1.0, value))


def assess(face: Face, chip: Image, config: QualityConfig) -> Quality:
    """Gate one face: the aligned ``chip`` is the 112x112 crop the embedder would see."""
    face_px = min(face.bbox[2], face.bbox[3])
    roll, yaw = pose_from_landmarks(face.landmarks)
    blur = blur_variance(chip)

    reason: Reason | None = None
    if face_px < config.min_face_px:
        reason = "small"
    elif face.score < config.min_det_score:
        reason = "low_score"
    elif abs(roll) > config.max_roll_degrees:
        reason = "roll"
    elif abs(yaw) > config.max_yaw_degrees:
        reason = "yaw"
    elif blur < config.min_blur:
        reason = "blur"
    if reason is not None:
        return Quality(ok=False, reason=reason, score=0.0, face_px=face_px, blur=blur, yaw=yaw, roll=roll)

    size_term = _clip(face_px / GOOD_FACE_PX)
    det_term = _clip((face.score - 0.5) / 0.45)
    sharp_term = _clip(math.log10(blur / config.min_blur) / 1.5)  # 30x the minimum → 1
    pose_term = _clip(1 - abs(yaw) / 90) * _clip(1 - abs(roll) / 90)
    score = 0.25 * size_term + 0.2 * det_term + 0.25 * sharp_term + 0.3 * pose_term
    return Quality(
        ok=True, reason=None, score=round(score, 4), face_px=face_px, blur=blur, yaw=yaw, roll=roll
    )


def crop_with_margin(
    image: Image, bbox: Sequence[float], margin: float = 0.6
) -> tuple[Image, tuple[int, int]]:
    """The bbox grown by ``margin`` of its size on each side, clipped to the image; and its origin."""
    x, y, w, h = bbox
    height, width = image.shape[:2]
    x0 = int(max(0, math.floor(x - margin * w)))
    y0 = int(max(0, math.floor(y - margin * h)))
    x1 = int(min(width, math.ceil(x + w + margin * w)))
    y1 = int(min(height, math.ceil(y + h + margin * h)))
    return np.ascontiguousarray(image[y0:y1, x0:x1]), (x0, y0)
