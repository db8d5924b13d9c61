"""Face detection behind a small interface; YuNet (OpenCV ``FaceDetectorYN``) by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import cv2
import msgspec
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


class Face(msgspec.Struct, frozen=True):
    bbox: tuple[float, float, float, float]
    """[x, y, w, h] in pixels."""
    landmarks: tuple[tuple[float, float], ...]
    """Five points: image-left eye, image-right eye, nose, image-left / image-right mouth corner."""
    score: float

    @property
    def area(self) -> float:
        return self.bbox[2] * self.bbox[3]


class Detector(Protocol):
    name: str

    def detect(self, image: Image) -> list[Face]: ...


class YuNetDetector:
    """OpenCV's YuNet: fast on a CPU, any input size, five landmarks already in ArcFace order."""

    name = "yunet"

    def __init__(
        self, model_path: Path, score_threshold: float = 0.6, nms_threshold: float = 0.3, top_k: int = 50
    ) -> None:
        if not model_path.is_file():
            raise FileNotFoundError(f"detector model not found: {model_path} (run `appliance models pull`)")
        self._net: Any = cv2.FaceDetectorYN.create(
            str(model_path), "", (320, 320), score_threshold, nms_threshold, top_k
        )
        self._size = (320, 320)

    def detect(self, image: Image) -> list[Face]:
        height, width = image.shape[:2]
        if (width, height) != self._size:
            self._net.setInputSize((width, height))
            self._size = (width, height)
        _, rows = self._net.detect(image)
        if rows is None:
            return []
        faces = []
        for row in rows:
            x, y, w, h = (float(v) for v in row[:4])
            points = tuple((float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5))
            faces.append(Face(bbox=(x, y, w, h), landmarks=points, score=float(row[14])))
        return sorted(faces, key=lambda f: f.area, reverse=True)
