"""Detector + embedder loaded together from the models dir: one face image in, one embedding out."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from appliance.config import Settings
from appliance.edge.align import align_face
from appliance.edge.detect import Detector, Face, Image, YuNetDetector
from appliance.edge.embed import Embedder, Embeddings, load_embedder

DETECTOR_FILE = "face_detection_yunet_2023mar.onnx"


class NoSingleFace(ValueError):
    """The photo must show exactly one face (enrolment)."""


class Vision:
    def __init__(self, detector: Detector, embedder: Embedder) -> None:
        self.detector = detector
        self.embedder = embedder

    @classmethod
    def from_settings(cls, settings: Settings, threads: int = 1) -> Vision:
        models = Path(settings.models_dir)
        return cls(YuNetDetector(models / DETECTOR_FILE), load_embedder(models / settings.embedder, threads))

    def embed_faces(self, image: Image, faces: list[Face]) -> Embeddings:
        return self.embedder.embed([align_face(image, face.landmarks) for face in faces])

    def enrol(self, data: bytes, min_score: float = 0.7) -> tuple[Embeddings, Face]:
        """Decode a photo and embed its single face; no face or several → ``NoSingleFace``."""
        image = decode_image(data)
        faces = [f for f in self.detector.detect(image) if f.score >= min_score]
        if len(faces) != 1:
            raise NoSingleFace(f"the photo must show exactly one face; found {len(faces)}")
        return self.embed_faces(image, faces)[0], faces[0]


def decode_image(data: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable JPEG/PNG image")
    return np.asarray(image, dtype=np.uint8)
