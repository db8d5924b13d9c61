from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select

from appliance.db.models import Camera
from appliance.domain.sites.scope import SiteScopedService
from appliance.lib.errors import InvalidError

STREAM_SCHEMES = {"rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp"}
USB_INDEX = re.compile(r"^\d{1,3}$")


def check_source(source: str) -> None:
    """A source is a stream URL, a USB index or a file path; anything else is a typo."""
    if source != source.strip() or any(c in source for c in "\r\n\t"):
        raise InvalidError.field("source", "must not contain leading/trailing spaces or control characters")
    if USB_INDEX.match(source):
        return
    parts = urlsplit(source)
    if parts.scheme and "://" in source:
        if parts.scheme not in STREAM_SCHEMES and parts.scheme != "file":
            raise InvalidError.field("source", f"unsupported URL scheme {parts.scheme!r}")
        if parts.scheme != "file" and not parts.hostname:
            raise InvalidError.field("source", "stream URL has no host")
        return
    if not (source.startswith(("/", "./", "../")) or "." in source.rsplit("/", 1)[-1]):
        raise InvalidError.field("source", "expected an RTSP/HTTP URL, a USB index or a video file path")


class CameraService(SiteScopedService[Camera]):
    model = Camera
    target_type = "camera"
    audit_writes = True

    def audit_details(self, obj: Camera) -> dict[str, Any]:
        # Never the source: a stream URL may carry the camera's password.
        return {"name": obj.name, "site_id": str(obj.site_id)}

    def scope(self, stmt: Select[Any]) -> Select[Any]:
        return self.scope_by_site(stmt, Camera.site_id)

    async def validate(self, values: dict[str, Any], existing: Camera | None) -> None:
        if "source" in values:
            check_source(values["source"])
        if existing is None:
            await self.require_site(values["site_id"])
