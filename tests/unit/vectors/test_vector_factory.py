"""Embedding dimension from settings or the embedder model; index construction from settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from appliance.config import ConfigError, load_settings
from appliance.vectors.factory import (
    embedding_dim_from_settings,
    milvus_uri_from_settings,
    onnx_output_dim,
    vector_index_from_settings,
)
from appliance.vectors.lite_server import SidecarInfo, discovery_path, find_sidecar, free_port, lite_data_dir

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
    settings = load_settings(env={}, models_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="APPLIANCE_EMBEDDING_DIM") as caught:
        embedding_dim_from_settings(settings)
    assert str(tmp_path / EMBEDDER) in str(caught.value)


def test_a_broken_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / EMBEDDER).write_bytes(b"not an onnx model")
    settings = load_settings(env={}, models_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="cannot read the embedder model"):
        embedding_dim_from_settings(settings)


def test_a_non_positive_setting_is_rejected() -> None:
    with pytest.raises(ConfigError, match="positive"):
        embedding_dim_from_settings(load_settings(env={}, embedding_dim=0))


def test_milvus_uri_defaults_to_a_lite_file_in_the_data_dir(tmp_path: Path) -> None:
    assert milvus_uri_from_settings(load_settings(env={}, data_dir=str(tmp_path))) == str(
        tmp_path / "milvus" / "vectors.db"
    )
    server = load_settings(env={"APPLIANCE_MILVUS_URI": "http://milvus:19530"})
    assert milvus_uri_from_settings(server) == "http://milvus:19530"


def write_discovery(data_dir: Path, pid: int, *, lite_dir: Path | None = None) -> None:
    port = free_port()
    info = SidecarInfo(
        pid=pid,
        port=port,
        uri=f"http://127.0.0.1:{port}",
        data_dir=str((lite_dir or lite_data_dir(data_dir)).resolve()),
    )
    path = discovery_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.encode(info))


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize(
    "stale",
    ["dead pid", "nothing answers", "another data dir", "garbage"],
)
def test_a_stale_sidecar_file_falls_back_to_the_lite_file(tmp_path: Path, stale: str) -> None:
    if stale == "dead pid":
        write_discovery(tmp_path, dead_pid())
    elif stale == "nothing answers":  # a live pid (ours) but no server on the port
        write_discovery(tmp_path, os.getpid())
    elif stale == "another data dir":  # e.g. a restored copy of another box's data dir
        write_discovery(tmp_path, os.getpid(), lite_dir=tmp_path / "elsewhere" / "vectors.db")
    else:
        discovery_path(tmp_path).parent.mkdir(parents=True)
        discovery_path(tmp_path).write_text("{not json")
    assert find_sidecar(tmp_path) is None
    settings = load_settings(env={}, data_dir=str(tmp_path))
    assert milvus_uri_from_settings(settings) == str(tmp_path / "milvus" / "vectors.db")


def test_an_explicit_uri_wins_over_a_sidecar_file(tmp_path: Path) -> None:
    write_discovery(tmp_path, os.getpid())
    settings = load_settings(env={"APPLIANCE_MILVUS_URI": "http://milvus:19530"}, data_dir=str(tmp_path))
    assert milvus_uri_from_settings(settings) == "http://milvus:19530"


def test_the_sidecar_is_on_by_default() -> None:
    assert load_settings(env={}).milvus_lite_sidecar
    assert not load_settings(env={"APPLIANCE_MILVUS_LITE_SIDECAR": "false"}).milvus_lite_sidecar


def test_index_from_settings_uses_the_settings(tmp_path: Path) -> None:
    settings = load_settings(
        env={},
        data_dir=str(tmp_path),
        embedding_dim=64,
        milvus_collection="faces_x",
        milvus_nlist=32,
        milvus_nprobe=4,
    )
    index = vector_index_from_settings(settings)
    try:
        assert (index.dim, index.collection, index.nlist, index.nprobe) == (64, "faces_x", 32, 4)
        assert index.is_lite and (tmp_path / "milvus").is_dir()
        assert index.existing_dim() is None
    finally:
        index.close()


@pytest.mark.parametrize(
    ("overrides", "build_params"),
    [
        ({"milvus_nlist": 32}, {"nlist": 32}),
        ({"milvus_index_type": "HNSW", "milvus_hnsw_m": 8}, {"M": 8, "efConstruction": 200}),
    ],
)
def test_lite_builds_its_segments_with_the_configured_parameters(
    tmp_path: Path, overrides: dict[str, Any], build_params: dict[str, int]
) -> None:
    # pymilvus 3 sends build parameters as separate keys and Lite 3.2.2 reads one "params" key:
    # without the nesting Lite silently built every segment with its own defaults.
    settings = load_settings(env={}, data_dir=str(tmp_path), embedding_dim=64, **overrides)
    index = vector_index_from_settings(settings)
    try:
        index.ensure_collection()
    finally:
        index.close()
    manifest = tmp_path / "milvus" / "vectors.db" / "collections" / "face_embeddings" / "manifest.json"
    spec = json.loads(manifest.read_text())["index_specs"]["vector"]
    assert spec["build_params"] == build_params
