from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol

from litestar import Controller, get, post
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from appliance.contracts import EventFaceDetectedV1
from appliance.domain.auth.principal import MANAGERS, Principal, Role
from appliance.domain.auth.services import AuthService
from appliance.domain.events.bounds import SNAPSHOT_TYPES, check_event_bounds, snapshot_key
from appliance.domain.events.schemas import FaceMatch, SnapshotUpload, SnapshotUploadRequest
from appliance.domain.events.services import IngestService
from appliance.lib.di import Injected
from appliance.lib.errors import ForbiddenError, InvalidError
from appliance.recognition.runtime import RecognitionRuntime
from appliance.storage.base import RAW_BUCKET


class LiveEvents(Protocol):
    """The live feed of a tenant's sightings and visits (the server's hub, fed by LISTEN/NOTIFY)."""

    def subscribe(
        self,
        principal: Principal,
        tenant_id: uuid.UUID,
        still_allowed: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[dict[str, Any]]: ...


INGEST = {"roles": frozenset({Role.WORKER}), "rate_limit": "ingest"}


@dataclass(frozen=True)
class IngestRequest:
    """What the ingest route needs, handed in as one dependency: Litestar resolves several
    dependencies of one level in a task group, a cost on every event (ADR 0013)."""

    principal: Principal
    recognition: RecognitionRuntime
    service: Callable[[], Awaitable[IngestService]]
    """The ingest service, built on first use (it opens the vector index)."""


class EventController(Controller):
    path = "/v1/events"
    tags = ["ingest"]

    @post("/face", operation_id="ingestFaceEvent", opt=INGEST, status_code=200)
    async def ingest_face(
        self, ingest_request: Injected[IngestRequest], data: EventFaceDetectedV1
    ) -> FaceMatch:
        """Match one face (Event.FaceDetected.v1) to a customer and a visit; idempotent on event_id."""
        recognition, principal = ingest_request.recognition, ingest_request.principal
        store = await recognition.store() if isinstance(data.snapshot_key, str) else None
        await check_event_bounds(principal, data, recognition.settings, store)
        ingest = await ingest_request.service()
        result: FaceMatch = await ingest.ingest(principal, data)
        return result

    @post("/snapshot-url", operation_id="createSnapshotUpload", opt=INGEST, status_code=200)
    async def snapshot_url(
        self, recognition: Injected[RecognitionRuntime], principal: Principal, data: SnapshotUploadRequest
    ) -> SnapshotUpload:
        """A presigned PUT URL for one event's raw snapshot (the edge never holds storage keys)."""
        if principal.camera_id is not None and data.camera_id != principal.camera_id:
            raise ForbiddenError("this API key is bound to another camera")
        extension = SNAPSHOT_TYPES.get(data.content_type)
        if extension is None:
            raise InvalidError.field("content_type", f"one of {', '.join(SNAPSHOT_TYPES)}")
        assert principal.tenant_id is not None
        site_id = principal.site_ids[0]
        key = snapshot_key(principal.tenant_id, site_id, data.event_id, extension, datetime.now(UTC))
        store = await recognition.store()
        seconds = recognition.settings.presign_seconds
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
        live: Injected[LiveEvents],
        auth: Injected[AuthService],
        principal: Principal,
        tenant: uuid.UUID,
        access_token: Annotated[
            str | None, Parameter(description="the bearer token, for EventSource which cannot send headers")
        ] = None,
    ) -> ServerSentEvent:
        """Server-Sent Events of new sightings/visits for the caller's tenant (and sites)."""

        async def still_allowed() -> bool:
            return await auth.user_current(principal)

        async def events() -> AsyncIterator[ServerSentEventMessage]:
            # The stream ends when the token expires or the user is disabled (issue 18).
            async for event in live.subscribe(principal, tenant, still_allowed):
                kind = event.get("type", "message")
                if kind == "keepalive":
                    yield ServerSentEventMessage(comment="keepalive")
                else:
                    yield ServerSentEventMessage(data=json.dumps(event), event=kind, id=event.get("event_id"))

        return ServerSentEvent(events(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
