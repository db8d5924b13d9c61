"""The embedder's runtime on this machine, and the CoreML embedder used on macOS.

:func:`runtime_backend` says which runtime the edge will use and why (logged at start, shown by
``appliance models list``): a CoreML ``.mlpackage`` beside the ONNX model through coremltools
(macOS with coremltools), else ONNX Runtime with its CoreML execution provider when the build has
it (the macOS arm64 wheels do), else CUDA, else the CPU. The choice itself is
:func:`appliance.vision.embed.choose_backend`; this module adds the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from appliance.vision.embed import (
    INPUTS,
    Embeddings,
    choose_backend,
    l2_normalise,
    machine_facts,
    model_output_dim,
    normalisation_for,
)
from appliance.vision.images import Image

COREML_EP = "CoreMLExecutionProvider"


class RuntimeChoice(msgspec.Struct, frozen=True):
    backend: str
    """"coreml" (coremltools + .mlpackage), "onnxruntime-coreml", "onnxruntime-cuda" or "onnxruntime-cpu"."""
    providers: tuple[str, ...]
    reason: str


def runtime_backend(
    model_path: Path,
    *,
    system: str | None = None,
    coreml_available: bool | None = None,
    available_providers: Sequence[str] | None = None,
) -> RuntimeChoice:
    """Which runtime embeds faces here, and why; the inputs default to this machine's facts."""
    system, coreml_available = machine_facts(system, coreml_available)
    choice = choose_backend(
        model_path, system=system, coreml_available=coreml_available, available_providers=available_providers
    )
    package = model_path.with_suffix(".mlpackage")
    if choice.backend == "coreml":
        return RuntimeChoice(
            backend="coreml",
            providers=(),
            reason=f"macOS with coremltools and {package.name} in the model pack",
        )
    first = choice.providers[0]
    if first == COREML_EP:
        why = "ONNX Runtime offers the CoreML execution provider (Neural Engine/GPU)"
        if system == "Darwin" and not package.exists():
            why += f"; no {package.name} in the model pack for coremltools"
        return RuntimeChoice(backend="onnxruntime-coreml", providers=choice.providers, reason=why)
    if first == "CUDAExecutionProvider":
        return RuntimeChoice(
            backend="onnxruntime-cuda", providers=choice.providers, reason="ONNX Runtime offers CUDA"
        )
    if system == "Darwin":
        why = "macOS, but this ONNX Runtime build has no CoreML execution provider"
        why += (
            " and coremltools is not installed"
            if not coreml_available
            else f" and there is no {package.name}"
        )
    else:
        why = f"{system}: no CoreML here and ONNX Runtime offers no GPU provider"
    return RuntimeChoice(backend="onnxruntime-cpu", providers=choice.providers, reason=why)


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
