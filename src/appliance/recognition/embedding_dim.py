"""The embedding dimension: from the settings, else read from the embedder ONNX model."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from appliance.config import ConfigError, Settings
from appliance.vision.runtime import onnx_session


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
    session = onnx_session(model, quiet=True)  # ImportError without onnxruntime: onnx is tried next
    return list(session.get_outputs()[0].shape)


def _output_shape_onnx(model: Path) -> list[Any]:
    onnx: Any = importlib.import_module("onnx")
    graph = onnx.load(str(model), load_external_data=False).graph
    dims = graph.output[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]
