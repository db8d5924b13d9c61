from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from litestar import Request, get, post

from appliance.config import Settings
from appliance.db.models import Staff as StaffRow
from appliance.domain.auth.principal import MANAGERS, Principal
from appliance.domain.sites.scope import sites_overlap
from appliance.domain.staff.enrolment import enrol_photo, require_staff
from appliance.domain.staff.schemas import StaffCreate, StaffMember, StaffPhoto, StaffPhotoLink, StaffUpdate
from appliance.domain.staff.services import StaffService
from appliance.lib.crud_routes import Crud, CrudController, Filters, Ops
from appliance.lib.di import Injected
from appliance.lib.errors import InvalidError, PayloadTooLargeError
from appliance.lib.http import read_capped
from appliance.recognition.runtime import RecognitionRuntime
from appliance.storage.base import DERIVED_BUCKET


def staff_filters(site_id: uuid.UUID | None = None) -> Filters:
    return [sites_overlap(StaffRow.site_ids, (site_id,))] if site_id else []


class StaffController(CrudController):
    path = "/v1/staff"
    tags = ["staff"]
    opt = {"roles": MANAGERS}
    crud = Crud(
        StaffService,
        StaffMember,
        StaffCreate,
        StaffUpdate,
        filters=staff_filters,
        views=StaffService.with_photos,
    )
    ops = Ops(
        list="List staff members, optionally those working at one site.",
        get="One staff member.",
        create="Add a staff member; their faces are then left out of the visitor numbers.",
        update="Rename a staff member or change their sites.",
        delete="Remove a staff member (audited).",
    )

    @post("/{staff_id:uuid}/photos", operation_id="enrolStaffPhoto", status_code=201)
    async def enrol_photo(
        self,
        request: Request[Any, Any, Any],
        recognition: Injected[RecognitionRuntime],
        principal: Principal,
        tenant: uuid.UUID,
        staff_id: uuid.UUID,
    ) -> StaffPhoto:
        """Enrol a photo (image/jpeg or image/png body) with exactly one face as a staff embedding."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type not in ("image/jpeg", "image/png"):
            raise InvalidError.field("content-type", "send image/jpeg or image/png")
        max_bytes = recognition.settings.staff_photo_max_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise PayloadTooLargeError(f"the photo may be at most {max_bytes} bytes")
        # Scope before reading: a site manager learns nothing of another site's staff.
        await require_staff(recognition, principal, tenant, staff_id)
        data = await read_capped(request, max_bytes)
        return await enrol_photo(recognition, principal, tenant, staff_id, data, content_type)

    @get("/{staff_id:uuid}/photos/{photo_id:uuid}/snapshot", operation_id="staffPhotoSnapshot")
    async def photo_snapshot(
        self,
        service: Injected[StaffService],
        recognition: Injected[RecognitionRuntime],
        settings: Injected[Settings],
        staff_id: uuid.UUID,
        photo_id: uuid.UUID,
    ) -> StaffPhotoLink:
        """A short-lived link to an enrolled photo (the Staff list's thumbnail)."""
        key = await service.photo_key(staff_id, photo_id)
        store = await recognition.store()
        seconds = settings.presign_seconds
        return StaffPhotoLink(
            url=store.presign_get(DERIVED_BUCKET, key, timedelta(seconds=seconds)), expires_in=seconds
        )
