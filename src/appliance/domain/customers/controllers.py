from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import Parameter
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.base import utcnow
from appliance.db.models import Customer as CustomerRow
from appliance.db.models import MergeSuggestion
from appliance.domain.auth.principal import ADMINS, MANAGERS, Principal
from appliance.domain.customers.identity import IdentityService
from appliance.domain.customers.schemas import (
    Customer,
    CustomerCreate,
    CustomerUpdate,
    ErasureReport,
    Gender,
    MergeRequest,
    MergeSuggestionView,
    SplitRequest,
)
from appliance.domain.customers.services import CustomerService, customer_view
from appliance.lib.crud import CrudService, Page, changes_of, to_schema
from appliance.lib.http import Limit, Offset


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

    @delete("/{customer_id:uuid}", operation_id="eraseCustomer", opt={"roles": ADMINS}, status_code=200)
    async def erase_customer(
        self, request: Request[Any, Any, Any], principal: Principal, tenant: uuid.UUID, customer_id: uuid.UUID
    ) -> ErasureReport:
        """Erase a customer (GDPR): rows, vectors and snapshots deleted, verified and audited."""
        return await _identity(request, principal, tenant).erase(customer_id)

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
        """Move selected sightings to a new customer (audited); returns the new customer."""
        return customer_view(
            await _identity(request, principal, tenant).split(customer_id, data.sighting_ids)
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
        """Uncertain matches waiting for a decision, newest first."""
        rows, total = await SuggestionService(session, principal, tenant).list(
            [MergeSuggestion.status == status], limit, offset
        )
        return Page([to_schema(r, MergeSuggestionView) for r in rows], total, limit, offset)

    @post(
        "/merge-suggestions/{suggestion_id:uuid}/dismiss",
        operation_id="dismissMergeSuggestion",
        opt={"roles": ADMINS},
        status_code=200,
    )
    async def dismiss_suggestion(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, suggestion_id: uuid.UUID
    ) -> MergeSuggestionView:
        """Mark a suggestion as not the same person."""
        row = await SuggestionService(session, principal, tenant).update(
            suggestion_id, {"status": "dismissed", "resolved_at": utcnow()}
        )
        return to_schema(row, MergeSuggestionView)


def _identity(request: Request[Any, Any, Any], principal: Principal, tenant: uuid.UUID) -> IdentityService:
    services = request.app.state.services
    return IdentityService(services.db, services.recognition, principal, tenant)


class SuggestionService(CrudService[MergeSuggestion]):
    model = MergeSuggestion
    target_type = "merge_suggestion"
    audit_writes = True
    order_desc = True
