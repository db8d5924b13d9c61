"""One tenant's exemplars as a packed float32 matrix (a delete moves the last row into the hole),
searched exactly; from ``QUANTIZED_FROM`` rows on, through the int8 scan (``scan.py``)."""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from appliance.vectors import scan
from appliance.vectors.base import SearchHit

Array = np.ndarray[Any, Any]
log = logging.getLogger("appliance.vectors")
GROWTH = 1.25
MIN_CAPACITY = 256
PRODUCT_BLOCK = 1 << 19
"""Multiply-adds per product when a few queries go block by block of rows: OpenBLAS then streams
the rows instead of packing them first (ADR 0013)."""
BLOCKED_QUERIES = 16  # larger batches are multiplied at once: the packing pays for itself there
MIN_BLOCK_ROWS = 64
QUANTIZED_FROM = 4096  # rows from which a search starts with the int8 scan
WIDE = 8  # a query with more than 1/WIDE of the rows as candidates is scored by the float product
GATE_ROWS = 16384  # rows of the searches timed to decide whether the int8 scan pays off here
GATE_QUERIES = (1, 8)  # batch sizes timed; the costs in between are taken as linear
GATE_MARGIN = 0.9  # the scan must take under this share of the float product's time
ALWAYS = range(1, 1 << 62)  # every batch size
LARGEST_BATCH = 1024  # more queries at once than an index's batch ever holds
_EXACT = ("_vectors", "_ids", "_customers")
_INT8_COPY = ("_codes", "_scale", "_error", "_norm")


