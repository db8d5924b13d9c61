"""An int8 scan of a tenant's matrix that bounds its own error (ADR 0013): only the rows whose coarse
score can reach the exact top k are scored exactly, for a quarter of the memory traffic."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from appliance.vision.runtime import onnx_session

Array = np.ndarray[Any, Any]
log = logging.getLogger("appliance.vectors")

LEVELS = 127
ZERO_POINT = 128  # codes are uint8: MatMulInteger takes the rows unsigned, with a zero point
QUANTIZE_ROWS = 4096  # rows quantised at a time (bounds the temporary arrays of a cold load)
BLOCK = 64  # rows per block when looking for the k-th best coarse score
SLACK = 1e-4  # added to every bound: float32 rounding in the coarse and the exact scores


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _value_info(name: str, elem_type: int, dims: list[str]) -> bytes:
    shape = b"".join(_field(1, _field(2, dim.encode())) for dim in dims)
    tensor_type = _field(1, elem_type) + _field(2, shape)
    return _field(1, name.encode()) + _field(2, _field(1, tensor_type))


def scan_model(signed_queries: bool) -> bytes:
    """The ONNX model ``products = MatMulInteger(rows, queries, zero[, zero])``, serialised by hand
    (its protobuf is four nested messages; the ``onnx`` package is not a dependency of the API).
    Rows are unsigned codes with a zero point; queries are signed codes, or unsigned with the same
    zero point."""
    uint8, int8, int32 = 2, 3, 6
    inputs = ("rows", "queries", "zero") if signed_queries else ("rows", "queries", "zero", "zero")
    node = b"".join(_field(1, name.encode()) for name in inputs)
    node += _field(2, b"products") + _field(4, b"MatMulInteger")
    graph = _field(1, node) + _field(2, b"scan")
    graph += _field(11, _value_info("rows", uint8, ["n", "d"]))
    graph += _field(11, _value_info("queries", int8 if signed_queries else uint8, ["d", "k"]))
    graph += _field(11, _value_info("zero", uint8, []))
    graph += _field(12, _value_info("products", int32, ["n", "k"]))
    opset = _field(1, b"") + _field(2, 13)
    return _field(1, 7) + _field(8, opset) + _field(7, graph)


@dataclass(frozen=True)
class Product:
    """One of ONNX Runtime's integer products: ``session`` runs ``scan_model(signed_queries)``."""

    session: Any
    signed_queries: bool

    def __call__(self, codes: Array, query_codes: Array) -> Array:
        """``(codes - ZERO_POINT) @ (query_codes - ZERO_POINT).T`` in int32."""
        queries = query_codes.T
        if self.signed_queries:
            queries = (queries.astype(np.int16) - ZERO_POINT).astype(np.int8)
        feeds = {
            "rows": codes,
            "queries": np.ascontiguousarray(queries),
            "zero": np.array(ZERO_POINT, np.uint8),
        }
        result: Array = self.session.run(None, feeds)[0]
        return result


def exact_on_this_machine(product: Product, dim: int = 512) -> bool:
    """Whether ``product`` multiplies exactly here: rows of the extreme codes (where a saturating
    kernel fails first) and random ones, against numpy's int32 product."""
    rng = np.random.default_rng(0)
    extremes = np.repeat(np.array([0, 1, ZERO_POINT, 254, 255], dtype=np.uint8), dim).reshape(-1, dim)
    rows = np.concatenate([extremes, rng.integers(0, 256, (59, dim), dtype=np.uint8)])
    queries = np.concatenate([extremes, rng.integers(0, 256, (3, dim), dtype=np.uint8)])
    expected = (rows.astype(np.int32) - ZERO_POINT) @ (queries.astype(np.int32) - ZERO_POINT).T
    return bool(np.array_equal(product(rows, queries), expected))


def best_in_turns(*calls: Callable[[], object], times: int = 5) -> list[float]:
    """Each call's best time of ``times``, taken in turns so that other work on the box slows all
    alike (a first turn warms up)."""
    best = [float("inf")] * len(calls)
    for turn in range(times + 1):
        for i, call in enumerate(calls):
            started = time.perf_counter()
            call()
            if turn:
                best[i] = min(best[i], time.perf_counter() - started)
    return best


def choose(products: Iterable[Product]) -> Product | None:
    """The first of ``products`` that is exact here (the products come fastest first)."""
    return next((product for product in products if exact_on_this_machine(product)), None)


