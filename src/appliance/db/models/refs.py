"""The reference every tenant-scoped table makes to another: confined to the tenant."""

from __future__ import annotations

from sqlalchemy import ForeignKeyConstraint


def tenant_ref(column: str, table: str, *, set_null: bool = False) -> ForeignKeyConstraint:
    """``(tenant_id, column)`` → ``table(tenant_id, id)``: foreign-key checks bypass RLS, so a
    reference by id alone could name another tenant's row. On delete of the referenced row the
    reference goes with it, or with ``set_null`` only ``column`` is cleared (the column-list
    ``SET NULL`` of PostgreSQL 15), never ``tenant_id``."""
    ondelete = f"SET NULL ({column})" if set_null else "CASCADE"
    referred = [f"{table}.tenant_id", f"{table}.id"]
    return ForeignKeyConstraint(["tenant_id", column], referred, ondelete=ondelete)
