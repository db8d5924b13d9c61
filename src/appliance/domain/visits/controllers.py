from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.db.models import Visit
from appliance.domain.audit.services import record_audit
from appliance.domain.auth.principal import MANAGERS, Principal
from appliance.domain.visits.schemas import SnapshotLink, VisitPage
from appliance.domain.visits.services import VisitFilters, list_visits, stream_csv
from appliance.lib.crud import MAX_LIMIT
from appliance.lib.di import Injected
from appliance.lib.errors import NotFoundError
from appliance.recognition.runtime import RecognitionRuntime
from appliance.storage.base import RAW_BUCKET

From = Annotated[datetime | None, Parameter(query="from", description="first_seen at or after (RFC 3339)")]
To = Annotated[datetime | None, Parameter(query="to", description="first_seen before (RFC 3339)")]
New = Annotated[
    bool | None, Parameter(description="true: first visits of new customers; false: repeat visits")
]


def visit_filters(
    site_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    since: From = None,
    until: To = None,
    new: New = None,
) -> VisitFilters:
    return VisitFilters(site_id=site_id, customer_id=customer_id, since=since, until=until, new=new)


async def _csv_response(
    db: Database, session: AsyncSession, principal: Principal, tenant: uuid.UUID, filters: VisitFilters
) -> Stream:
    await record_audit(
        session,
        principal,
        tenant_id=tenant,
        action="visits.export",
        target_type="visits",
        target_id=None,
        details={k: str(v) for k, v in vars(filters).items() if v is not None},
    )
    # The audit row commits with this request's transaction, before the first byte is streamed.
    return Stream(
        stream_csv(db, tenant, principal, filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="visits.csv"'},
    )


class VisitController(Controller):
    path = "/v1/visits"
    tags = ["visits"]
    opt = {"roles": MANAGERS}
    dependencies = {"filters": Provide(visit_filters, sync_to_thread=False)}

    @get(operation_id="listVisits")
    async def list_visits(
        self,
        request: Request[Any, Any, Any],
        db: Injected[Database],
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        filters: Injected[VisitFilters],
        limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
    ) -> Response[VisitPage]:
        """Visits, newest first, with cursor paging; `Accept: text/csv` streams the whole selection as CSV."""
        if "text/csv" in request.headers.get("accept", ""):
            return cast("Response[VisitPage]", await _csv_response(db, session, principal, tenant, filters))
        page: VisitPage = await list_visits(session, principal, filters, limit, cursor)
        return Response(page)

    @get("/export.csv", operation_id="exportVisitsCsv", media_type="text/csv")
    async def export_csv(
        self,
        db: Injected[Database],
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        filters: Injected[VisitFilters],
    ) -> Stream:
        """The selected visits as a CSV download (audited)."""
        return await _csv_response(db, session, principal, tenant, filters)

    @get("/{visit_id:uuid}/snapshot", operation_id="visitSnapshot")
    async def snapshot(
        self,
        recognition: Injected[RecognitionRuntime],
        settings: Injected[Settings],
        session: AsyncSession,
        principal: Principal,
        visit_id: uuid.UUID,
    ) -> SnapshotLink:
        """A short-lived link to the visit's best snapshot (raw images expire after the retention period)."""
        visit = await session.get(Visit, visit_id)
        if visit is None or not principal.can_see_site(visit.site_id):
            raise NotFoundError(f"visit {visit_id} not found")
        if not visit.best_snapshot_key:
            raise NotFoundError("this visit has no snapshot (none uploaded, or purged after retention)")
        store = await recognition.store()
        seconds = settings.presign_seconds
        url = store.presign_get(RAW_BUCKET, visit.best_snapshot_key, timedelta(seconds=seconds))
        return SnapshotLink(url=url, expires_in=seconds)
