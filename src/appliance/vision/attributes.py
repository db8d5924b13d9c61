"""Gender and age from dlib's CC0 networks (Cydral Technology), run as ONNX.

The networks were trained on dlib face chips: ``extract_image_chip(img,
get_face_chip_details(shape, size))`` with dlib's default padding 0.2, at 32 px (gender) and
64 px (age). We reproduce that chip from YuNet's five points: the template is dlib's mean face
shape (the same one ``get_face_chip_details`` aligns to) at the eye centres, nose tip and mouth
corners, in ArcFace order, padded like dlib. Warped at 4x and area-downscaled, like dlib's
pyramid. Input: ``(RGB - [122.782, 117.001, 104.298]) / 256``, NCHW.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import msgspec
import numpy as np
import numpy.typing as npt

from appliance.vision.images import Image, fit_similarity, resize_area, warp_affine
from appliance.vision.runtime import onnx_session, require_model

GENDER_FILE = "gender-v1.onnx"
AGE_FILE = "age-v1.onnx"
GENDER_SIZE = 32
AGE_SIZE = 64
DLIB_PADDING = 0.2
GENDER_LABELS: tuple[Literal["female"], Literal["male"]] = ("female", "male")
AGE_WEIGHTS = np.array([0.25, *range(1, 81)], dtype=np.float32)
MEANS = np.array([122.782, 117.001, 104.298], dtype=np.float32)

# dlib's mean face shape (unit square), at the points YuNet gives: image-left eye centre (mean
# of landmarks 36-41), image-right eye centre (42-47), nose tip (30), mouth corners (48, 54).
DLIB_FIVE = np.array(
    [
        [0.225492, 0.215990],
        [0.754761, 0.215990],
        [0.490127, 0.515625],
        [0.254149, 0.780233],
        [0.726104, 0.780233],
    ],
    dtype=np.float32,
)


class Attributes(msgspec.Struct, frozen=True):
    gender: Literal["female", "male"]
    gender_confidence: float
    age: float


def dlib_chip(
    image: Image,
    landmarks: Sequence[Sequence[float]],
    size: int,
    padding: float = DLIB_PADDING,
    supersample: int = 4,
) -> Image:
    """The dlib-style aligned face chip (``size`` x ``size``, BGR)."""
    big = size * supersample
    template = (DLIB_FIVE + padding) / (1 + 2 * padding) * big
    source = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    if not np.all(np.isfinite(source)):
        raise ValueError("degenerate landmarks: cannot align this face")
    matrix = fit_similarity(source, template)
    chip = warp_affine(image, matrix, (big, big), border="replicate")
    if supersample > 1:
        chip = resize_area(chip, (size, size))
    return chip


def dlib_input(chips: Sequence[Image]) -> npt.NDArray[np.float32]:
    batch = np.stack([chip[:, :, ::-1] for chip in chips]).astype(np.float32)
    batch = (batch - MEANS) / np.float32(256.0)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


class AttributeModel:
    """Both networks, CPU, one thread each (tiny: ~1 ms per face)."""

    def __init__(self, gender_path: Path, age_path: Path, threads: int = 1) -> None:
        for path in (gender_path, age_path):
            require_model(path, "attribute")
        self._gender = onnx_session(gender_path, threads=threads)
        self._age = onnx_session(age_path, threads=threads)
        self._gender_input = self._gender.get_inputs()[0].name
        self._age_input = self._age.get_inputs()[0].name

    @classmethod
    def from_dir(cls, models_dir: Path, threads: int = 1) -> AttributeModel | None:
        """None when the files are not installed (attributes are optional)."""
        gender, age = models_dir / GENDER_FILE, models_dir / AGE_FILE
        if not (gender.is_file() and age.is_file()):
            return None
        return cls(gender, age, threads)

    def predict(self, image: Image, landmarks: Sequence[Sequence[float]]) -> Attributes:
        gender_chip = dlib_chip(image, landmarks, GENDER_SIZE)
        age_chip = dlib_chip(image, landmarks, AGE_SIZE)
        p_gender = np.asarray(self._gender.run(None, {self._gender_input: dlib_input([gender_chip])})[0])[0]
        p_age = np.asarray(self._age.run(None, {self._age_input: dlib_input([age_chip])})[0])[0]
        index = int(np.argmax(p_gender))
        age = float(np.dot(p_age.astype(np.float32), AGE_WEIGHTS))
        return Attributes(
            gender=GENDER_LABELS[index], gender_confidence=float(p_gender[index]), age=round(age, 1)
        )
