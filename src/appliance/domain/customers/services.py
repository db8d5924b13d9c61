from __future__ import annotations

from typing import Any

from sqlalchemy import Select, exists, select

from appliance.db.models import Customer, Visit
from appliance.domain.customers.schemas import Customer as CustomerSchema
from appliance.lib.crud import CrudService
from appliance.lib.errors import NotFoundError


class CustomerService(CrudService[Customer]):
    """Customers belong to the tenant; a site manager sees those who visited its sites."""

    model = Customer
    target_type = "customer"
    audit_writes = True

    def _visited_my_sites(self) -> Any:
        return exists(
            select(Visit.id).where(
                Visit.customer_id == Customer.id, Visit.site_id.in_(self.principal.site_ids)
            )
        )

    def scope(self, stmt: Select[Any]) -> Select[Any]:
        if self.principal.site_scoped:
            return stmt.where(self._visited_my_sites())
        return stmt

    async def get(self, obj_id: Any) -> Customer:
        if self.principal.site_scoped:
            # Visibility needs the visits table: check it in SQL rather than in Python.
            row = await self.session.execute(self.scope(select(Customer).where(Customer.id == obj_id)))
            if row.scalar() is None:
                raise NotFoundError(f"customer {obj_id} not found")
        return await super().get(obj_id)


def customer_view(row: Customer) -> CustomerSchema:
    return CustomerSchema(
        customer_id=row.id,
        tenant_id=row.tenant_id,
        display_name=row.display_name,
        gender=row.gender,  # type: ignore[arg-type]
        age=row.age,
        notes=row.notes,
        tags=list(row.tags or []),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        visit_count=row.visit_count,
        exemplar_count=row.exemplar_count,
        created_at=row.created_at,
    )
