from __future__ import annotations

import uuid

from appliance.db.models import Camera as CameraRow
from appliance.domain.auth.principal import MANAGERS
from appliance.domain.cameras.schemas import Camera, CameraCreate, CameraUpdate
from appliance.domain.cameras.services import CameraService
from appliance.lib.crud_routes import Crud, CrudController, Filters, Ops


def camera_filters(site_id: uuid.UUID | None = None, enabled: bool | None = None) -> Filters:
    filters: Filters = []
    if site_id is not None:
        filters.append(CameraRow.site_id == site_id)
    if enabled is not None:
        filters.append(CameraRow.enabled.is_(enabled))
    return filters


class CameraController(CrudController):
    path = "/v1/cameras"
    tags = ["cameras"]
    opt = {"roles": MANAGERS}
    crud = Crud(CameraService, Camera, CameraCreate, CameraUpdate, filters=camera_filters)
    ops = Ops(
        list="List cameras, optionally of one site or by enabled state.",
        create="Register a camera at a site: an RTSP URL, a USB index or a video file.",
        update="Rename, re-point or enable/disable a camera.",
        delete="Remove a camera (audited).",
    )
