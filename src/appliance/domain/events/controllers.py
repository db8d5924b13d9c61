from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from appliance.contracts import EventFaceDetectedV1
from appliance.domain.auth.principal import MANAGERS, Principal, Role
from appliance.domain.events.bounds import SNAPSHOT_TYPES, check_event_bounds, snapshot_key
from appliance.domain.events.schemas import FaceMatch, SnapshotUpload, SnapshotUploadRequest
from appliance.lib.errors import ForbiddenError, InvalidError
from appliance.storage.base import RAW_BUCKET

INGEST = {"roles": frozenset({Role.WORKER}), "rate_limit": "ingest"}


class EventController(Controller):
    path = "/v1/events"
    tags = ["ingest"]

    @post("/face", operation_id="ingestFaceEvent", opt=INGEST, status_code=200)
    async def ingest_face(
        self, request: Request[Any, Any, Any], principal: Principal, data: EventFaceDetectedV1
    ) -> FaceMatch:
        """Match one face (Event.FaceDetected.v1) to a customer and a visit; idempotent on event_id."""
        services = request.app.state.services
        store = await services.recognition.store() if isinstance(data.snapshot_key, str) else None
        await check_event_bounds(principal, data, services.settings, store)
        ingest = await services.recognition.ingest()
        result: FaceMatch = await ingest.ingest(principal, data)
        return result

    @post("/snapshot-url", operation_id="createSnapshotUpload", opt=INGEST, status_code=200)
    async def snapshot_url(
        self, request: Request[Any, Any, Any], principal: Principal, data: SnapshotUploadRequest
    ) -> SnapshotUpload:
        """A presigned PUT URL for one event's raw snapshot (the edge never holds storage keys)."""
        if principal.camera_id is not None and data.camera_id != principal.camera_id:
            raise ForbiddenError("this API key is bound to another camera")
        extension = SNAPSHOT_TYPES.get(data.content_type)
        if extension is None:
            raise InvalidError.field("content_type", f"one of {', '.join(SNAPSHOT_TYPES)}")
        assert principal.tenant_id is not None
        site_id = principal.site_ids[0]
        services = request.app.state.services
        key = snapshot_key(principal.tenant_id, site_id, data.event_id, extension, datetime.now(UTC))
        store = await services.recognition.store()
        seconds = services.settings.presign_seconds
        url = store.presign_put(RAW_BUCKET, key, timedelta(seconds=seconds))
        return SnapshotUpload(
            snapshot_key=key,
            upload_url=url,
            method="PUT",
            expires_in=seconds,
            headers={"Content-Type": data.content_type},
        )


class LiveController(Controller):
    path = "/v1/events/stream"
    tags = ["live"]

    @get(
        operation_id="liveEvents",
        opt={"roles": MANAGERS, "query_token": True},
    )
    async def stream(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        tenant: uuid.UUID,
        access_token: Annotated[
            str | None, Parameter(description="the bearer token, for EventSource which cannot send headers")
        ] = None,
    ) -> ServerSentEvent:
        """Server-Sent Events of new sightings/visits for the caller's tenant (and sites)."""
        services = request.app.state.services
        hub = services.live

        async def still_allowed() -> bool:
            current: bool = await services.auth.user_current(principal)
            return current

        async def events() -> AsyncIterator[ServerSentEventMessage]:
            # The stream ends when the token expires or the user is disabled (issue 18).
            async for event in hub.subscribe(principal, tenant, still_allowed):
                kind = event.get("type", "message")
                if kind == "keepalive":
                    yield ServerSentEventMessage(comment="keepalive")
                else:
                    yield ServerSentEventMessage(data=json.dumps(event), event=kind, id=event.get("event_id"))

        return ServerSentEvent(events(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
