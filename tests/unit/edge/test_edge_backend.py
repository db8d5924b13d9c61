"""Embedder backend choice (pure logic): CoreML on a Mac with coremltools and an .mlpackage,
else ONNX Runtime with the best provider available — and the reason given for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from appliance.vision.embed import choose_backend

ALL = ["CoreMLExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "embedder.onnx"
    path.write_bytes(b"onnx")
    return path


def test_darwin_with_coremltools_and_mlpackage_uses_coreml(model: Path) -> None:
    (model.with_suffix(".mlpackage")).mkdir()
    choice = choose_backend(model, system="Darwin", coreml_available=True, available_providers=ALL)
    assert choice.backend == "coreml" and choice.path.endswith("embedder.mlpackage")
    assert choice.providers == () and "embedder.mlpackage" in choice.reason


def test_darwin_without_mlpackage_uses_the_coreml_execution_provider(model: Path) -> None:
    choice = choose_backend(model, system="Darwin", coreml_available=True, available_providers=ALL)
    assert choice.backend == "onnxruntime-coreml" and choice.providers[0] == "CoreMLExecutionProvider"
    assert "no embedder.mlpackage" in choice.reason


def test_darwin_without_coremltools_ignores_the_mlpackage(model: Path) -> None:
    (model.with_suffix(".mlpackage")).mkdir()
    choice = choose_backend(
        model,
        system="Darwin",
        coreml_available=False,
        available_providers=["CoreMLExecutionProvider", "CPUExecutionProvider"],
    )
    assert choice.backend == "onnxruntime-coreml" and choice.path == str(model)


def test_linux_never_picks_coreml_even_with_a_package(model: Path) -> None:
    (model.with_suffix(".mlpackage")).mkdir()
    choice = choose_backend(
        model, system="Linux", coreml_available=True, available_providers=["CPUExecutionProvider"]
    )
    assert choice.backend == "onnxruntime-cpu" and choice.reason.startswith("Linux: no CoreML")


def test_cuda_first_then_cpu(model: Path) -> None:
    choice = choose_backend(
        model,
        system="Linux",
        coreml_available=False,
        available_providers=["CPUExecutionProvider", "CUDAExecutionProvider"],
    )
    assert choice.backend == "onnxruntime-cuda"
    assert choice.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert choice.path == str(model)


def test_cpu_only(model: Path) -> None:
    choice = choose_backend(
        model, system="Linux", coreml_available=False, available_providers=["CPUExecutionProvider"]
    )
    assert choice.providers == ("CPUExecutionProvider",)


def test_unknown_providers_fall_back_to_cpu(model: Path) -> None:
    choice = choose_backend(
        model, system="Linux", coreml_available=False, available_providers=["TensorrtExecutionProvider"]
    )
    assert choice.providers == ("CPUExecutionProvider",)


def test_this_machine(model: Path) -> None:
    choice = choose_backend(model)
    assert choice.backend.startswith("onnxruntime") and "CPUExecutionProvider" in choice.providers
    assert choice.reason


def test_input_normalisation_follows_the_model_pack() -> None:
    from appliance.vision.embed import INPUTS, normalisation_for

    assert normalisation_for(Path("models/face_recognition_sface_2021dec.onnx")) == "raw"  # SFace: RGB 0..255
    assert normalisation_for(Path("models/w600k_mbf.onnx")) == "arcface"
    assert normalisation_for(Path("models/paddle_mobileface_arcface_128d.onnx")) == "arcface"
    assert normalisation_for(Path("models/some-other.onnx")) == "arcface"
    chip = np.zeros((112, 112, 3), np.uint8)
    chip[..., 0] = 255  # blue in BGR
    raw, arc = INPUTS["raw"]([chip]), INPUTS["arcface"]([chip])
    assert raw.shape == arc.shape == (1, 3, 112, 112)
    assert raw[0, 2].max() == 255.0 and raw[0, 0].max() == 0.0  # RGB order: blue is the last plane
    assert arc[0, 2].max() == 1.0 and arc[0, 0].min() == -1.0


def test_the_stand_in_embedder_loads_with_its_dimension(models_dir: Path) -> None:
    from appliance.vision.embed import load_embedder

    embedder = load_embedder(models_dir / "paddle_mobileface_arcface_128d.onnx")
    assert embedder.dim == 128 and embedder.backend == "onnxruntime"
    vectors = embedder.embed([np.full((112, 112, 3), 128, np.uint8)])
    assert vectors.shape == (1, 128) and abs(float(np.linalg.norm(vectors[0])) - 1.0) < 1e-5
