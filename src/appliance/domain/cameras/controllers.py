from __future__ import annotations

import uuid

from appliance.db.models import Camera as CameraRow
from appliance.domain.auth.principal import MANAGERS
from appliance.domain.cameras.schemas import Camera, CameraCreate, CameraUpdate
from appliance.domain.cameras.services import CameraService
from appliance.lib.crud_routes import Crud, CrudController, Filters, Op


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
    crud = Crud(
        key="camera_id",
        read=Camera,
        service=CameraService,
        filters=camera_filters,
        write=(CameraCreate, CameraUpdate),
        list_op=Op("listCameras", "List cameras, optionally of one site or by enabled state."),
        get_op=Op("getCamera", "One camera."),
        create_op=Op(
            "createCamera", "Register a camera at a site: an RTSP URL, a USB index or a video file."
        ),
        update_op=Op("updateCamera", "Rename, re-point or enable/disable a camera."),
        delete_op=Op("deleteCamera", "Remove a camera (audited)."),
    )
