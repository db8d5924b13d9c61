"""One tenant's exemplars as a float32 matrix, searched exactly (inner product on unit vectors).

Rows are packed: a delete moves the last row into the hole, so a search reads only live rows.
Ids are kept as 16-byte rows beside the vectors (hits are built from them) and in a dict from
the id's integer to its row (upserts and deletes find their row without a scan).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from appliance.vectors.base import SearchHit

Array = np.ndarray[Any, Any]
GROWTH = 1.25
MIN_CAPACITY = 256


def unit_rows(vectors: Array | Sequence[Any], dim: int) -> Array:
    """``vectors`` as an (n, dim) float32 array of unit rows; ValueError for a wrong shape,
    a non-finite value or a zero vector."""
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

    def __init__(self, dim: int, capacity: int = 0) -> None:
        self.dim = dim
        self.size = 0
        self._vectors: Array = np.empty((capacity, dim), dtype=np.float32)
        self._ids: Array = np.empty((capacity, 16), dtype=np.uint8)
        self._customers: Array = np.empty((capacity, 16), dtype=np.uint8)
        self._row: dict[int, int] = {}

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        """Memory held, estimated: the arrays plus ~120 bytes per dict entry (key, value, slot)."""
        arrays = self._vectors.nbytes + self._ids.nbytes + self._customers.nbytes
        return arrays + 120 * len(self._row)

    def _reserve(self, rows: int) -> None:
        if rows <= len(self._vectors):
            return
        capacity = max(rows, int(len(self._vectors) * GROWTH), MIN_CAPACITY)
        for name in ("_vectors", "_ids", "_customers"):
            old: Array = getattr(self, name)
            new = np.empty((capacity, old.shape[1]), dtype=old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)

    def load(self, ids: Array, customers: Array, vectors: Array) -> None:
        """Fill an empty matrix at once: ids and customers as (n, 16) uint8 rows of uuid bytes,
        unit ``vectors`` (n, dim) float32 (taken, not copied)."""
        if self.size:
            raise ValueError("load() fills an empty matrix only")
        self._ids, self._customers = ids.copy(), customers.copy()
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.size = len(vectors)
        halves = self._ids.view(">u8")  # (n, 2): the high and low 64 bits of each uuid
        keys = (halves[:, 0].astype(object) << 64) | halves[:, 1].astype(object)
        self._row = dict(zip(keys.tolist(), range(self.size), strict=True))

    def upsert(self, ids: Sequence[uuid.UUID], customers: Sequence[uuid.UUID], vectors: Array) -> None:
        """Insert or overwrite rows; ``vectors`` must be unit rows (``unit_rows``)."""
        if not ids:
            return
        self._reserve(self.size + len(ids))
        id_bytes, customer_bytes = id_rows(ids), id_rows(customers)
        for i, exemplar_id in enumerate(ids):
            row = self._row.get(exemplar_id.int)
            if row is None:
                row = self._row[exemplar_id.int] = self.size
                self.size += 1
            self._vectors[row] = vectors[i]
            self._ids[row] = id_bytes[i]
            self._customers[row] = customer_bytes[i]

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
            row = self._row.pop(exemplar_id.int, None)
            if row is None:
                continue
            removed += 1
            last = self.size - 1
            if row != last:  # the last row fills the hole
                self._vectors[row] = self._vectors[last]
                self._ids[row] = self._ids[last]
                self._customers[row] = self._customers[last]
                self._row[int.from_bytes(self._ids[row].tobytes(), "big")] = row
            self.size = last
        return removed

    def count_customer(self, customer_id: uuid.UUID) -> int:
        wanted = np.frombuffer(customer_id.bytes, dtype=np.uint8)
        return int(np.all(self._customers[: self.size] == wanted, axis=1).sum())

    def search(self, queries: Array, top_k: int) -> list[list[SearchHit]]:
        """The ``top_k`` most similar rows per query (unit rows), best first."""
        if self.size == 0 or top_k <= 0:
            return [[] for _ in range(len(queries))]
        scores = self._vectors[: self.size] @ queries.T  # (rows, queries)
        k = min(top_k, self.size)
        if k < self.size:
            best = np.argpartition(scores, self.size - k, axis=0)[self.size - k :]
        else:
            best = np.broadcast_to(np.arange(self.size)[:, None], scores.shape)
        results = []
        for column in range(scores.shape[1]):
            rows = best[:, column]
            ordered = rows[np.argsort(-scores[rows, column], kind="stable")]
            results.append([self._hit(int(row), float(scores[row, column])) for row in ordered])
        return results

    def _hit(self, row: int, score: float) -> SearchHit:
        return SearchHit(
            id=uuid.UUID(bytes=self._ids[row].tobytes()),
            customer_id=uuid.UUID(bytes=self._customers[row].tobytes()),
            score=score,
        )
