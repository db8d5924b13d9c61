"""The recognition parts an API process holds, built on first use.

Milvus Lite takes seconds to start, so nothing is opened until the first face arrives (or a
job needs it); routes that never touch recognition never pay for it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.recognition.staff import StaffGallery

log = logging.getLogger("appliance.recognition")

if TYPE_CHECKING:
    from appliance.domain.events.services import IngestService
    from appliance.edge.vision import Vision
    from appliance.storage.base import ObjectStore
    from appliance.vectors.base import VectorIndex
    from appliance.vectors.batcher import SearchBatcher


class RecognitionRuntime:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.staff = StaffGallery(db)
        self._lock = asyncio.Lock()
        self._index: VectorIndex | None = None
        self._batcher: SearchBatcher | None = None
        self._store: ObjectStore | None = None
        self._ingest: IngestService | None = None
        self._vision: Vision | None = None
        self.dim: int | None = None
        self._dirty = False

    def mark_dirty(self) -> None:
        """Vectors were written: the next flush job seals them (searches on unflushed rows are slow)."""
        self._dirty = True

    async def flush_if_dirty(self) -> bool:
        if not self._dirty or self._index is None:
            return False
        self._dirty = False
        await asyncio.to_thread(self._index.flush)
        return True

    async def index(self) -> VectorIndex:
        await self._ensure_index()
        assert self._index is not None
        return self._index

    async def batcher(self) -> SearchBatcher:
        await self._ensure_index()
        assert self._batcher is not None
        return self._batcher

    async def _ensure_index(self) -> None:
        if self._batcher is not None:
            return
        async with self._lock:
            if self._batcher is not None:
                return
            from appliance.vectors.batcher import SearchBatcher
            from appliance.vectors.factory import embedding_dim_from_settings, vector_index_from_settings

            dim = embedding_dim_from_settings(self.settings)
            index = await asyncio.to_thread(vector_index_from_settings, self.settings, dim)
            await asyncio.to_thread(index.ensure_collection)
            self.dim, self._index, self._batcher = dim, index, SearchBatcher(index)

    async def store(self) -> ObjectStore:
        if self._store is None:
            from appliance.storage.factory import object_store_from_settings

            store = object_store_from_settings(self.settings)
            await asyncio.to_thread(store.ensure_buckets, self.settings.raw_retention_days)
            self._store = store
        return self._store

    async def ingest(self) -> IngestService:
        if self._ingest is None:
            from appliance.domain.events.services import IngestService

            batcher = await self.batcher()
            assert self.dim is not None
            self._ingest = IngestService(
                self.db, batcher, self.staff, self.settings, self.dim, on_index_write=self.mark_dirty
            )
        return self._ingest

    async def tenant_created(self, tenant_id: uuid.UUID) -> None:
        """Give the tenant its partition now if the index is open (otherwise at its first vector)."""
        if self._index is not None:
            await asyncio.to_thread(self._index.ensure_partition, tenant_id)

    async def tenant_deleted(self, tenant_id: uuid.UUID) -> None:
        """Drop the tenant's vectors with it; the rows are already gone (reindex would agree)."""
        try:
            index = await self.index()
        except Exception:  # no embedder/dimension configured on this box: nothing was indexed here
            log.warning("vector index unavailable; tenant %s partition not dropped", tenant_id, exc_info=True)
            return
        await asyncio.to_thread(index.drop_partition, tenant_id)

    async def vision(self) -> Vision:
        """Detector + embedder for server-side work (staff enrolment), loaded on first use."""
        if self._vision is None:
            from appliance.edge.vision import Vision

            self._vision = await asyncio.to_thread(Vision.from_settings, self.settings)
        return self._vision

    async def close(self) -> None:
        if self._index is not None:
            await asyncio.to_thread(self._index.close)
