"""Embedding dimension from settings or the embedder model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from appliance.config import ConfigError, load_settings
from appliance.recognition.embedding_dim import embedding_dim_from_settings, onnx_output_dim

REPO = Path(__file__).resolve().parents[3]
MODELS = Path(os.environ.get("APPLIANCE_MODELS_DIR") or REPO.parent / "shared" / "models")
EMBEDDER = "paddle_mobileface_arcface_128d.onnx"
needs_model = pytest.mark.skipif(not (MODELS / EMBEDDER).is_file(), reason=f"no {EMBEDDER} in {MODELS}")


@needs_model
def test_dimension_is_read_from_the_real_model() -> None:
    settings = load_settings(env={}, models_dir=str(MODELS), embedder=EMBEDDER)
    assert embedding_dim_from_settings(settings) == 128


@needs_model
def test_onnx_package_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    assert onnx_output_dim(MODELS / EMBEDDER) == 128


@needs_model
def test_neither_runtime_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ConfigError, match="APPLIANCE_EMBEDDING_DIM"):
        onnx_output_dim(MODELS / EMBEDDER)


def test_the_setting_wins_over_the_model(tmp_path: Path) -> None:
    settings = load_settings(env={"APPLIANCE_EMBEDDING_DIM": "512", "APPLIANCE_MODELS_DIR": str(tmp_path)})
    assert embedding_dim_from_settings(settings) == 512


def test_no_model_and_no_setting_is_a_clear_error(tmp_path: Path) -> None:
    settings = load_settings(env={}, models_dir=str(tmp_path), embedder=EMBEDDER)
    with pytest.raises(ConfigError, match="APPLIANCE_EMBEDDING_DIM") as caught:
        embedding_dim_from_settings(settings)
    assert str(tmp_path / EMBEDDER) in str(caught.value)


def test_a_broken_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / EMBEDDER).write_bytes(b"not an onnx model")
    settings = load_settings(env={}, models_dir=str(tmp_path), embedder=EMBEDDER)
    with pytest.raises(ConfigError, match="cannot read the embedder model"):
        embedding_dim_from_settings(settings)


def test_a_non_positive_setting_is_rejected() -> None:
    with pytest.raises(ConfigError, match="positive"):
        embedding_dim_from_settings(load_settings(env={}, embedding_dim=0))
