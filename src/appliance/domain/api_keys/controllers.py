from __future__ import annotations

import uuid

from litestar import post
from litestar.di import Provide

from appliance.db.models import ApiKey as ApiKeyRow
from appliance.domain.api_keys.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyUpdate
from appliance.domain.api_keys.services import ApiKeyService
from appliance.domain.auth.principal import ADMINS
from appliance.domain.auth.services import AuthService
from appliance.lib.crud import changes_of
from appliance.lib.crud_routes import Changed, Crud, CrudController, Filters, Ops
from appliance.lib.di import Injected


def api_key_filters(site_id: uuid.UUID | None = None, revoked: bool | None = None) -> Filters:
    filters: Filters = []
    if site_id is not None:
        filters.append(ApiKeyRow.site_id == site_id)
    if revoked is not None:
        filters.append(ApiKeyRow.revoked_at.is_not(None) if revoked else ApiKeyRow.revoked_at.is_(None))
    return filters


def forget_key(auth: Injected[AuthService]) -> Changed:
    """A revoked or deleted key's tokens stop working at once (within a second on other API
    processes): this process forgets it was valid."""
    return auth.forget_api_key


class ApiKeyController(CrudController):
    path = "/v1/api-keys"
    tags = ["api-keys"]
    opt = {"roles": ADMINS}
    dependencies = {"changed": Provide(forget_key, sync_to_thread=False)}
    crud = Crud(ApiKeyService, ApiKey, ApiKeyCreate, ApiKeyUpdate, filters=api_key_filters, key="key_id")
    ops = Ops(
        list="List edge API keys (never their secrets).",
        get="One API key (without its secret).",
        update=(
            "Rename or revoke a key; a revoked key's tokens stop working at once (within a second on\n"
            "other API processes)."
        ),
        delete="Delete a key (audited).",
    )

    @post(operation_id="createApiKey")
    async def create_api_key(self, service: Injected[ApiKeyService], data: ApiKeyCreate) -> ApiKeyCreated:
        """Create an edge key for a site (optionally one camera); the secret is shown only now."""
        return await service.issue(changes_of(data))
