from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import ApiKey as ApiKeyRow
from appliance.domain.api_keys.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyUpdate
from appliance.domain.api_keys.services import ApiKeyService
from appliance.domain.auth.principal import ADMINS, Principal
from appliance.lib.crud import Page, changes_of, to_schema
from appliance.lib.http import Limit, Offset


class ApiKeyController(Controller):
    path = "/v1/api-keys"
    tags = ["api-keys"]
    opt = {"roles": ADMINS}

    @get(operation_id="listApiKeys")
    async def list_api_keys(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        limit: Limit = 50,
        offset: Offset = 0,
        site_id: uuid.UUID | None = None,
        revoked: bool | None = None,
    ) -> Page[ApiKey]:
        """List edge API keys (never their secrets)."""
        filters: list[ColumnElement[bool]] = []
        if site_id is not None:
            filters.append(ApiKeyRow.site_id == site_id)
        if revoked is not None:
            filters.append(ApiKeyRow.revoked_at.is_not(None) if revoked else ApiKeyRow.revoked_at.is_(None))
        rows, total = await ApiKeyService(session, principal, tenant).list(filters, limit, offset)
        return Page([to_schema(r, ApiKey) for r in rows], total, limit, offset)

    @get("/{key_id:uuid}", operation_id="getApiKey")
    async def get_api_key(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, key_id: uuid.UUID
    ) -> ApiKey:
        """One API key (without its secret)."""
        return to_schema(await ApiKeyService(session, principal, tenant).get(key_id), ApiKey)

    @post(operation_id="createApiKey")
    async def create_api_key(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, data: ApiKeyCreate
    ) -> ApiKeyCreated:
        """Create an edge key for a site (optionally one camera); the secret is shown only now."""
        return await ApiKeyService(session, principal, tenant).issue(changes_of(data))

    @patch("/{key_id:uuid}", operation_id="updateApiKey")
    async def update_api_key(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        key_id: uuid.UUID,
        data: ApiKeyUpdate,
    ) -> ApiKey:
        """Rename or revoke a key; a revoked key's tokens stop working at once (within a second on
        other API processes)."""
        row = await ApiKeyService(session, principal, tenant).update(key_id, changes_of(data))
        request.app.state.services.auth.forget_api_key(key_id)
        return to_schema(row, ApiKey)

    @delete("/{key_id:uuid}", operation_id="deleteApiKey")
    async def delete_api_key(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        key_id: uuid.UUID,
    ) -> None:
        """Delete a key (audited)."""
        await ApiKeyService(session, principal, tenant).delete(key_id)
        request.app.state.services.auth.forget_api_key(key_id)
