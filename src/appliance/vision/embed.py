"""Face embedders behind one interface, the backend chosen at run time.

Order of preference: CoreML (macOS with coremltools and a ``.mlpackage`` beside the ONNX file)
→ ONNX Runtime with the best execution provider the machine offers (CoreML EP, CUDA, CPU).
:func:`choose_backend` says which runtime and why (the edge logs it at start, ``appliance models
list`` prints it). Vectors are L2-normalised; the dimension is read from the model, never assumed.
"""

from __future__ import annotations

import importlib.util
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from appliance.vision.images import Image
from appliance.vision.runtime import onnx_session, require_model

Embeddings = npt.NDArray[np.float32]
COREML_EP = "CoreMLExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"
PROVIDER_PREFERENCE = (COREML_EP, CUDA_EP, CPU_EP)


class Embedder(Protocol):
    name: str
    version: str
    dim: int
    backend: str

    def embed(self, chips: Sequence[Image]) -> Embeddings:
        """L2-normalised embeddings, one row per aligned 112x112 BGR chip."""


class BackendChoice(msgspec.Struct, frozen=True):
    """Which runtime embeds faces, and why (logged at the edge's start, shown by ``appliance models
    list``)."""

    backend: str
    """"coreml" (coremltools + .mlpackage), "onnxruntime-coreml", "onnxruntime-cuda" or "onnxruntime-cpu"."""
    providers: tuple[str, ...]
    """ONNX Runtime's execution providers, best first; empty for coremltools."""
    path: str
    """What the runtime loads: the ``.mlpackage`` for coremltools, else the ONNX file."""
    reason: str


def choose_backend(
    model_path: Path,
    *,
    system: str | None = None,
    coreml_available: bool | None = None,
    available_providers: Sequence[str] | None = None,
) -> BackendChoice:
    """Which runtime embeds faces here, and why: pure logic (tested everywhere); the operating
    system, whether coremltools is installed and ONNX Runtime's providers default to this
    machine's."""
    system = system or platform.system()
    if coreml_available is None:
        coreml_available = importlib.util.find_spec("coremltools") is not None
    package = model_path.with_suffix(".mlpackage")
    if system == "Darwin" and coreml_available and package.exists():
        return BackendChoice(
            backend="coreml",
            providers=(),
            path=str(package),
            reason=f"macOS with coremltools and {package.name} in the model pack",
        )
    if available_providers is None:
        import onnxruntime

        available_providers = onnxruntime.get_available_providers()
    providers = tuple(p for p in PROVIDER_PREFERENCE if p in available_providers) or (CPU_EP,)
    if providers[0] == COREML_EP:
        backend = "onnxruntime-coreml"
        reason = "ONNX Runtime offers the CoreML execution provider (Neural Engine/GPU)"
        if system == "Darwin" and not package.exists():
            reason += f"; no {package.name} in the model pack for coremltools"
    elif providers[0] == CUDA_EP:
        backend = "onnxruntime-cuda"
        reason = "ONNX Runtime offers CUDA"
    elif system == "Darwin":
        missing = f"there is no {package.name}" if coreml_available else "coremltools is not installed"
        backend = "onnxruntime-cpu"
        reason = f"macOS, but this ONNX Runtime build has no CoreML execution provider and {missing}"
    else:
        backend = "onnxruntime-cpu"
        reason = f"{system}: no CoreML here and ONNX Runtime offers no GPU provider"
    return BackendChoice(backend=backend, providers=providers, path=str(model_path), reason=reason)


def l2_normalise(matrix: npt.NDArray[Any]) -> Embeddings:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.asarray(matrix / np.maximum(norms, 1e-12), dtype=np.float32)


def arcface_input(chips: Sequence[Image]) -> npt.NDArray[np.float32]:
    """BGR uint8 chips → RGB, (x - 127.5) / 127.5, NCHW float32 (InsightFace convention)."""
    batch = np.stack([chip[:, :, ::-1] for chip in chips]).astype(np.float32)
    batch = (batch - 127.5) / 127.5
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def raw_rgb_input(chips: Sequence[Image]) -> npt.NDArray[np.float32]:
    """BGR uint8 chips → RGB, raw 0..255, NCHW float32 (OpenCV SFace convention)."""
    batch = np.stack([chip[:, :, ::-1] for chip in chips]).astype(np.float32)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


INPUTS = {"arcface": arcface_input, "raw": raw_rgb_input}


def normalisation_for(model_path: Path) -> str:
    """How the model wants its pixels: from the model-pack manifest, ArcFace's by default."""
    from appliance.vision.models import MANIFEST

    for pack in MANIFEST:
        if pack.role == "embedder" and pack.file == model_path.name:
            return pack.normalisation
    return "arcface"


class OnnxEmbedder:
    backend = "onnxruntime"

    def __init__(
        self,
        model_path: Path,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        threads: int = 1,
        normalisation: str | None = None,
    ) -> None:
        require_model(model_path, "embedder")
        self._session = onnx_session(model_path, threads=threads, providers=providers)
        self._input = self._session.get_inputs()[0].name
        shape = self._session.get_outputs()[0].shape
        if not isinstance(shape[-1], int):
            raise ValueError(f"{model_path.name}: the embedding dimension is not fixed in the model")
        self.dim = int(shape[-1])
        self.name = model_path.stem
        self.version = model_version(self._session.get_modelmeta().version, model_path)
        self.providers = tuple(self._session.get_providers())
        self.normalisation = normalisation or normalisation_for(model_path)
        if self.normalisation not in INPUTS:
            raise ValueError(
                f"unknown input normalisation {self.normalisation!r}; one of {', '.join(INPUTS)}"
            )
        self._prepare = INPUTS[self.normalisation]

    def embed(self, chips: Sequence[Image]) -> Embeddings:
        if not chips:
            return np.zeros((0, self.dim), dtype=np.float32)
        output = self._session.run(None, {self._input: self._prepare(chips)})[0]
        return l2_normalise(np.asarray(output))


def load_embedder(model_path: Path, threads: int = 1) -> Embedder:
    choice = choose_backend(model_path)
    if choice.backend == "coreml":  # pragma: no cover - needs macOS
        from appliance.vision.coreml import CoreMLEmbedder

        return CoreMLEmbedder(Path(choice.path), model_path)
    return OnnxEmbedder(model_path, choice.providers, threads)


def model_output_dim(model_path: Path) -> int:
    """The embedding dimension declared by an ONNX model's output."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    dim = session.get_outputs()[0].shape[-1]
    if not isinstance(dim, int):
        raise ValueError(f"{model_path.name}: the embedding dimension is not fixed in the model")
    return dim


UNSET_VERSION = 2**63 - 1
"""What ONNX Runtime reports for a model whose ``model_version`` was never set."""


def model_version(declared: int, model_path: Path) -> str:
    """The version events carry: the model's own when it declares one, else the start of its
    file's sha256 — the same weights always give the same identity (a tenant's embedder is
    pinned by it)."""
    if 0 < declared < UNSET_VERSION:
        return str(declared)
    from appliance.vision.models import sha256_file

    return f"sha256:{sha256_file(model_path)[:12]}"
