"""An int8 scan of a tenant's matrix that bounds its own error (ADR 0013): only the rows whose coarse
score can reach the exact top k are scored exactly, for a quarter of the memory traffic. The
integer products are SimSIMD's (its kernels use the CPU's dot-product instructions where it has
them)."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import simsimd

Array = np.ndarray[Any, Any]
log = logging.getLogger("appliance.vectors")

LEVELS = 127  # codes are int8 in [-LEVELS, LEVELS]: -128 never occurs, so no kernel meets it
QUANTIZE_ROWS = 4096  # rows quantised at a time (bounds the temporary arrays of a cold load)
BLOCK = 64  # rows per block when looking for the k-th best coarse score
SLACK = 1e-4  # added to every bound: float32 rounding in the coarse and the exact scores


def product(codes: Array, query_codes: Array) -> Array:
    """``query_codes @ codes.T``, one row per query: SimSIMD's integer dot products, on one thread
    (the index has one worker, by design). Returned as float32, which holds every such sum exactly
    while ``dim · LEVELS²`` stays below 2^24 (dims up to 1,040), else as float64."""
    if codes.shape[1] * LEVELS**2 < 2**24:
        return np.asarray(simsimd.cdist(query_codes, codes, metric="dot", threads=1, out_dtype="float32"))
    return np.asarray(simsimd.cdist(query_codes, codes, metric="dot", threads=1, out_dtype="float64"))


def exact_on_this_machine(dim: int = 512, multiply: Callable[[Array, Array], Array] = product) -> bool:
    """Whether ``multiply`` is exact here: rows of the extreme codes (where a kernel that adds
    pairs in 16-bit integers saturates first) and random ones, against numpy's int64 product."""
    rng = np.random.default_rng(0)
    extremes = np.repeat(np.array([-LEVELS, -1, 0, 1, LEVELS], dtype=np.int8), dim).reshape(-1, dim)
    rows = np.concatenate([extremes, rng.integers(-LEVELS, LEVELS + 1, (59, dim), dtype=np.int8)])
    queries = np.concatenate([extremes, rng.integers(-LEVELS, LEVELS + 1, (3, dim), dtype=np.int8)])
    expected = queries.astype(np.int64) @ rows.astype(np.int64).T
    return bool(np.array_equal(multiply(rows, queries), expected))


_checking = threading.Lock()


def available() -> bool:
    """Whether the scan's integer product is exact on this machine (checked once). Whether the
    scan also pays off here is the matrix's decision (``matrix.scan_batches``)."""
    with _checking:
        return _exact()


@functools.cache
def _exact() -> bool:
    exact = exact_on_this_machine()
    if not exact:
        log.warning("SimSIMD's integer dot product is not exact on this CPU: the index's int8 scan is off")
    return exact


def quantize(vectors: Array) -> tuple[Array, Array, Array, Array]:
    """Rows of ``vectors`` as (codes int8, scale, error norm, norm of the quantised row):
    ``x̂ = scale · code``, ``|x - x̂| = error``; in blocks of rows."""
    exact = np.asarray(vectors, dtype=np.float32)
    codes = np.empty(exact.shape, dtype=np.int8)
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
        codes[start : start + QUANTIZE_ROWS] = steps
        scale[start : start + QUANTIZE_ROWS] = step[:, 0]
    return codes, scale, error, norm


def candidates(
    codes: Array, scale: Array, error: Array, norm: Array, queries: Array, top_k: int
) -> list[Array]:
    """Per query, the rows that can be among its exact ``top_k`` (row indices, unordered)."""
    q_codes, q_scale, q_error, _ = quantize(queries)
    # Coarse scores in units of each query's own scale (one pass over the products; a positive
    # factor per query changes no ranking), and so the bound.
    coarse = np.multiply(product(codes, q_codes), scale, dtype=np.float32)  # one row per query
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
