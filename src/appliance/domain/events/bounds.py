"""What an edge may claim about an event (issue 18): bounded time, a snapshot key of its own.

An edge is trusted with its own tenant and site, not with the server's clock or object store:
``captured_at`` must lie in a window around the server's clock (a timestamp in year 1 broke
every read of the tenant; one in 2099 escaped the purge), and ``snapshot_key`` must be exactly
the key ``POST /v1/events/snapshot-url`` issued for this event, and the object must exist.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

from appliance.config import Settings
from appliance.contracts import EventFaceDetectedV1
from appliance.domain.auth.principal import Principal
from appliance.lib.errors import InvalidError
from appliance.storage.base import RAW_BUCKET, ObjectStore

SNAPSHOT_TYPES = {"image/jpeg": "jpg", "image/png": "png"}

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SNAPSHOT_KEY = re.compile(
    rf"(?P<tenant>{_UUID})/(?P<site>{_UUID})/(?P<day>\d{{4}}/\d{{2}}/\d{{2}})/(?P<event>{_UUID})\.(?:jpg|png)"
)
"""``<tenant>/<site>/<yyyy>/<mm>/<dd>/<event id>.<jpg|png>``, as ``snapshot_key`` builds it."""


def snapshot_key(
    tenant_id: uuid.UUID, site_id: uuid.UUID, event_id: uuid.UUID, extension: str, now: datetime
) -> str:
    """The raw snapshot key of one event: the one shape ``snapshot_key_problem`` accepts."""
    return f"{tenant_id}/{site_id}/{now.astimezone(UTC):%Y/%m/%d}/{event_id}.{extension}"


def snapshot_key_problem(
    key: str, tenant_id: uuid.UUID, site_id: uuid.UUID, event_id: uuid.UUID
) -> str | None:
    """Why ``key`` is not this event's snapshot key, or None. Structural, never by prefix: the
    whole key must match, so ``..``, empty segments and other tenants cannot pass."""
    found = SNAPSHOT_KEY.fullmatch(key)
    if found is None:
        return "not a snapshot key issued by this server (<tenant>/<site>/<yyyy>/<mm>/<dd>/<event>.jpg)"
    if found["tenant"] != str(tenant_id) or found["site"] != str(site_id):
        return "not a snapshot key issued for this tenant and site"
    if found["event"] != str(event_id):
        return "not the snapshot key issued for this event"
    return None


def captured_at_problem(captured_at: datetime, now: datetime, settings: Settings) -> str | None:
    """Why ``captured_at`` lies outside [now - max age, now + max skew], or None."""
    earliest = now - timedelta(seconds=settings.captured_at_max_age_seconds)
    latest = now + timedelta(seconds=settings.captured_at_max_skew_seconds)
    try:
        inside = earliest <= captured_at <= latest
    except (OverflowError, TypeError):  # an offset that takes it past datetime's range, or naive
        inside = False
    if not inside:
        return (
            f"must lie between {earliest.isoformat(timespec='seconds')} and"
            f" {latest.isoformat(timespec='seconds')} (the server's clock"
            f" - {settings.captured_at_max_age_seconds} s … + {settings.captured_at_max_skew_seconds} s)"
        )
    return None


async def check_event_bounds(
    principal: Principal, event: EventFaceDetectedV1, settings: Settings, store: ObjectStore | None
) -> None:
    """422 unless the event's time and snapshot key are within bounds (``store``: check that
    the snapshot exists; None when the event names none)."""
    problem = captured_at_problem(event.captured_at, datetime.now(UTC), settings)
    if problem is not None:
        raise InvalidError.field("captured_at", problem)
    key = event.snapshot_key if isinstance(event.snapshot_key, str) else None
    if key is None:
        return
    assert principal.tenant_id is not None
    problem = snapshot_key_problem(key, principal.tenant_id, event.site_id, event.event_id)
    if problem is not None:
        raise InvalidError.field("snapshot_key", problem)
    if store is not None and not await asyncio.to_thread(store.exists, RAW_BUCKET, key):
        raise InvalidError.field("snapshot_key", "no snapshot was uploaded under this key")
