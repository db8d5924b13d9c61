"""The CRUD plumbing every tenant-scoped area shares: paging, lookups, partial updates, audit.

Areas subclass ``CrudService`` and add only their rules (validation hooks, site scoping).
RLS already confines every statement to the caller's tenant; the service adds the finer
site scope for site managers.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import msgspec
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from appliance.db.base import Base
from appliance.lib.audit import Actor, write_audit
from appliance.lib.errors import NotFoundError

M = TypeVar("M", bound=Base)
S = TypeVar("S")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Caller(Actor, Protocol):
    """Who calls a service: what the generic CRUD needs of the domain's ``Principal``."""

    @property
    def site_ids(self) -> tuple[uuid.UUID, ...]: ...

    @property
    def site_scoped(self) -> bool: ...

    def can_see_site(self, site_id: uuid.UUID) -> bool: ...


class Page(msgspec.Struct, Generic[S]):
    items: list[S]
    total: int
    limit: int
    offset: int


def changes_of(data: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually sent (UNSET ones are left alone)."""
    return {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}


def to_schema(obj: Any, schema: type[S]) -> S:
    return msgspec.convert(obj, schema, from_attributes=True)


class CrudService(Generic[M]):
    model: ClassVar[type[Base]]
    target_type: ClassVar[str]
    audit_writes: ClassVar[bool] = False
    # Newest last, id as the tie-breaker: a stable order for offset paging.
    order_desc: ClassVar[bool] = False

    def __init__(self, session: AsyncSession, principal: Caller, tenant_id: uuid.UUID | None) -> None:
        self.session = session
        self.principal = principal
        self.tenant_id = tenant_id

    # -- hooks -----------------------------------------------------------------------------
    def scope(self, stmt: Select[Any]) -> Select[Any]:
        """Narrow a query to what the caller may see (site scope); RLS did the tenant."""
        return stmt

    def visible(self, obj: M) -> bool:
        return True

    async def validate(self, values: dict[str, Any], existing: M | None) -> None:
        """Raise ``InvalidError``/``ForbiddenError`` for values that break a rule."""

    def audit_details(self, obj: M) -> dict[str, Any]:
        return {}

    # -- operations ------------------------------------------------------------------------
    async def list(
        self, filters: Sequence[ColumnElement[bool]] = (), limit: int = DEFAULT_LIMIT, offset: int = 0
    ) -> tuple[builtins.list[M], int]:
        model: Any = self.model
        base = self.scope(select(model).where(*filters))
        total = (await self.session.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
        order = (
            (model.created_at.desc(), model.id.desc()) if self.order_desc else (model.created_at, model.id)
        )
        # Deferred join: page through the ids alone (an index-only scan of the paging index), then
        # read just this page's rows. OFFSET over whole rows fetches every skipped row from the heap,
        # and a tenant's rows are spread over the whole table: ~offset random page reads a request.
        page = base.with_only_columns(model.id).order_by(*order).limit(limit).offset(offset).subquery()
        rows = await self.session.execute(select(model).join(page, model.id == page.c.id).order_by(*order))
        return list(rows.scalars().all()), int(total)

    async def get(self, obj_id: uuid.UUID) -> M:
        model: Any = self.model
        obj: M | None = await self.session.get(model, obj_id)
        if obj is None or not self.visible(obj):
            raise NotFoundError(f"{self.target_type} {obj_id} not found")
        return obj

    async def create(self, values: dict[str, Any]) -> M:
        await self.validate(values, None)
        if "tenant_id" in self.model.__table__.c:
            values = {"tenant_id": self.tenant_id, **values}
        obj: M = self.model(**values)  # type: ignore[assignment]
        self.session.add(obj)
        await self.session.flush()
        await self._audit("create", obj)
        return obj

    async def update(self, obj_id: uuid.UUID, changes: dict[str, Any]) -> M:
        obj = await self.get(obj_id)
        await self.validate(changes, obj)
        for key, value in changes.items():
            setattr(obj, key, value)
        await self.session.flush()
        await self._audit("update", obj, sorted(changes))
        return obj

    async def delete(self, obj_id: uuid.UUID) -> None:
        obj = await self.get(obj_id)
        await self.session.delete(obj)
        await self.session.flush()
        # Deletions are always audited, whatever the area.
        await self._audit("delete", obj, force=True)

    async def _audit(
        self, verb: str, obj: M, fields: builtins.list[str] | None = None, force: bool = False
    ) -> None:
        if not (self.audit_writes or force):
            return
        details = self.audit_details(obj)
        if fields is not None:
            details["fields"] = fields
        tenant = getattr(obj, "tenant_id", None) or self.tenant_id or getattr(obj, "id", None)
        await write_audit(
            self.session,
            self.principal,
            tenant_id=tenant,
            action=f"{self.target_type}.{verb}",
            target_type=self.target_type,
            target_id=str(getattr(obj, "id", "")),
            details=details,
        )
