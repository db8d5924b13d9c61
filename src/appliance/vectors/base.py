"""The vector index protocol: what recognition needs of an index, nothing more.

Vectors are L2-normalised, so inner product = cosine similarity. PostgreSQL keeps every
embedding; an index is derived from it (the embedded one is read from it, a Milvus collection is
rebuilt by ``appliance reindex``).
"""

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
    """The index cannot serve (unreachable, locked by another process, misconfigured)."""


class TenantGoneError(NotFoundError):
    """The tenant was deleted: its vectors are gone from this process (a 404, not an outage)."""

    def __init__(self, tenant_id: uuid.UUID) -> None:
        self.tenant_id = tenant_id
        super().__init__(f"tenant {tenant_id} no longer exists")


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
    """What recognition needs of a vector index. PostgreSQL's ``customer_exemplars`` is the source
    of truth; an index follows it by the change cursor (``changes.py``)."""

    dim: int

    async def search(self, tenant_id: uuid.UUID, vector: np.ndarray[Any, Any], top_k: int) -> Searched:
        """Best ``top_k`` exemplars of the tenant, best first, as far as this process has read:
        at least what ``Searched.since`` saw."""
        ...

    def changes_statement(
        self, tenant_id: uuid.UUID, since: Snapshot | None = None
    ) -> tuple[Prepared, dict[str, Any]]:
        """The read of what changed since ``since`` (default: what this process has read), to run
        inside a transaction; its rows go to ``absorb``."""
        ...

    async def absorb(self, tenant_id: uuid.UUID, rows: Sequence[tuple[Any, ...]]) -> Changes:
        """Apply the rows of ``changes_statement`` (unless this process had read further already);
        what they say changed, to ``revise`` a search made before the read."""
        ...

    def revise(
        self, hits: list[SearchHit], changes: Changes, vector: np.ndarray[Any, Any], top_k: int
    ) -> list[SearchHit] | None:
        """``hits`` brought up to date with ``changes``; None: search again."""
        ...

    def wrote(self, tenant_id: uuid.UUID, added: Sequence[VectorItem], removed: Sequence[uuid.UUID]) -> None:
        """This process committed these exemplar writes."""
        ...

    async def refresh(self, tenant_id: uuid.UUID) -> None:
        """Read and apply the tenant's changes now (after a merge, split or erasure)."""
        ...

    async def drop_tenant(self, tenant_id: uuid.UUID) -> None:
        """The tenant was deleted: drop its vectors."""
        ...

    async def count(self, tenant_id: uuid.UUID) -> int: ...

    async def count_customer(self, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int: ...

    def reachable(self) -> bool:
        """Whether the index answers now (readiness): a cheap call, never an exception."""
        ...

    async def close(self) -> None: ...
