"""The quality gate on synthetic landmarks and a real aligned face chip."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from appliance.edge.quality import QualityConfig, assess, blur_variance, crop_with_margin, pose_from_landmarks
from appliance.vision.align import align_face
from appliance.vision.detect import Face, YuNetDetector
from appliance.vision.faces import DETECTOR_FILE
from appliance.vision.images import read_image

FRONTAL = ((40.0, 50.0), (80.0, 50.0), (60.0, 70.0), (45.0, 90.0), (75.0, 90.0))


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A separable Gaussian blur (edges mirrored), the way a defocused camera softens a face."""
    radius = max(1, round(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = np.pad(image.astype(np.float64), ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
    out = sum(taps[i] * out[i : i + image.shape[0]] for i in range(taps.size))
    out = sum(taps[i] * out[:, i : i + image.shape[1]] for i in range(taps.size))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def face(
    landmarks: tuple[tuple[float, float], ...] = FRONTAL, size: float = 120.0, score: float = 0.93
) -> Face:
    return Face(bbox=(10.0, 10.0, size, size), landmarks=landmarks, score=score)


def rotate(points: tuple[tuple[float, float], ...], degrees: float) -> tuple[tuple[float, float], ...]:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return tuple((60 + (x - 60) * c - (y - 60) * s, 60 + (x - 60) * s + (y - 60) * c) for x, y in points)


@pytest.fixture(scope="module")
def sharp_chip(models_dir: Path, faces_dir: Path) -> np.ndarray:
    """A real face photo, detected by YuNet and aligned to the 112x112 ArcFace chip."""
    image = read_image(str(faces_dir / "deepface_A" / "1.jpg"))
    faces = YuNetDetector(models_dir / DETECTOR_FILE).detect(image)
    assert faces
    return align_face(image, faces[0].landmarks)


def test_pose_of_a_frontal_face_is_zero() -> None:
    roll, yaw = pose_from_landmarks(FRONTAL)
    assert abs(roll) < 1e-6 and abs(yaw) < 1e-6


@pytest.mark.parametrize("angle", [-25.0, 10.0, 40.0])
def test_roll_follows_the_eye_line_and_does_not_leak_into_yaw(angle: float) -> None:
    roll, yaw = pose_from_landmarks(rotate(FRONTAL, angle))
    assert roll == pytest.approx(angle, abs=1e-6)
    assert abs(yaw) < 1e-6


def test_yaw_from_the_nose_offset_between_the_eyes() -> None:
    # nose halfway between the eye midpoint and the right eye: offset 0.5 → asin(0.5) = 30°
    turned = (FRONTAL[0], FRONTAL[1], (70.0, 70.0), FRONTAL[3], FRONTAL[4])
    assert pose_from_landmarks(turned)[1] == pytest.approx(30.0, abs=1e-6)
    assert pose_from_landmarks(((40.0, 50.0), (80.0, 50.0), (40.0, 70.0), *FRONTAL[3:]))[1] == pytest.approx(
        -90.0
    )
    # the same turn on a rolled head reads the same
    assert pose_from_landmarks(rotate(turned, 20.0))[1] == pytest.approx(30.0, abs=1e-6)


def test_blur_variance_separates_sharp_from_blurred(sharp_chip: np.ndarray) -> None:
    sharp = blur_variance(sharp_chip)
    blurred = blur_variance(gaussian_blur(sharp_chip, 2.0))
    assert sharp > 10 * blurred
    assert blurred < QualityConfig().min_blur < sharp


def test_a_good_face_passes_with_a_score(sharp_chip: np.ndarray) -> None:
    verdict = assess(face(), sharp_chip, QualityConfig())
    assert verdict.ok and verdict.reason is None
    assert 0.7 < verdict.score <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"size": 30.0}, "small"),
        ({"score": 0.5}, "low_score"),
        ({"landmarks": rotate(FRONTAL, 35.0)}, "roll"),
        ({"landmarks": (FRONTAL[0], FRONTAL[1], (78.0, 70.0), FRONTAL[3], FRONTAL[4])}, "yaw"),
    ],
)
def test_each_check_rejects_with_its_reason(sharp_chip: np.ndarray, kwargs: dict, reason: str) -> None:
    verdict = assess(face(**kwargs), sharp_chip, QualityConfig())
    assert not verdict.ok and verdict.reason == reason and verdict.score == 0.0


def test_blurred_chip_is_rejected_as_blur(sharp_chip: np.ndarray) -> None:
    verdict = assess(face(), gaussian_blur(sharp_chip, 3.0), QualityConfig())
    assert verdict.reason == "blur"


def test_score_prefers_big_frontal_sharp_faces(sharp_chip: np.ndarray) -> None:
    config = QualityConfig()
    best = assess(face(), sharp_chip, config).score
    smaller = assess(face(size=50.0), sharp_chip, config).score
    turned = assess(
        face(landmarks=(FRONTAL[0], FRONTAL[1], (70.0, 70.0), *FRONTAL[3:])), sharp_chip, config
    ).score
    softer = assess(face(), gaussian_blur(sharp_chip, 0.8), config).score
    assert best > smaller and best > turned and best > softer


def test_thresholds_are_configurable(sharp_chip: np.ndarray) -> None:
    strict = QualityConfig(min_face_px=200.0)
    assert assess(face(), sharp_chip, strict).reason == "small"


def test_crop_with_margin_is_clipped_to_the_frame() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    crop, origin = crop_with_margin(image, (-5.0, 10.0, 40.0, 40.0), margin=0.5)
    assert origin == (0, 0)
    assert crop.shape == (70, 55, 3)
    crop, origin = crop_with_margin(image, (150.0, 50.0, 40.0, 40.0), margin=0.5)
    assert origin == (130, 30) and crop.shape == (70, 70, 3)
