from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import Parameter
from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.base import utcnow
from appliance.db.models import Customer as CustomerRow
from appliance.db.models import MergeSuggestion, Sighting
from appliance.domain.auth.principal import ADMINS, MANAGERS, Principal
from appliance.domain.customers.erasure import ERASURE_DESCRIPTION, ERASURE_RESPONSES, CustomerErasure
from appliance.domain.customers.identity import IdentityService
from appliance.domain.customers.schemas import (
    Customer,
    CustomerCreate,
    CustomerUpdate,
    ErasureReport,
    Gender,
    MergeCandidate,
    MergeRequest,
    MergeSuggestionView,
    SplitRequest,
)
from appliance.domain.customers.services import (
    CustomerService,
    customer_faces,
    customer_view,
    dismiss_pair,
    merge_candidates,
)
from appliance.lib.crud import CrudService, Page, changes_of, to_schema
from appliance.lib.http import Limit, Offset
from appliance.recognition.policy import Thresholds


class CustomerController(Controller):
    path = "/v1/customers"
    tags = ["customers"]

    @get(operation_id="listCustomers", opt={"roles": MANAGERS})
    async def list_customers(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        limit: Limit = 50,
        offset: Offset = 0,
        q: Annotated[str | None, Parameter(description="display name contains", max_length=200)] = None,
        gender: Gender | None = None,
        seen_since: datetime | None = None,
    ) -> Page[Customer]:
        """List customers, oldest first; filter by name, gender or last sighting."""
        filters: list[ColumnElement[bool]] = []
        if q:
            filters.append(CustomerRow.display_name.ilike(f"%{q}%"))
        if gender:
            filters.append(CustomerRow.gender == gender)
        if seen_since:
            filters.append(CustomerRow.last_seen >= seen_since)
        rows, total = await CustomerService(session, principal, tenant).list(filters, limit, offset)
        return Page([customer_view(r) for r in rows], total, limit, offset)

    @get("/{customer_id:uuid}", operation_id="getCustomer", opt={"roles": MANAGERS})
    async def get_customer(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, customer_id: uuid.UUID
    ) -> Customer:
        """One customer profile (CustomerProfile.v1)."""
        return customer_view(await CustomerService(session, principal, tenant).get(customer_id))

    @post(operation_id="createCustomer", opt={"roles": ADMINS})
    async def create_customer(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, data: CustomerCreate
    ) -> Customer:
        """Create a customer profile by hand (recognition creates most of them)."""
        return customer_view(await CustomerService(session, principal, tenant).create(changes_of(data)))

    @patch("/{customer_id:uuid}", operation_id="updateCustomer", opt={"roles": ADMINS})
    async def update_customer(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        customer_id: uuid.UUID,
        data: CustomerUpdate,
    ) -> Customer:
        """Edit a customer's name, notes, tags or demographics."""
        service = CustomerService(session, principal, tenant)
        return customer_view(await service.update(customer_id, changes_of(data)))

    @delete(
        "/{customer_id:uuid}",
        operation_id="eraseCustomer",
        opt={"roles": ADMINS},
        status_code=200,
        description=ERASURE_DESCRIPTION,
        responses=ERASURE_RESPONSES,
    )
    async def erase_customer(
        self, request: Request[Any, Any, Any], principal: Principal, tenant: uuid.UUID, customer_id: uuid.UUID
    ) -> ErasureReport:
        """Erase a customer (GDPR): snapshots and vectors deleted and verified, then rows, audited."""
        services = request.app.state.services
        return await CustomerErasure(services.db, services.recognition).request(
            principal, tenant, customer_id
        )

    @post("/{customer_id:uuid}/merge", operation_id="mergeCustomers", opt={"roles": ADMINS}, status_code=200)
    async def merge(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        tenant: uuid.UUID,
        customer_id: uuid.UUID,
        data: MergeRequest,
    ) -> Customer:
        """Fold other customers (same person) into this one: visits, sightings, exemplars move (audited)."""
        return customer_view(await _identity(request, principal, tenant).merge(customer_id, data.source_ids))

    @post("/{customer_id:uuid}/split", operation_id="splitCustomer", opt={"roles": ADMINS}, status_code=201)
    async def split(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        tenant: uuid.UUID,
        customer_id: uuid.UUID,
        data: SplitRequest,
    ) -> Customer:
        """Move selected sightings or visits to a new customer (audited; undoes a merge); returns it."""
        return customer_view(
            await _identity(request, principal, tenant).split(customer_id, data.sighting_ids, data.visit_ids)
        )

    @get("/{customer_id:uuid}/merge-candidates", operation_id="listMergeCandidates", opt={"roles": MANAGERS})
    async def merge_candidates(
        self,
        request: Request[Any, Any, Any],
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        customer_id: uuid.UUID,
        ids: Annotated[
            list[uuid.UUID] | None,
            Parameter(description="compare with these customers (default: the most alike)", max_items=100),
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=50)] = 10,
    ) -> list[MergeCandidate]:
        """Customers that may be the same person, with faces, visit counts and similarity."""
        await CustomerService(session, principal, tenant).get(customer_id)
        services = request.app.state.services
        return await merge_candidates(
            session,
            await services.recognition.vectors(),
            tenant,
            customer_id,
            _thresholds(request),
            ids=ids or (),
            limit=limit,
        )

    @get("/merge-suggestions", operation_id="listMergeSuggestions", opt={"roles": MANAGERS})
    async def merge_suggestions(
        self,
        session: AsyncSession,
        principal: Principal,
        tenant: uuid.UUID,
        status: Literal["open", "merged", "dismissed"] = "open",
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Page[MergeSuggestionView]:
        """Likely duplicates waiting for a decision, newest first, with both faces and visit counts."""
        rows, total = await SuggestionService(session, principal, tenant).list(
            [MergeSuggestion.status == status], limit, offset
        )
        faces = await customer_faces(session, [i for r in rows for i in (r.customer_id, r.candidate_id)])
        views = []
        for row in rows:
            view = to_schema(row, MergeSuggestionView)
            view.customer, view.candidate = faces.get(row.customer_id), faces.get(row.candidate_id)
            views.append(view)
        return Page(views, total, limit, offset)

    @post(
        "/merge-suggestions/{suggestion_id:uuid}/accept",
        operation_id="acceptMergeSuggestion",
        opt={"roles": ADMINS},
        status_code=200,
    )
    async def accept_suggestion(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        tenant: uuid.UUID,
        suggestion_id: uuid.UUID,
    ) -> Customer:
        """Same person: fold the newer customer into the older one (audited; undo with a split)."""
        return customer_view(await _identity(request, principal, tenant).accept_suggestion(suggestion_id))

    @post(
        "/merge-suggestions/{suggestion_id:uuid}/dismiss",
        operation_id="dismissMergeSuggestion",
        opt={"roles": ADMINS},
        status_code=200,
    )
    async def dismiss_suggestion(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, suggestion_id: uuid.UUID
    ) -> MergeSuggestionView:
        """Not the same person: the pair is dismissed and never suggested again (audited)."""
        service = SuggestionService(session, principal, tenant)
        row = await service.update(suggestion_id, {"status": "dismissed", "resolved_at": utcnow()})
        await dismiss_pair(session, row)
        return to_schema(row, MergeSuggestionView)


def _thresholds(request: Request[Any, Any, Any]) -> Thresholds:
    settings = request.app.state.services.settings
    return Thresholds(match=settings.match_threshold, uncertain=settings.uncertain_threshold)


def _identity(request: Request[Any, Any, Any], principal: Principal, tenant: uuid.UUID) -> IdentityService:
    services = request.app.state.services
    return IdentityService(services.db, services.recognition, principal, tenant)


class SuggestionService(CrudService[MergeSuggestion]):
    model = MergeSuggestion
    target_type = "merge_suggestion"
    audit_writes = True
    order_desc = True

    def scope(self, stmt: Select[Any]) -> Select[Any]:
        # A site manager sees the doubts that arose at its own sites (the suggestion's sighting).
        if self.principal.site_scoped:
            at_sites = select(Sighting.id).where(Sighting.site_id.in_(self.principal.site_ids))
            return stmt.where(MergeSuggestion.sighting_id.in_(at_sites))
        return stmt
