"""The CoreML embedder used on macOS: a CoreML ``.mlpackage`` beside the ONNX model, run through
coremltools. :func:`appliance.vision.embed.choose_backend` decides when it runs (and says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from appliance.vision.embed import INPUTS, Embeddings, l2_normalise, model_output_dim, normalisation_for
from appliance.vision.images import Image


class CoreMLEmbedder:  # pragma: no cover - exercised on macOS only
    backend = "coreml"

    def __init__(self, package: Path, onnx_path: Path) -> None:
        import coremltools

        self._model: Any = coremltools.models.MLModel(str(package))
        spec = self._model.get_spec()
        self._input = spec.description.input[0].name
        self._output = spec.description.output[0].name
        self.dim = (
            model_output_dim(onnx_path)
            if onnx_path.exists()
            else int(spec.description.output[0].type.multiArrayType.shape[-1])
        )
        self.name = onnx_path.stem
        self.version = "coreml"
        self._prepare = INPUTS[normalisation_for(onnx_path)]

    def embed(self, chips: Sequence[Image]) -> Embeddings:
        if not chips:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = [self._model.predict({self._input: self._prepare([chip])})[self._output] for chip in chips]
        return l2_normalise(np.concatenate([np.asarray(r).reshape(1, -1) for r in rows]))
