"""5-point similarity alignment to the standard 112x112 ArcFace template (least squares, numpy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from appliance.vision.images import Image, fit_similarity, warp_affine

ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
CHIP_SIZE = 112


def similarity_transform(
    landmarks: Sequence[Sequence[float]], template: np.ndarray = ARCFACE_TEMPLATE
) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, translation) mapping landmarks onto the template."""
    source = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    if not np.all(np.isfinite(source)):
        raise ValueError("degenerate landmarks: cannot align this face")
    return fit_similarity(source, template).astype(np.float32)


def align_face(image: Image, landmarks: Sequence[Sequence[float]], size: int = CHIP_SIZE) -> Image:
    """The aligned ``size``x``size`` BGR chip (the template is scaled for sizes other than 112)."""
    template = ARCFACE_TEMPLATE * (size / CHIP_SIZE)
    matrix = similarity_transform(landmarks, template)
    return warp_affine(image, matrix, (size, size), border="constant")
