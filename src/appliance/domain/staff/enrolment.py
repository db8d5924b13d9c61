"""Staff photo enrolment: the detect/align/embed code the edge runs too (appliance.vision), on the server.

The order is the defence (issue 18): the caller's scope first, then the byte size (the
controller stops reading past it), then the pixel size from the image header; only then is the
image decoded (an 8000x8000 PNG of 182 KiB decoded to gigabytes)."""

from __future__ import annotations

import asyncio
import uuid
from http import HTTPStatus

from appliance.db.base import utcnow
from appliance.db.models import StaffEmbedding
from appliance.domain.audit.services import record_audit
from appliance.domain.auth.principal import Principal
from appliance.domain.staff.schemas import StaffPhoto
from appliance.domain.staff.services import StaffService
from appliance.lib.errors import DomainError, InvalidError
from appliance.lib.images import image_size
from appliance.recognition.runtime import RecognitionRuntime
from appliance.storage.base import DERIVED_BUCKET
from appliance.vision.faces import NoSingleFace


class ModelsMissing(DomainError, status=HTTPStatus.SERVICE_UNAVAILABLE, title="Models not installed"):
    """Enrolment from photos needs the vision models, which this install lacks."""


async def require_staff(
    recognition: RecognitionRuntime, principal: Principal, tenant_id: uuid.UUID, staff_id: uuid.UUID
) -> None:
    """404 unless the staff member exists in the caller's scope: checked before the photo is read."""
    async with recognition.db.transaction(tenant_id) as session:
        await StaffService(session, principal, tenant_id).get(staff_id)


def check_photo_size(data: bytes, max_pixels: int) -> None:
    """422 for an empty body, a body that is no PNG/JPEG, or more pixels than ``max_pixels``;
    from the header alone."""
    if not data:
        raise InvalidError.field("body", "send the photo as the request body (image/jpeg or image/png)")
    size = image_size(data)
    if size is None:
        raise InvalidError.field("body", "not a JPEG or PNG image")
    width, height = size
    if width * height > max_pixels:
        raise InvalidError.field(
            "body", f"the photo is {width}x{height} pixels; at most {max_pixels} pixels are accepted"
        )


async def enrol_photo(
    recognition: RecognitionRuntime,
    principal: Principal,
    tenant_id: uuid.UUID,
    staff_id: uuid.UUID,
    data: bytes,
    content_type: str,
) -> StaffPhoto:
    check_photo_size(data, recognition.settings.staff_photo_max_pixels)
    try:
        vision = await recognition.vision()
    except FileNotFoundError as exc:
        raise ModelsMissing(f"{exc}; the server cannot enrol photos until the models are installed") from exc
    try:
        embedding, face = await asyncio.to_thread(vision.enrol, data)
    except NoSingleFace as exc:
        raise InvalidError.field("body", str(exc)) from exc
    except ValueError as exc:
        raise InvalidError.field("body", str(exc)) from exc
    photo_id = uuid.uuid4()
    extension = "png" if content_type == "image/png" else "jpg"
    key = f"{tenant_id}/staff/{staff_id}/{photo_id}.{extension}"
    async with recognition.db.transaction(tenant_id) as session:
        await StaffService(session, principal, tenant_id).get(staff_id)  # exists and in the caller's scope
        store = await recognition.store()
        await asyncio.to_thread(store.put, DERIVED_BUCKET, key, data, content_type)
        row = StaffEmbedding(
            id=photo_id,
            tenant_id=tenant_id,
            staff_id=staff_id,
            embedding=[float(x) for x in embedding],
            photo_key=key,
            created_at=utcnow(),
        )
        session.add(row)
        await session.flush()
        await record_audit(
            session,
            principal,
            tenant_id=tenant_id,
            action="staff.enrol_photo",
            target_type="staff",
            target_id=str(staff_id),
            details={"photo": str(photo_id), "det_score": round(face.score, 3)},
        )
    recognition.staff.invalidate(tenant_id)
    return StaffPhoto(
        id=photo_id, staff_id=staff_id, photo_key=key, det_score=face.score, created_at=row.created_at
    )
