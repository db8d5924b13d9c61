"""The recognition parts an API process holds, built on first use.

Milvus Lite takes seconds to start, so nothing is opened until the first face arrives (or a
job needs it); routes that never touch recognition never pay for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.lib.heap import freeze_long_lived
from appliance.lib.metrics import VECTOR_CATCHUP_EXEMPLARS
from appliance.recognition.staff import StaffGallery

log = logging.getLogger("appliance.recognition")

if TYPE_CHECKING:
    from appliance.domain.events.services import IngestService
    from appliance.edge.vision import Vision
    from appliance.storage.base import ObjectStore
    from appliance.vectors.base import VectorIndex
    from appliance.vectors.catchup import CatchUpReport
    from appliance.vectors.journal import DeadJournal, SyncJournal
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
        self._journal: SyncJournal | None = None
        self._catch_up: asyncio.Task[None] | None = None
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
            from appliance.vectors.journal import SyncJournal
            from appliance.vectors.pending import WriteBehindIndex

            dim = embedding_dim_from_settings(self.settings)
            index = await asyncio.to_thread(vector_index_from_settings, self.settings, dim)
            await asyncio.to_thread(index.ensure_collection)
            journal = SyncJournal(Path(self.settings.data_dir) / "index-sync")
            dead = journal.dead_journals()
            try:
                journal.start()
            except OSError:
                for dead_journal in dead:
                    dead_journal.release(caught_up=False)
                raise
            vectors = WriteBehindIndex(
                SearchBatcher(index),
                flush_every=self.settings.vector_flush_seconds,
                on_applied=journal.applied,
            )
            if dead:  # before any request searches: they must find what the dead ones lost
                try:
                    await self._catch_up_for(dead, vectors)
                except BaseException:  # cancelled: nothing of this process is pending yet
                    journal.close()
                    raise
            self.dim, self._index, self._vectors, self._journal = dim, index, vectors, journal
            freeze_long_lived("vector index opened")  # pymilvus, gRPC and protobuf are loaded now

    async def _catch_up_for(self, dead: list[DeadJournal], vectors: WriteBehindIndex) -> None:
        """Re-apply what processes that died had not flushed to the index (``journal.py``).

        The exemplars go into the write-behind before the index opens for requests, so the
        first searches find them; the flush and the second look at PostgreSQL run after."""
        from appliance.vectors.catchup import reapply

        since = min(journal.since for journal in dead)
        try:
            report = await reapply(self.db, vectors, since)
        except BaseException as exc:  # the journals stay for the next process to try
            for journal in dead:
                journal.release(caught_up=False)
            if not isinstance(exc, Exception):  # cancelled
                raise
            log.exception("vector index catch-up failed; run `appliance reindex` if it keeps failing")
            return
        self._catch_up = asyncio.get_running_loop().create_task(
            self._finish_catch_up(dead, vectors, report), name="index-catch-up"
        )

    async def _finish_catch_up(
        self, dead: list[DeadJournal], vectors: WriteBehindIndex, report: CatchUpReport
    ) -> None:
        from appliance.vectors.catchup import recheck

        caught_up = False
        try:
            await recheck(self.db, vectors, report)
            caught_up = True
            VECTOR_CATCHUP_EXEMPLARS.inc(report.upserted)
            log.warning(
                "vector index caught up after %d process(es) died: %d exemplars since %s re-applied "
                "(%d deleted and %d moved again by the second look, %d stale deleted, %d unusable)",
                len(dead),
                report.upserted,
                report.since.isoformat(),
                report.deleted,
                report.moved,
                report.stale,
                report.skipped,
            )
        except Exception:  # the journals stay for the next process to try
            log.exception("vector index catch-up failed; run `appliance reindex` if it keeps failing")
        finally:
            for journal in dead:
                journal.release(caught_up)

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
        if self._catch_up is not None and not self._catch_up.done():
            self._catch_up.cancel()  # its journals stay and the next process catches up
            with contextlib.suppress(asyncio.CancelledError):
                await self._catch_up
        if self._vectors is not None:
            await self._vectors.close()
            if self._journal is not None:  # every write is in the index now: a clean end
                self._journal.close()
        if self._index is not None:
            await asyncio.to_thread(self._index.close)
