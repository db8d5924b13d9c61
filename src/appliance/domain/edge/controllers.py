"""Edge worker endpoints (worker tokens only): its configuration and the staff gallery."""

from __future__ import annotations

import hashlib

from litestar import Controller, get
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.config import Settings
from appliance.db.models import Camera, Staff, StaffEmbedding
from appliance.domain.auth.principal import Principal, Role
from appliance.domain.edge.schemas import EdgeCamera, EdgeConfig, StaffGalleryView, StaffVector
from appliance.lib.di import Injected

EDGE = {"roles": frozenset({Role.WORKER}), "rate_limit": "ingest"}


class EdgeController(Controller):
    path = "/v1/edge"
    tags = ["ingest"]
    opt = EDGE

    @get("/config", operation_id="edgeConfig")
    async def config(
        self, settings: Injected[Settings], session: AsyncSession, principal: Principal
    ) -> EdgeConfig:
        """The key's site and cameras, and the recognition settings the edge must match."""
        site_id = principal.site_ids[0]
        stmt = select(Camera).where(Camera.site_id == site_id).order_by(Camera.created_at, Camera.id)
        if principal.camera_id is not None:
            stmt = stmt.where(Camera.id == principal.camera_id)
        cameras = [
            EdgeCamera(id=c.id, name=c.name, source=c.source, enabled=c.enabled)
            for c in (await session.execute(stmt)).scalars()
        ]
        assert principal.tenant_id is not None
        return EdgeConfig(
            tenant_id=principal.tenant_id,
            site_id=site_id,
            camera_id=principal.camera_id,
            cameras=cameras,
            embedding_dim=_effective_dim(settings),
            embedder=settings.embedder,
            match_threshold=settings.match_threshold,
            staff_threshold=settings.staff_threshold,
        )

    @get("/staff", operation_id="edgeStaffGallery")
    async def staff(self, session: AsyncSession, principal: Principal) -> StaffGalleryView:
        """Staff embeddings for the key's site (staff without sites work everywhere)."""
        site_id = principal.site_ids[0]
        rows = await session.execute(
            select(StaffEmbedding.id, StaffEmbedding.staff_id, Staff.site_ids, StaffEmbedding.embedding)
            .join(Staff, Staff.id == StaffEmbedding.staff_id)
            .order_by(StaffEmbedding.id)
        )
        items: list[StaffVector] = []
        digest = hashlib.sha256()
        for row_id, staff_id, sites, embedding in rows:
            if sites and site_id not in sites:
                continue
            digest.update(row_id.bytes)
            items.append(StaffVector(staff_id=staff_id, embedding=[float(x) for x in embedding]))
        return StaffGalleryView(site_id=site_id, version=digest.hexdigest()[:16], items=items)


def _effective_dim(settings: Settings) -> int | None:
    """The dimension the server really uses (from the embedder model unless configured)."""
    if settings.embedding_dim is not None:
        return int(settings.embedding_dim)
    try:
        from appliance.recognition.embedding_dim import embedding_dim_from_settings

        return embedding_dim_from_settings(settings)
    except Exception:  # no model file on the server: the edge cannot cross-check
        return None
