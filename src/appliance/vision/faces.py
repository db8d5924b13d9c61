"""Detector + embedder loaded together from the models dir: one face image in, one embedding out
(staff photo enrolment on the server, tools)."""

from __future__ import annotations

from pathlib import Path

from appliance.config import Settings
from appliance.vision.align import align_face
from appliance.vision.detect import Detector, Face, YuNetDetector
from appliance.vision.embed import Embedder, Embeddings, load_embedder
from appliance.vision.images import Image, decode_image

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
        return cls(
            YuNetDetector(models / DETECTOR_FILE, threads=threads),
            load_embedder(models / settings.embedder, threads),
        )

    def embed_faces(self, image: Image, faces: list[Face]) -> Embeddings:
        return self.embedder.embed([align_face(image, face.landmarks) for face in faces])

    def enrol(self, data: bytes, min_score: float = 0.7) -> tuple[Embeddings, Face]:
        """Decode a photo and embed its single face; no face or several → ``NoSingleFace``."""
        image = decode_image(data)
        faces = [f for f in self.detector.detect(image) if f.score >= min_score]
        if len(faces) != 1:
            raise NoSingleFace(f"the photo must show exactly one face; found {len(faces)}")
        return self.embed_faces(image, faces)[0], faces[0]


__all__ = ["DETECTOR_FILE", "NoSingleFace", "Vision", "decode_image"]
