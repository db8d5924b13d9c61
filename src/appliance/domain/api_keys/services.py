from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select

from appliance.db.base import utcnow
from appliance.db.models import ApiKey, Camera
from appliance.domain.api_keys.schemas import ApiKey as ApiKeySchema
from appliance.domain.api_keys.schemas import ApiKeyCreated
from appliance.domain.auth import api_keys
from appliance.domain.sites.scope import SiteScopedService
from appliance.lib.crud import to_schema
from appliance.lib.errors import InvalidError


class ApiKeyService(SiteScopedService[ApiKey]):
    model = ApiKey
    target_type = "api_key"
    audit_writes = True

    def scope(self, stmt: Select[Any]) -> Select[Any]:
        return self.scope_by_site(stmt, ApiKey.site_id)

    async def validate(self, values: dict[str, Any], existing: ApiKey | None) -> None:
        if "revoked" in values:
            revoked = values.pop("revoked")
            values["revoked_at"] = (
                (existing.revoked_at if existing else None) or utcnow() if revoked else None
            )
        if existing is None:
            await self.require_site(values["site_id"])
            camera_id = values.get("camera_id")
            if camera_id is not None:
                camera_site = (
                    await self.session.execute(select(Camera.site_id).where(Camera.id == camera_id))
                ).scalar()
                if camera_site != values["site_id"]:
                    raise InvalidError.field("camera_id", "no such camera at this site")

    async def issue(self, values: dict[str, Any]) -> ApiKeyCreated:
        """Create a key; the secret is returned now and never again (only its hash is kept)."""
        secret = api_keys.new_secret()
        key_id = uuid.uuid4()
        row = await self.create({**values, "id": key_id, "secret_hash": api_keys.hash_secret(secret)})
        view = to_schema(row, ApiKeySchema)
        return ApiKeyCreated(
            **{f: getattr(view, f) for f in view.__struct_fields__},
            api_key=api_keys.format_key(row.tenant_id, row.id, secret),
        )

    def audit_details(self, obj: ApiKey) -> dict[str, Any]:
        return {"site_id": str(obj.site_id), "revoked": obj.revoked_at is not None}
