"""The vector index protocol: what recognition needs from Milvus, nothing more.

Vectors are L2-normalised, so inner product = cosine similarity. One partition per tenant.
PostgreSQL keeps every embedding; the index can always be rebuilt from it (``appliance reindex``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec
import numpy as np

Query = Sequence[float] | np.ndarray[Any, Any]
"""One query vector: a numpy array where one is at hand (no list conversions on the hot path)."""


class VectorItem(msgspec.Struct, frozen=True):
    id: uuid.UUID
    """The exemplar id (primary key in the index and in PostgreSQL)."""
    customer_id: uuid.UUID
    vector: Sequence[float] | np.ndarray[Any, Any]
    """A numpy array where one is at hand: the write-behind layer searches pending items by
    brute force, and stacking arrays is much cheaper than converting lists."""


class SearchHit(msgspec.Struct, frozen=True):
    id: uuid.UUID
    customer_id: uuid.UUID
    score: float
    """Cosine similarity, -1..1."""


class VectorIndexError(RuntimeError):
    """The index cannot serve (unreachable, locked by another process, misconfigured)."""


class DimensionMismatchError(VectorIndexError):
    """The collection holds vectors of another dimension than the configured embedder."""

    def __init__(self, collection: str, found: int, expected: int) -> None:
        self.collection, self.found, self.expected = collection, found, expected
        super().__init__(
            f"the vector collection {collection!r} holds {found}-D vectors but the embedder produces "
            f"{expected}-D ones: run `appliance reindex` to rebuild it from PostgreSQL "
            f"(or drop the collection)"
        )


class VectorIndex(Protocol):
    dim: int

    def ensure_collection(self) -> None:
        """Create the collection and its index when missing (idempotent)."""

    def ensure_partition(self, tenant_id: uuid.UUID) -> None: ...

    def drop_partition(self, tenant_id: uuid.UUID) -> None: ...

    def upsert(self, tenant_id: uuid.UUID, items: Sequence[VectorItem]) -> None: ...

    def delete(self, tenant_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None: ...

    def delete_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> None: ...

    def search(self, tenant_id: uuid.UUID, vectors: Sequence[Query], top_k: int = 5) -> list[list[SearchHit]]:
        """Best ``top_k`` hits per query vector, best first, within one tenant's partition."""

    def count(self, tenant_id: uuid.UUID) -> int:
        """Live vectors in the tenant's partition (reflects every completed write)."""

    def count_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int:
        """Live vectors of one customer (erasure verification)."""

    def ids_of_customers(
        self, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, uuid.UUID]:
        """The live vectors of these customers: vector id → customer id (catch-up's second look)."""
        ...

    def flush(self) -> None:
        """Seal pending writes so searches run on indexed segments (much faster on Lite)."""

    def reachable(self) -> bool:
        """Whether the index answers now (readiness): a cheap call, never an exception."""
        ...

    def close(self) -> None: ...