def unit_rows(vectors: Array | Sequence[Any], dim: int) -> Array:
    """``vectors`` as (n, dim) float32 unit rows; ValueError for a wrong shape, a non-finite value
    or a zero vector."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(f"expected {dim}-D vectors, got an array of shape {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise ValueError("vectors must be finite and non-zero")
    unit: Array = array / norms
    return unit


def id_rows(ids: Sequence[uuid.UUID]) -> Array:
    return np.frombuffer(b"".join(i.bytes for i in ids), dtype=np.uint8).reshape(len(ids), 16)


class ExemplarMatrix:
    """Not thread-safe: one thread at a time (``ExactIndex`` runs every call on one worker)."""

    def __init__(
        self,
        dim: int,
        capacity: int = 0,
        quantized_from: int | None = QUANTIZED_FROM,
        batches: range | None = None,
    ) -> None:
        """``quantized_from=None``: no int8 copy, every search scores all rows (small matrices).
        ``batches``: the numbers of queries at once that a search gives the int8 scan (default:
        where it pays off on this machine, ``scan_batches``); where it never does, or no integer
        product is exact here, the matrix keeps no int8 copy either."""
        self.dim = dim
        self.size = 0
        if quantized_from is not None and batches is None:
            batches = scan_batches(dim)
        if batches is None or not scan.available():
            quantized_from = None
        self.quantized_from, self.scan_batches = quantized_from, batches or range(0)
        self._per_row = _EXACT if self.quantized_from is None else (*_EXACT, *_INT8_COPY)
        int8_capacity = 0 if self.quantized_from is None else capacity
        self._vectors: Array = np.empty((capacity, dim), dtype=np.float32)
        self._ids: Array = np.empty((capacity, 16), dtype=np.uint8)
        self._customers: Array = np.empty((capacity, 16), dtype=np.uint8)
        # the int8 copy (scan.quantize): codes, scale, error norm, norm of the quantised row
        self._codes: Array = np.empty((int8_capacity, dim), dtype=np.int8)
        self._scale: Array = np.empty(int8_capacity, dtype=np.float32)
        self._error: Array = np.empty(int8_capacity, dtype=np.float32)
        self._norm: Array = np.empty(int8_capacity, dtype=np.float32)
        self._quantized = 0
        """Rows ``[0, _quantized)`` have their int8 copy (rows a load brought get it later)."""
        self._row: dict[bytes, int] = {}
        """The exemplar id's bytes → its row."""

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        """Memory held, estimated: the arrays plus ~120 bytes per dict entry (key, value, slot)."""
        return sum(int(getattr(self, name).nbytes) for name in self._per_row) + 120 * len(self._row)

    def _reserve(self, rows: int) -> None:
        if rows <= len(self._vectors):
            return
        capacity = max(rows, int(len(self._vectors) * GROWTH), MIN_CAPACITY)
        for name in self._per_row:
            old: Array = getattr(self, name)
            new = np.empty((capacity, *old.shape[1:]), dtype=old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)

    def load(self, ids: Array, customers: Array, vectors: Array) -> None:
        """Append new rows: ids and customers as (n, 16) uint8 rows of uuid bytes, unit float32
        ``vectors``. Their int8 copy is made later (``quantize_some``): a cold load does not wait."""
        start, stop = self.size, self.size + len(vectors)
        self._reserve(stop)
        self._ids[start:stop] = ids
        self._customers[start:stop] = customers
        self._vectors[start:stop] = vectors
        self.size = stop
        keys = self._ids[start:stop].view("V16").ravel().tolist()  # each row as one bytes object
        self._row.update(zip(keys, range(start, stop), strict=True))

    @property
    def quantized(self) -> bool:
        """Every row has its int8 copy (searches may use the int8 scan), or none is kept."""
        return self.quantized_from is None or self._quantized >= self.size

    def quantize_some(self, rows: int = scan.QUANTIZE_ROWS) -> bool:
        """Make the int8 copy of up to ``rows`` more rows; whether all rows have one now."""
        start, stop = self._quantized, min(self.size, self._quantized + rows)
        if start < stop:
            self._set_quantized(slice(start, stop), self._vectors[start:stop])
        self._quantized = max(self._quantized, stop)
        return self.quantized

    def _set_quantized(self, rows: slice | list[int], vectors: Array) -> None:
        if self.quantized_from is None:
            return
        for name, values in zip(_INT8_COPY, scan.quantize(vectors), strict=True):
            getattr(self, name)[rows] = values

    def upsert(self, ids: Sequence[uuid.UUID], customers: Sequence[uuid.UUID], vectors: Array) -> None:
        """Insert or overwrite rows (one per id); ``vectors`` must be unit rows (``unit_rows``)."""
        if not ids:
            return
        self._reserve(self.size + len(ids))
        complete = self.quantized  # then the appended rows keep it complete
        rows = []
        for exemplar_id in ids:
            row = self._row.get(exemplar_id.bytes)
            if row is None:
                row = self._row[exemplar_id.bytes] = self.size
                self.size += 1
            rows.append(row)
        self._vectors[rows] = vectors
        self._ids[rows] = id_rows(ids)
        self._customers[rows] = id_rows(customers)
        self._set_quantized(rows, vectors)
        if complete:
            self._quantized = self.size

    def rows(self, start: int, stop: int) -> tuple[list[uuid.UUID], list[uuid.UUID], Array]:
        """Rows ``start:stop``: exemplar ids, customer ids, vectors (a copy)."""
        stop = min(stop, self.size)
        ids = [uuid.UUID(bytes=row.tobytes()) for row in self._ids[start:stop]]
        customers = [uuid.UUID(bytes=row.tobytes()) for row in self._customers[start:stop]]
        return ids, customers, self._vectors[start:stop].copy()

    def delete(self, ids: Sequence[uuid.UUID]) -> int:
        """Remove rows (unknown ids are ignored); how many were removed."""
        removed = 0
        for exemplar_id in ids:
            row = self._row.pop(exemplar_id.bytes, None)
            if row is None:
                continue
            removed += 1
            last = self.size - 1
            if row != last:  # the last row fills the hole
                for name in self._per_row:
                    array: Array = getattr(self, name)
                    array[row] = array[last]
                if row < self._quantized <= last:  # it had no int8 copy yet: make it
                    self._set_quantized(slice(row, row + 1), self._vectors[row : row + 1])
                self._row[self._ids[row].tobytes()] = row
            self.size = last
            self._quantized = min(self._quantized, self.size)
        return removed

    def count_customer(self, customer_id: uuid.UUID) -> int:
        wanted = np.frombuffer(customer_id.bytes, dtype=np.uint8)
        return int(np.all(self._customers[: self.size] == wanted, axis=1).sum())

    def search(self, queries: Array, top_k: int) -> list[list[SearchHit]]:
        """The ``top_k`` most similar rows per query (unit rows), best first."""
        if self.size == 0 or top_k <= 0:
            return [[] for _ in range(len(queries))]
        n, k = self.size, min(top_k, self.size)
        scanned = self.quantized_from is not None and n >= self.quantized_from and self._quantized >= n
        if not scanned or len(queries) not in self.scan_batches or k == n:
            return self._search_all(queries, k)
        found = scan.candidates(self._codes[:n], self._scale[:n], self._error[:n], self._norm[:n], queries, k)
        results: list[list[SearchHit]] = []
        wide: list[int] = []
        for column, rows in enumerate(found):
            if len(rows) * WIDE > n:
                wide.append(column)
                results.append([])
                continue
            exact = self._vectors[rows] @ queries[column]
            order = np.argsort(-exact, kind="stable")[:k]
            results.append([self._hit(int(rows[i]), float(exact[i])) for i in order])
        if wide:
            for column, hits in zip(wide, self._search_all(queries[wide], k), strict=True):
                results[column] = hits
        return results

    def _search_all(self, queries: Array, k: int) -> list[list[SearchHit]]:
        """The top ``k`` by the float product with every row."""
        scores = self.scores(queries)  # (queries, rows)
        if k < self.size:
            best = np.argpartition(scores, self.size - k, axis=1)[:, self.size - k :]
        else:
            best = np.broadcast_to(np.arange(self.size)[None, :], scores.shape)
        results = []
        for column, rows in enumerate(best):
            ordered = rows[np.argsort(-scores[column, rows], kind="stable")]
            results.append([self._hit(int(row), float(scores[column, row])) for row in ordered])
        return results

    def scores(self, queries: Array) -> Array:
        """Inner products of every query with every live row, one contiguous row per query."""
        return float_scores(self._vectors[: self.size], queries)

    def _hit(self, row: int, score: float) -> SearchHit:
        return SearchHit(
            id=uuid.UUID(bytes=self._ids[row].tobytes()),
            customer_id=uuid.UUID(bytes=self._customers[row].tobytes()),
            score=score,
        )


