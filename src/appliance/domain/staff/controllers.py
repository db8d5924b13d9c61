from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import Staff as StaffRow
from appliance.domain.auth.principal import MANAGERS, Principal
from appliance.domain.sites.scope import sites_overlap
from appliance.domain.staff.enrolment import enrol_photo, require_staff
from appliance.domain.staff.schemas import StaffCreate, StaffMember, StaffPhoto, StaffPhotoLink, StaffUpdate
from appliance.domain.staff.services import StaffService
from appliance.lib.crud import Page, changes_of, to_schema
from appliance.lib.errors import InvalidError, PayloadTooLargeError
from appliance.lib.http import Limit, Offset, read_capped
from appliance.storage.base import DERIVED_BUCKET


class StaffController(Controller):
    path = "/v1/staff"
    tags = ["staff"]
    opt = {"roles": MANAGERS}

    @get(operation_id="listStaff")
    async def list_staff(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        limit: Limit = 50,
        offset: Offset = 0,
        site_id: uuid.UUID | None = None,
    ) -> Page[StaffMember]:
        """List staff members, optionally those working at one site."""
        filters = [sites_overlap(StaffRow.site_ids, (site_id,))] if site_id else []
        service = StaffService(session, principal, tenant)
        rows, total = await service.list(filters, limit, offset)
        return Page(await service.with_photos(rows), total, limit, offset)

    @get("/{staff_id:uuid}", operation_id="getStaff")
    async def get_staff(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, staff_id: uuid.UUID
    ) -> StaffMember:
        """One staff member."""
        service = StaffService(session, principal, tenant)
        [member] = await service.with_photos([await service.get(staff_id)])
        return member

    @post(operation_id="createStaff")
    async def create_staff(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, data: StaffCreate
    ) -> StaffMember:
        """Add a staff member; their faces are then left out of the visitor numbers."""
        row = await StaffService(session, principal, tenant).create(changes_of(data))
        return to_schema(row, StaffMember)

    @patch("/{staff_id:uuid}", operation_id="updateStaff")
    async def update_staff(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        staff_id: uuid.UUID,
        data: StaffUpdate,
    ) -> StaffMember:
        """Rename a staff member or change their sites."""
        service = StaffService(session, principal, tenant)
        [member] = await service.with_photos([await service.update(staff_id, changes_of(data))])
        return member

    @delete("/{staff_id:uuid}", operation_id="deleteStaff")
    async def delete_staff(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, staff_id: uuid.UUID
    ) -> None:
        """Remove a staff member (audited)."""
        await StaffService(session, principal, tenant).delete(staff_id)

    @post("/{staff_id:uuid}/photos", operation_id="enrolStaffPhoto", status_code=201)
    async def enrol_photo(
        self, request: Request[Any, Any, Any], principal: Principal, tenant: uuid.UUID, staff_id: uuid.UUID
    ) -> StaffPhoto:
        """Enrol a photo (image/jpeg or image/png body) with exactly one face as a staff embedding."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type not in ("image/jpeg", "image/png"):
            raise InvalidError.field("content-type", "send image/jpeg or image/png")
        services = request.app.state.services
        max_bytes = services.settings.staff_photo_max_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise PayloadTooLargeError(f"the photo may be at most {max_bytes} bytes")
        # Scope before reading: a site manager learns nothing of another site's staff.
        await require_staff(services.recognition, principal, tenant, staff_id)
        data = await read_capped(request, max_bytes)
        return await enrol_photo(services.recognition, principal, tenant, staff_id, data, content_type)

    @get("/{staff_id:uuid}/photos/{photo_id:uuid}/snapshot", operation_id="staffPhotoSnapshot")
    async def photo_snapshot(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        staff_id: uuid.UUID,
        photo_id: uuid.UUID,
    ) -> StaffPhotoLink:
        """A short-lived link to an enrolled photo (the Staff list's thumbnail)."""
        key = await StaffService(session, principal, tenant).photo_key(staff_id, photo_id)
        services = request.app.state.services
        store = await services.recognition.store()
        seconds = services.settings.presign_seconds
        return StaffPhotoLink(
            url=store.presign_get(DERIVED_BUCKET, key, timedelta(seconds=seconds)), expires_in=seconds
        )
