"""Open the vector index the settings choose."""

from __future__ import annotations

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.vectors.base import VectorIndex


async def open_vector_index(settings: Settings, db: Database, dim: int) -> VectorIndex:
    """The embedded exact index (default), or a Milvus server's when ``APPLIANCE_MILVUS_URI`` is set."""
    if settings.milvus_uri:
        from appliance.vectors.milvus import MilvusIndex

        return await MilvusIndex.open(settings, db, dim)
    from appliance.vectors.exact import ExactIndex

    return ExactIndex(db, dim, budget_bytes=settings.vector_cache_mb << 20)