def float_scores(rows: Array, queries: Array) -> Array:
    """``queries @ rows.T`` in float32, one contiguous row per query; a few queries go block by
    block of rows (``PRODUCT_BLOCK``), one alone as one matrix-vector product."""
    count, dim = queries.shape
    step = max(MIN_BLOCK_ROWS, PRODUCT_BLOCK // max(1, count * dim))
    if count == 1 or count > BLOCKED_QUERIES or step >= len(rows):
        by_row: Array = rows @ queries.T
    else:
        by_row = np.empty((len(rows), count), dtype=np.float32)
        columns = np.ascontiguousarray(queries.T, dtype=np.float32)
        for start in range(0, len(rows), step):
            np.matmul(rows[start : start + step], columns, out=by_row[start : start + step])
    return np.ascontiguousarray(by_row.T)  # the selection of the best runs along each row


_deciding = threading.Lock()


def scan_batches(dim: int) -> range | None:
    """The numbers of queries at once for which a search with the int8 scan is faster here than
    one that scores every row in float32; None when there are none (or no integer product is
    exact here). Decided once, from searches timed on ``GATE_ROWS`` random rows: what pays off
    depends on the CPU's kernels and its memory (ADR 0013)."""
    with _deciding:
        return _scan_batches(dim)


@functools.cache
def _scan_batches(dim: int) -> range | None:
    if not scan.available():
        return None
    rng = np.random.default_rng(1)
    rows = unit_rows(rng.standard_normal((GATE_ROWS, dim), dtype=np.float32), dim)
    queries = unit_rows(rows[: max(GATE_QUERIES)] + rng.standard_normal((max(GATE_QUERIES), dim)) / 8, dim)
    ids = np.zeros((GATE_ROWS, 16), dtype=np.uint8)
    scanning = ExemplarMatrix(dim, quantized_from=0, batches=ALWAYS)
    scoring = ExemplarMatrix(dim, quantized_from=None)
    for matrix in (scanning, scoring):
        matrix.load(ids, ids, rows)
    scanning.quantize_some(GATE_ROWS)
    costs = [
        _best_in_turns(*(functools.partial(m.search, queries[:count], 5) for m in (scanning, scoring)))
        for count in GATE_QUERIES
    ]
    chosen = paying_batches(costs)
    log.info(
        "the index's int8 scan %s; searches timed on %d rows, scan/float32: "
        "%.2f/%.2f ms for %d queries, %.2f/%.2f ms for %d",
        describe(chosen),
        GATE_ROWS,
        1000 * costs[0][0],
        1000 * costs[0][1],
        GATE_QUERIES[0],
        1000 * costs[1][0],
        1000 * costs[1][1],
        GATE_QUERIES[1],
    )
    return chosen


def _best_in_turns(*calls: Callable[[], object], times: int = 5) -> list[float]:
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


def paying_batches(costs: Sequence[Sequence[float]]) -> range | None:
    """From the (scan, float32) costs of searches of ``GATE_QUERIES`` queries at once, the batch
    sizes where the scan's cost line runs clearly below the float product's (a tie on the gate's
    rows can be a loss on a larger tenant's). Both lines are straight, so that is one range of
    sizes, open upwards when the saving grows with the queries; None when it is empty."""
    (low, high), ((scan_low, all_low), (scan_high, all_high)) = GATE_QUERIES, costs
    saving_low, saving_high = GATE_MARGIN * all_low - scan_low, GATE_MARGIN * all_high - scan_high
    slope = (saving_high - saving_low) / (high - low)
    pays = [count for count in range(1, LARGEST_BATCH + 1) if saving_low + slope * (count - low) > 0]
    if not pays:
        return None
    return range(pays[0], ALWAYS.stop if slope >= 0 else pays[-1] + 1)


def describe(batches: range | None) -> str:
    """What the int8 scan does for ``batches`` (``scan_batches``'s answer), in words."""
    if batches is None:
        return "is off: the float32 product is faster here, or no integer product is exact"
    if batches.stop == ALWAYS.stop:
        return f"runs for batches of {batches.start} queries or more"
    return f"runs for batches of {batches.start} to {batches.stop - 1} queries"
