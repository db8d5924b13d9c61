"""The numpy/ONNX Runtime vision against what OpenCV gave before ADR 0016, on the real photos and
the real models: the figures in ``cv2_reference.json`` were recorded with OpenCV by
``make_cv2_reference.py``; this test runs without OpenCV."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.vision.align import align_face
from appliance.vision.attributes import AttributeModel
from appliance.vision.detect import YuNetDetector
from appliance.vision.embed import load_embedder
from appliance.vision.faces import DETECTOR_FILE
from appliance.vision.images import read_image
from appliance.vision.models import sha256_file

REFERENCE = json.loads(Path(__file__).with_name("cv2_reference.json").read_text())


@pytest.fixture(scope="module")
def detector(models_dir: Path) -> YuNetDetector:
    return YuNetDetector(models_dir / DETECTOR_FILE)


@pytest.fixture(scope="module")
def photos(faces_dir: Path, detector: YuNetDetector) -> dict[str, tuple[np.ndarray, list[Any]]]:
    found = {}
    for name in REFERENCE["photos"]:
        image = read_image(str(faces_dir / name))
        found[name] = (image, detector.detect(image))
    return found


def reference_vector(entry: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(entry["embedding_f16"]), dtype=np.float16).astype(np.float32)


def test_detections_match_opencv_face_detector_yn(photos: dict[str, tuple[np.ndarray, list[Any]]]) -> None:
    assert len(photos) == 45
    for name, (_, faces) in photos.items():
        expected = REFERENCE["photos"][name]["rows"]
        assert len(faces) == len(expected), name
        for face, row in zip(faces, expected, strict=True):
            got = [*face.bbox, *(v for point in face.landmarks for v in point), face.score]
            assert np.allclose(got, row, atol=0.01), name


@pytest.fixture(scope="module")
def embedded(
    photos: dict[str, tuple[np.ndarray, list[Any]]], models_dir: Path
) -> list[tuple[str, dict[str, Any], np.ndarray]]:
    embedder_path = models_dir / REFERENCE["embedder"]
    assert sha256_file(embedder_path) == REFERENCE["embedder_sha256"]
    embedder = load_embedder(embedder_path)
    out = []
    for name, entry in REFERENCE["photos"].items():
        if "embedding_f16" not in entry:
            continue
        image, faces = photos[name]
        out.append((name, entry, embedder.embed([align_face(image, faces[0].landmarks)])[0]))
    return out


def test_aligned_chips_embed_like_opencvs(embedded: list[tuple[str, dict[str, Any], np.ndarray]]) -> None:
    """Least squares on all five points (Umeyama) vs OpenCV's LMEDS: the same transform whenever
    LMEDS kept every point, and then the same embedding; where LMEDS dropped a point (an open
    mouth), the two chips differ a little by design."""
    kept_all, dropped = [], []
    for _, entry, vector in embedded:
        cosine = float(vector @ reference_vector(entry))
        (kept_all if entry["lmeds_all_points"] else dropped).append(cosine)
    print(
        f"\ncos(old, new): {len(kept_all)} faces min {min(kept_all):.4f}; "
        f"{len(dropped)} with a point LMEDS dropped: min {min(dropped):.4f}"
    )
    assert len(kept_all) + len(dropped) == 38
    assert min(kept_all) >= 0.99
    assert min(dropped) >= 0.9
    assert np.mean(kept_all + dropped) >= 0.99


def test_same_person_margin_is_no_worse_than_opencvs(
    embedded: list[tuple[str, dict[str, Any], np.ndarray]],
) -> None:
    def margin(vectors: np.ndarray) -> tuple[float, float]:
        names = [name.split("/")[0] for name, _, _ in embedded]
        sims = vectors @ vectors.T
        genuine = [
            sims[i, j] for i in range(len(names)) for j in range(i + 1, len(names)) if names[i] == names[j]
        ]
        impostor = [
            sims[i, j] for i in range(len(names)) for j in range(i + 1, len(names)) if names[i] != names[j]
        ]
        return float(min(genuine) - max(impostor)), float(np.mean(genuine))

    old = np.stack([reference_vector(entry) for _, entry, _ in embedded])
    old /= np.linalg.norm(old, axis=1, keepdims=True)
    new = np.stack([vector for _, _, vector in embedded])
    (old_margin, old_mean), (new_margin, new_mean) = margin(old), margin(new)
    print(
        f"\nmargin old {old_margin:.3f} new {new_margin:.3f}; "
        f"genuine mean old {old_mean:.3f} new {new_mean:.3f}"
    )
    assert new_margin >= old_margin - 0.005
    assert new_mean >= old_mean - 0.005


def test_gender_matches_opencvs_dlib_chip(
    photos: dict[str, tuple[np.ndarray, list[Any]]], models_dir: Path
) -> None:
    model = AttributeModel.from_dir(models_dir)
    assert model is not None
    checked = 0
    for name, entry in REFERENCE["photos"].items():
        if "gender" not in entry:
            continue
        image, faces = photos[name]
        assert model.predict(image, faces[0].landmarks).gender == entry["gender"], name
        checked += 1
    assert checked == 38
