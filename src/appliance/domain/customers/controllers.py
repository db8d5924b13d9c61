from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import Parameter
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.models import Customer as CustomerRow
from appliance.domain.auth.principal import ADMINS, MANAGERS, Principal
from appliance.domain.customers.schemas import Customer, CustomerCreate, CustomerUpdate, Gender
from appliance.domain.customers.services import CustomerService, customer_view
from appliance.lib.crud import Page, changes_of
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

    @delete("/{customer_id:uuid}", operation_id="deleteCustomer", opt={"roles": ADMINS})
    async def delete_customer(
        self, session: AsyncSession, principal: Principal, tenant: uuid.UUID, customer_id: uuid.UUID
    ) -> None:
        """Delete a customer and their visits (audited)."""
        await CustomerService(session, principal, tenant).delete(customer_id)
