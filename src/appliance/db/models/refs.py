"""The references of a tenant-scoped table: to its tenant, and to other rows confined to the tenant."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column


def tenant_ref(column: str, table: str, *, set_null: bool = False) -> ForeignKeyConstraint:
    """``(tenant_id, column)`` → ``table(tenant_id, id)``: foreign-key checks bypass RLS, so a
    reference by id alone could name another tenant's row. On delete of the referenced row the
    reference goes with it, or with ``set_null`` only ``column`` is cleared (the column-list
    ``SET NULL`` of PostgreSQL 15), never ``tenant_id``."""
    ondelete = f"SET NULL ({column})" if set_null else "CASCADE"
    referred = [f"{table}.tenant_id", f"{table}.id"]
    return ForeignKeyConstraint(["tenant_id", column], referred, ondelete=ondelete)


def tenant_column(*, index: bool | None = None, primary_key: bool = False) -> Mapped[uuid.UUID]:
    """A tenant-scoped table's ``tenant_id``: its rows go when their tenant is deleted. Indexed, or
    leading the primary key, where no other index starts with it."""
    cascade = ForeignKey("tenants.id", ondelete="CASCADE")
    return mapped_column(Uuid, cascade, index=index, primary_key=primary_key)
