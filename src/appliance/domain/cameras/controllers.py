from __future__ import annotations

import uuid

from litestar import Controller, delete, get, patch, post
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import Camera as CameraRow
from appliance.domain.auth.principal import MANAGERS, Principal
from appliance.domain.cameras.schemas import Camera, CameraCreate, CameraUpdate
from appliance.domain.cameras.services import CameraService
from appliance.lib.crud import Page, changes_of, to_schema
from appliance.lib.http import Limit, Offset


class CameraController(Controller):
    path = "/v1/cameras"
    tags = ["cameras"]
    opt = {"roles": MANAGERS}

    @get(operation_id="listCameras")
    async def list_cameras(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        limit: Limit = 50,
        offset: Offset = 0,
        site_id: uuid.UUID | None = None,
        enabled: bool | None = None,
    ) -> Page[Camera]:
        """List cameras, optionally of one site or by enabled state."""
        filters: list[ColumnElement[bool]] = []
        if site_id is not None:
            filters.append(CameraRow.site_id == site_id)
        if enabled is not None:
            filters.append(CameraRow.enabled.is_(enabled))
        rows, total = await CameraService(session, principal, tenant).list(filters, limit, offset)
        return Page([to_schema(r, Camera) for r in rows], total, limit, offset)

    @get("/{camera_id:uuid}", operation_id="getCamera")
    async def get_camera(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, camera_id: uuid.UUID
    ) -> Camera:
        """One camera."""
        return to_schema(await CameraService(session, principal, tenant).get(camera_id), Camera)

    @post(operation_id="createCamera")
    async def create_camera(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, data: CameraCreate
    ) -> Camera:
        """Register a camera at a site: an RTSP URL, a USB index or a video file."""
        row = await CameraService(session, principal, tenant).create(changes_of(data))
        return to_schema(row, Camera)

    @patch("/{camera_id:uuid}", operation_id="updateCamera")
    async def update_camera(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        camera_id: uuid.UUID,
        data: CameraUpdate,
    ) -> Camera:
        """Rename, re-point or enable/disable a camera."""
        row = await CameraService(session, principal, tenant).update(camera_id, changes_of(data))
        return to_schema(row, Camera)

    @delete("/{camera_id:uuid}", operation_id="deleteCamera")
    async def delete_camera(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, camera_id: uuid.UUID
    ) -> None:
        """Remove a camera (audited)."""
        await CameraService(session, principal, tenant).delete(camera_id)
