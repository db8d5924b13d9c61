"""Build the vector index from settings; find the embedding dimension."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from appliance.config import ConfigError, Settings
from appliance.vectors.lite_lane import LaneClient
from appliance.vectors.lite_server import find_sidecar, lite_data_dir
from appliance.vectors.milvus import MilvusIndex


def milvus_uri_from_settings(settings: Settings) -> str:
    """``APPLIANCE_MILVUS_URI``; else the Milvus Lite sidecar of a running ``appliance serve`` on
    this data dir (its discovery file, checked live), so CLI commands share that server; else the
    Milvus Lite file ``<data_dir>/milvus/vectors.db``, opened in this process."""
    return _endpoint(settings)[0]


def _endpoint(settings: Settings) -> tuple[str, str | None]:
    """The index URI and, for a Lite sidecar, its search lane's socket (if it has one)."""
    if settings.milvus_uri:
        return settings.milvus_uri, settings.milvus_lite_search_socket
    sidecar = find_sidecar(settings.data_dir)
    if sidecar is not None:
        return sidecar.uri, sidecar.search_socket or None
    return str(lite_data_dir(settings.data_dir)), None


def vector_index_from_settings(settings: Settings, dim: int | None = None) -> MilvusIndex:
    """Open (not create) the index; call ``ensure_collection()`` before use. Blocking."""
    uri, search_socket = _endpoint(settings)
    return MilvusIndex(
        uri=uri,
        search_lane=LaneClient(search_socket) if search_socket else None,
        dim=dim if dim is not None else embedding_dim_from_settings(settings),
        collection=settings.milvus_collection,
        token=settings.milvus_token,
        nlist=settings.milvus_nlist,
        nprobe=settings.milvus_nprobe,
        index_type=settings.milvus_index_type,
        hnsw_m=settings.milvus_hnsw_m,
        hnsw_ef=settings.milvus_hnsw_ef,
    )


def embedding_dim_from_settings(settings: Settings) -> int:
    """``APPLIANCE_EMBEDDING_DIM`` if set, else the output width of the embedder ONNX model."""
    if settings.embedding_dim is not None:
        if settings.embedding_dim <= 0:
            raise ConfigError(f"APPLIANCE_EMBEDDING_DIM must be positive, got {settings.embedding_dim}")
        return settings.embedding_dim
    model = Path(settings.models_dir) / settings.embedder
    if not model.is_file():
        raise ConfigError(
            f"cannot tell the embedding dimension: the embedder model {model} does not exist. "
            "Put the model there (APPLIANCE_MODELS_DIR, APPLIANCE_EMBEDDER) or set APPLIANCE_EMBEDDING_DIM"
        )
    return onnx_output_dim(model)


def onnx_output_dim(model: Path) -> int:
    """The last dimension of the model's first output (``[N, D]`` → D): onnxruntime, else onnx."""
    for reader in (_output_shape_onnxruntime, _output_shape_onnx):
        try:
            shape = reader(model)
            break
        except ImportError:
            continue
        except Exception as exc:
            raise ConfigError(f"cannot read the embedder model {model}: {exc}") from exc
    else:
        raise ConfigError(
            f"cannot read {model}: neither onnxruntime nor onnx is installed; "
            "install onnxruntime or set APPLIANCE_EMBEDDING_DIM"
        )
    last = shape[-1] if shape else None
    if not isinstance(last, int) or last <= 0:
        raise ConfigError(
            f"the embedder model {model} has no fixed output width (output shape {shape}); "
            "set APPLIANCE_EMBEDDING_DIM"
        )
    return last


def _output_shape_onnxruntime(model: Path) -> list[Any]:
    ort: Any = importlib.import_module("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    return list(session.get_outputs()[0].shape)


def _output_shape_onnx(model: Path) -> list[Any]:
    onnx: Any = importlib.import_module("onnx")
    graph = onnx.load(str(model), load_external_data=False).graph
    dims = graph.output[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]