def integer_products() -> Iterator[Product]:
    # Unsigned-by-signed first: with VNNI it is the fast kernel, and exact. Without VNNI, ONNX
    # Runtime's kernel for it adds pairs of products in saturating 16-bit integers (ADR 0013),
    # and the unsigned-by-unsigned one, which widens first, is exact.
    for signed in (True, False):
        yield Product(onnx_session(scan_model(signed), threads=1), signed)


_choosing = threading.Lock()


def scanner() -> Product | None:
    """The exact integer product of the scan, chosen once, run on one thread: the index has one
    worker thread, by design. None where no product is exact on this machine. Whether the scan
    also pays off here is the matrix's decision (``matrix.scan_from_queries``)."""
    with _choosing:
        return _chosen()


@functools.cache
def _chosen() -> Product | None:
    product = choose(integer_products())
    if product is None:
        log.warning("no exact integer product on this CPU: the index's int8 scan is off")
    return product


def quantize(vectors: Array) -> tuple[Array, Array, Array, Array]:
    """Rows of ``vectors`` as (codes uint8, scale, error norm, norm of the quantised row):
    ``x̂ = scale · (code - ZERO_POINT)``, ``|x - x̂| = error``; in blocks of rows."""
    exact = np.asarray(vectors, dtype=np.float32)
    codes = np.empty(exact.shape, dtype=np.uint8)
    scale = np.empty(len(exact), dtype=np.float32)
    error = np.empty(len(exact), dtype=np.float32)
    norm = np.empty(len(exact), dtype=np.float32)
    for start in range(0, len(exact), QUANTIZE_ROWS):
        rows = exact[start : start + QUANTIZE_ROWS]
        peak = np.abs(rows).max(axis=1, initial=0.0)
        step = np.where(peak > 0, peak / LEVELS, 1.0).astype(np.float32)[:, None]
        steps = np.rint(rows / step)
        np.clip(steps, -LEVELS, LEVELS, out=steps)
        approx = steps * step
        norm[start : start + QUANTIZE_ROWS] = np.linalg.norm(approx, axis=1)
        approx -= rows
        error[start : start + QUANTIZE_ROWS] = np.linalg.norm(approx, axis=1)
        steps += ZERO_POINT
        codes[start : start + QUANTIZE_ROWS] = steps
        scale[start : start + QUANTIZE_ROWS] = step[:, 0]
    return codes, scale, error, norm


def candidates(
    codes: Array, scale: Array, error: Array, norm: Array, queries: Array, top_k: int
) -> list[Array]:
    """Per query, the rows that can be among its exact ``top_k`` (row indices, unordered)."""
    q_codes, q_scale, q_error, _ = quantize(queries)
    product = scanner()
    assert product is not None, "the int8 scan is off on this machine"
    exact = product(codes, q_codes)  # (rows, queries)
    # Coarse scores in units of each query's own scale (one pass over the products; a positive
    # factor per query changes no ranking), and so the bound.
    coarse = np.multiply(exact.T, scale, dtype=np.float32, order="C")  # one row per query
    # one bound per query: the largest of any row (the rows' errors differ little)
    bound = (
        (np.linalg.norm(queries, axis=1) * float(error.max()) + q_error * float(norm.max()) + SLACK) / q_scale
    ).astype(np.float32)
    # A lower bound of each query's k-th best coarse score: the k-th best of the maxima of
    # blocks of rows (k distinct rows reach it). Only blocks whose maximum reaches the floor can
    # hold candidates, so the per-row comparison runs on those few blocks.
    rows = coarse.shape[1]
    blocks = rows // BLOCK
    if blocks < top_k:
        kth = np.partition(coarse, rows - top_k, axis=1)[:, rows - top_k]
        return [np.flatnonzero(coarse[j] >= kth[j] - 2 * bound[j]) for j in range(len(queries))]
    heads = coarse[:, : blocks * BLOCK].reshape(len(queries), blocks, BLOCK).max(axis=2)
    kth = np.partition(heads, blocks - top_k, axis=1)[:, blocks - top_k]
    floor = kth - 2 * bound
    tail = np.arange(blocks * BLOCK, rows)  # rows after the last whole block
    found = []
    for j in range(len(queries)):
        starts = np.flatnonzero(heads[j] >= floor[j]) * BLOCK
        near = np.concatenate([(starts[:, None] + np.arange(BLOCK)).ravel(), tail])
        found.append(near[coarse[j, near] >= floor[j]])
    return found
