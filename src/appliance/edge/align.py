"""5-point similarity alignment to the standard 112x112 ArcFace template."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from appliance.edge.detect import Image

ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
CHIP_SIZE = 112


def similarity_transform(
    landmarks: Sequence[Sequence[float]], template: np.ndarray = ARCFACE_TEMPLATE
) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, translation) mapping landmarks onto the template."""
    source = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    matrix, _ = cv2.estimateAffinePartial2D(source, template, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("degenerate landmarks: cannot align this face")
    return np.asarray(matrix, dtype=np.float32)


def align_face(image: Image, landmarks: Sequence[Sequence[float]], size: int = CHIP_SIZE) -> Image:
    """The aligned ``size``x``size`` BGR chip (the template is scaled for sizes other than 112)."""
    template = ARCFACE_TEMPLATE * (size / CHIP_SIZE)
    matrix = similarity_transform(landmarks, template)
    chip = cv2.warpAffine(image, matrix, (size, size), borderValue=(0, 0, 0))
    return np.asarray(chip, dtype=np.uint8)
