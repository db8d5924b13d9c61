"""The vector index protocol and its types. Vectors are L2-normalised (inner product = cosine);
PostgreSQL keeps every embedding, an index follows it by the change cursor (ADR 0008)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import numpy as np

from appliance.lib.errors import NotFoundError

if TYPE_CHECKING:
    from appliance.db.prepared import Prepared
    from appliance.vectors.changes import Changes, Snapshot


class VectorItem(msgspec.Struct, frozen=True):
    id: uuid.UUID
    """The exemplar id (primary key in the index and in PostgreSQL)."""
    customer_id: uuid.UUID
    vector: Sequence[float] | np.ndarray[Any, Any]


class SearchHit(msgspec.Struct, frozen=True):
    id: uuid.UUID
    customer_id: uuid.UUID
    score: float
    """Cosine similarity, -1..1."""


class Searched(msgspec.Struct, frozen=True):
    hits: list[SearchHit]
    since: Any
    """The ``Snapshot`` the search saw at least: read changes from here to bring it up to date."""


class VectorIndexError(RuntimeError):
    """The index cannot serve (unreachable, misconfigured)."""


class TenantGoneError(NotFoundError):
    """The tenant was deleted: its vectors are gone from this process (a 404, not an outage)."""

    def __init__(self, tenant_id: uuid.UUID) -> None:
        self.tenant_id = tenant_id
        super().__init__(f"tenant {tenant_id} no longer exists")


class DimensionMismatchError(VectorIndexError):
    def __init__(self, collection: str, found: int, expected: int) -> None:
        self.collection, self.found, self.expected = collection, found, expected
        super().__init__(
            f"the vector collection {collection!r} holds {found}-D vectors but the embedder produces "
            f"{expected}-D ones: run `appliance reindex` to rebuild it from PostgreSQL "
            f"(or drop the collection)"
        )


class VectorIndex(Protocol):
    """What recognition needs of a vector index: ``ExactIndex`` (``exact.py`` documents each
    call) or ``MilvusIndex``."""

    dim: int

    async def search(self, tenant_id: uuid.UUID, vector: np.ndarray[Any, Any], top_k: int) -> Searched: ...
    def changes_statement(
        self, tenant_id: uuid.UUID, since: Snapshot | None = None
    ) -> tuple[Prepared, dict[str, Any]]: ...
    async def absorb(self, tenant_id: uuid.UUID, rows: Sequence[tuple[Any, ...]]) -> Changes: ...
    def revise(
        self, hits: list[SearchHit], changes: Changes, vector: np.ndarray[Any, Any], top_k: int
    ) -> list[SearchHit] | None: ...
    def wrote(
        self, tenant_id: uuid.UUID, added: Sequence[VectorItem], removed: Sequence[uuid.UUID]
    ) -> None: ...
    async def refresh(self, tenant_id: uuid.UUID) -> None: ...
    async def drop_tenant(self, tenant_id: uuid.UUID) -> None: ...
    async def count(self, tenant_id: uuid.UUID) -> int: ...
    async def count_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int: ...
    def reachable(self) -> bool: ...
    async def close(self) -> None: ...
