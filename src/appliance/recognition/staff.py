"""Server-side staff filter: each tenant's staff embeddings, cached and refreshed on change."""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy import select

from appliance.db.engine import Database
from appliance.db.models import Staff, StaffEmbedding
from appliance.recognition.policy import Vector, as_vector, best_match


class _TenantGallery:
    __slots__ = ("entries", "loaded_at")

    def __init__(self, entries: list[tuple[uuid.UUID, frozenset[uuid.UUID], Vector]]) -> None:
        self.entries = entries
        self.loaded_at = time.monotonic()


class StaffGallery:
    """Staff embeddings per tenant. A change in this process invalidates at once; other
    processes pick it up within ``ttl_seconds`` (and the scheduler refreshes periodically)."""

    def __init__(self, db: Database, ttl_seconds: float = 60.0) -> None:
        self.db = db
        self.ttl_seconds = ttl_seconds
        self._galleries: dict[uuid.UUID, _TenantGallery] = {}
        self._lock = asyncio.Lock()

    def invalidate(self, tenant_id: uuid.UUID | None = None) -> None:
        if tenant_id is None:
            self._galleries.clear()
        else:
            self._galleries.pop(tenant_id, None)

    async def _load(self, tenant_id: uuid.UUID) -> _TenantGallery:
        async with self.db.transaction(tenant_id) as session:
            rows = await session.execute(
                select(StaffEmbedding.staff_id, Staff.site_ids, StaffEmbedding.embedding).join(
                    Staff, Staff.id == StaffEmbedding.staff_id
                )
            )
            entries = [(sid, frozenset(sites or ()), as_vector(emb)) for sid, sites, emb in rows]
        return _TenantGallery(entries)

    async def gallery(self, tenant_id: uuid.UUID) -> _TenantGallery:
        cached = self._galleries.get(tenant_id)
        if cached is not None and time.monotonic() - cached.loaded_at < self.ttl_seconds:
            return cached
        async with self._lock:
            cached = self._galleries.get(tenant_id)
            if cached is None or time.monotonic() - cached.loaded_at >= self.ttl_seconds:
                cached = await self._load(tenant_id)
                self._galleries[tenant_id] = cached
        return cached

    async def refresh_all(self) -> int:
        """Reload every cached tenant (the scheduler's job); returns how many were refreshed."""
        tenants = list(self._galleries)
        for tenant_id in tenants:
            self._galleries[tenant_id] = await self._load(tenant_id)
        return len(tenants)

    async def match(
        self, tenant_id: uuid.UUID, site_id: uuid.UUID, vector: Vector, threshold: float
    ) -> uuid.UUID | None:
        """The staff member this face belongs to (staff without sites count everywhere), or None."""
        gallery = await self.gallery(tenant_id)
        candidates = [(sid, vec) for sid, sites, vec in gallery.entries if not sites or site_id in sites]
        staff_id, score = best_match(vector, candidates)
        return staff_id if staff_id is not None and score >= threshold else None
