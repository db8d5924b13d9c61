"""One embedder per tenant: similarities between vectors of two models mean nothing, so a tenant's
index holds one model's vectors and an event of another model is refused (ADR 0010).

The tenant's model is ``tenants.embedder`` (``name@version``); the tenant's first face event sets
it when it is empty. Each API process caches it: it changes only through the re-enrolment of
``docs/runbooks/model-change.md``, which restarts the API.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from appliance.contracts import EventFaceDetectedV1
from appliance.db.engine import Database
from appliance.db.models import Tenant
from appliance.lib.errors import InvalidError


def model_of(event: EventFaceDetectedV1) -> str:
    return f"{event.model.name}@{event.model.version}"


class TenantEmbedders:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: dict[uuid.UUID, str] = {}

    async def check(self, tenant_id: uuid.UUID, event: EventFaceDetectedV1) -> None:
        """Raise ``InvalidError`` (422) when the event's model is not the tenant's."""
        model = model_of(event)
        known = self._known.get(tenant_id)
        if known is None:
            known = self._known[tenant_id] = await self._pinned(tenant_id, model)
        if model != known:
            raise InvalidError.field(
                "model",
                f"this tenant's customers are recognised with {known}; an embedding of {model} cannot "
                "be compared with them. Run the edge with the tenant's embedder, or re-enrol the "
                "tenant for the new model (docs/runbooks/model-change.md)",
            )

    async def _pinned(self, tenant_id: uuid.UUID, model: str) -> str:
        async with self.db.transaction(tenant_id) as session:
            pinned = (await session.execute(select(Tenant.embedder).where(Tenant.id == tenant_id))).scalar()
        if pinned:
            return pinned
        # The tenant row is the platform's registry (only a system admin updates it): the pin is
        # the one write ingest makes there, once per tenant, and only into an empty column.
        async with self.db.transaction(tenant_id, platform_admin=True) as session:
            await session.execute(
                update(Tenant).where(Tenant.id == tenant_id, Tenant.embedder.is_(None)).values(embedder=model)
            )
            pinned = (await session.execute(select(Tenant.embedder).where(Tenant.id == tenant_id))).scalar()
        return pinned or model

    def forget(self, tenant_id: uuid.UUID) -> None:
        self._known.pop(tenant_id, None)
