"""An in-memory matrix of vectors searched by brute force, without restacking per search.

The write-behind layer (vectors not yet flushed to the index) and the recent-customer gallery are
searched on every ingested face and change on nearly every one. Stacking their vectors into a
matrix for each search cost more than the search; here rows are appended in place (capacity
doubles), removal only marks a row dead, and dead rows are compacted away once they are half.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

MIN_CAPACITY = 64


HEAD = 8
"""Rows ranked up front by ``VectorBuffer.ranked``; enough for a top-5 search."""


class VectorBuffer:
    def __init__(self, dim: int | None = None) -> None:
        self._dim = dim
        self._rows: np.ndarray[Any, Any] | None = None
        self._ids: list[uuid.UUID | None] = []
        self._owners: list[uuid.UUID] = []
        self._live: np.ndarray[Any, Any] = np.zeros(0, dtype=bool)
        self._where: dict[uuid.UUID, int] = {}
        self._dead = 0

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._where

    def add(
        self, item_id: uuid.UUID, owner: uuid.UUID, vector: Sequence[float] | np.ndarray[Any, Any]
    ) -> None:
        """Add (or replace) one vector."""
        if item_id in self._where:
            self.remove(item_id)
        row = np.asarray(vector, dtype=np.float32)
        if self._rows is None:
            self._dim = self._dim or row.shape[0]
            self._rows = np.empty((MIN_CAPACITY, self._dim), dtype=np.float32)
            self._live = np.zeros(MIN_CAPACITY, dtype=bool)
        size = len(self._ids)
        if size == self._rows.shape[0]:
            self._grow()
            assert self._rows is not None
        self._rows[size] = row
        self._live[size] = True
        self._ids.append(item_id)
        self._owners.append(owner)
        self._where[item_id] = size

    def remove(self, item_id: uuid.UUID) -> None:
        row = self._where.pop(item_id, None)
        if row is None:
            return
        self._live[row] = False
        self._ids[row] = None
        self._dead += 1
        if self._dead >= MIN_CAPACITY and self._dead * 2 >= len(self._ids):
            self._compact()

    def remove_owner(self, owner: uuid.UUID) -> list[uuid.UUID]:
        """Remove every vector of one owner; returns their ids."""
        gone = [item_id for item_id, row in self._where.items() if self._owners[row] == owner]
        for item_id in gone:
            self.remove(item_id)
        return gone

    def ranked(
        self, vector: Sequence[float] | np.ndarray[Any, Any]
    ) -> Iterator[tuple[uuid.UUID, uuid.UUID, float]]:
        """Live (id, owner, score) best first; consume only as many as needed."""
        if self._rows is None or not self._where:
            return
        size, live = len(self._ids), len(self._where)
        scores = self._rows[:size] @ np.asarray(vector, dtype=np.float32)
        scores[~self._live[:size]] = -np.inf
        # Callers want the best few: order those first, the rest only if asked for (a full
        # sort of every pending row per search showed in ingest's profile).
        head = min(live, HEAD)
        if head < size:
            best = np.argpartition(-scores, head - 1)[:head]
            best = best[np.argsort(-scores[best], kind="stable")]
        else:
            best = np.argsort(-scores, kind="stable")[:live]
        yield from self._rows_as_hits(best, scores)
        if head < live:
            done = set(best.tolist())
            rest = [row for row in np.argsort(-scores, kind="stable")[:live].tolist() if row not in done]
            yield from self._rows_as_hits(np.asarray(rest, dtype=np.intp), scores)

    def _rows_as_hits(
        self, rows: np.ndarray[Any, Any], scores: np.ndarray[Any, Any]
    ) -> Iterator[tuple[uuid.UUID, uuid.UUID, float]]:
        for row in rows.tolist():
            item_id = self._ids[row]
            if item_id is not None:
                yield item_id, self._owners[row], float(scores[row])

    def best(self, vector: Sequence[float] | np.ndarray[Any, Any]) -> tuple[uuid.UUID | None, float]:
        """The owner of the most similar vector and the similarity, or (None, -1.0)."""
        for _, owner, score in self.ranked(vector):
            return owner, score
        return None, -1.0

    def _grow(self) -> None:
        assert self._rows is not None
        capacity = self._rows.shape[0] * 2
        rows = np.empty((capacity, self._rows.shape[1]), dtype=np.float32)
        rows[: self._rows.shape[0]] = self._rows
        live = np.zeros(capacity, dtype=bool)
        live[: self._live.shape[0]] = self._live
        self._rows, self._live = rows, live

    def _compact(self) -> None:
        assert self._rows is not None
        keep = [row for row, item_id in enumerate(self._ids) if item_id is not None]
        count = len(keep)
        self._rows[:count] = self._rows[keep]
        self._live[:] = False
        self._live[:count] = True
        self._ids = [self._ids[row] for row in keep]
        self._owners = [self._owners[row] for row in keep]
        self._where = {item_id: row for row, item_id in enumerate(self._ids) if item_id is not None}
        self._dead = 0
