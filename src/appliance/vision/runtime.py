"""ONNX Runtime sessions of the vision models, opened one way: a missing file says how to get it,
and a session runs on the threads it is given (one inter-op thread: the graphs are sequential)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

CPU = ("CPUExecutionProvider",)


def require_model(path: Path, what: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{what} model not found: {path} (run `appliance models pull`)")


def onnx_session(
    model: Path | bytes, *, threads: int = 1, providers: Sequence[str] = CPU, quiet: bool = False
) -> Any:
    """A session of ``model`` (a file, or the bytes of a graph prepared in memory); ``quiet`` keeps
    ONNX Runtime's warnings out of the log."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if quiet:
        options.log_severity_level = 3
    source = str(model) if isinstance(model, Path) else model
    return onnxruntime.InferenceSession(source, options, providers=list(providers))
