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
from appliance.lib.heap import freeze_long_lived
from appliance.recognition.staff import StaffGallery

log = logging.getLogger("appliance.recognition")

if TYPE_CHECKING:
    from appliance.domain.events.services import IngestService
    from appliance.edge.vision import Vision
    from appliance.storage.base import ObjectStore
    from appliance.vectors.base import VectorIndex
    from appliance.vectors.pending import WriteBehindIndex


class RecognitionRuntime:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.staff = StaffGallery(db)
        self._lock = asyncio.Lock()
        self._index: VectorIndex | None = None
        self._vectors: WriteBehindIndex | None = None
        self._store: ObjectStore | None = None
        self._ingest: IngestService | None = None
        self._vision: Vision | None = None
        self.dim: int | None = None

    async def flush_vectors(self) -> int:
        """Apply pending vector writes now (the write-behind also does it every second)."""
        if self._vectors is None:
            return 0
        pending = self._vectors.pending_count()
        await self._vectors.flush()
        return pending

    async def index(self) -> VectorIndex:
        await self._ensure_index()
        assert self._index is not None
        return self._index

    def opened_index(self) -> VectorIndex | None:
        """The index if this process has opened it already (readiness checks it then)."""
        return self._index

    async def vectors(self) -> WriteBehindIndex:
        """The index as request handlers use it: batched searches, write-behind writes."""
        await self._ensure_index()
        assert self._vectors is not None
        return self._vectors

    async def _ensure_index(self) -> None:
        if self._vectors is not None:
            return
        async with self._lock:
            if self._vectors is not None:
                return
            from appliance.vectors.batcher import SearchBatcher
            from appliance.vectors.factory import embedding_dim_from_settings, vector_index_from_settings
            from appliance.vectors.pending import WriteBehindIndex

            dim = embedding_dim_from_settings(self.settings)
            index = await asyncio.to_thread(vector_index_from_settings, self.settings, dim)
            await asyncio.to_thread(index.ensure_collection)
            self.dim, self._index, self._vectors = dim, index, WriteBehindIndex(SearchBatcher(index))
            freeze_long_lived("vector index opened")  # pymilvus, gRPC and protobuf are loaded now

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

            vectors = await self.vectors()
            assert self.dim is not None
            self._ingest = IngestService(self.db, vectors, self.staff, self.settings, self.dim)
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
        if self._ingest is not None:  # the last live announcements
            await self._ingest.notifier.close()
        if self._vectors is not None:
            await self._vectors.close()
        if self._index is not None:
            await asyncio.to_thread(self._index.close)
