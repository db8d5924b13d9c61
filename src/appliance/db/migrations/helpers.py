"""Columns, constraints, indexes and PL/pgSQL the revisions share.

Frozen with the revisions that call them: those are applied on installed databases, so a change
here would change what an old revision does. A new need is a new helper.
tests/integration/test_migrations.py pins the SQL the applied chain emits.

Alembic loads the revisions from files, and these helpers with them: the binary ships this
package as source next to ``env.py`` (installer/specs.py), so no hidden import is involved.
"""

from __future__ import annotations

import textwrap
from typing import Any

import sqlalchemy as sa
from alembic import op


def id_column() -> sa.Column[Any]:
    """The surrogate key: a UUID the database draws."""
    return sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False)


def timestamp_columns() -> tuple[sa.Column[Any], sa.Column[Any]]:
    """TimestampMixin's ``created_at`` and ``updated_at``, both now() on insert."""
    created, updated = (
        sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)
        for name in ("created_at", "updated_at")
    )
    return created, updated


def primary_key(table: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}"))


def tenant_foreign_key(table: str) -> sa.ForeignKeyConstraint:
    """The row goes when its tenant does."""
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def same_tenant_foreign_key(
    table: str, column: str, target: str, ondelete: str = "CASCADE"
) -> sa.ForeignKeyConstraint:
    """``column`` names a row of ``target`` of the same tenant: (tenant_id, column) references
    (tenant_id, id) there, so no row can point into another tenant."""
    return sa.ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{target}.tenant_id", f"{target}.id"],
        name=op.f(f"fk_{table}_tenant_id_{column}_{target}"),
        ondelete=ondelete,
    )


def tenant_id_unique(table: str) -> sa.UniqueConstraint:
    """UNIQUE (tenant_id, id): what the same-tenant foreign keys into ``table`` reference."""
    return sa.UniqueConstraint("tenant_id", "id", name=op.f(f"uq_{table}_tenant_id_id"))


def create_tenant_index(table: str) -> None:
    op.create_index(op.f(f"ix_{table}_tenant_id"), table, ["tenant_id"], unique=False)


def drop_tenant_index(table: str) -> None:
    op.drop_index(op.f(f"ix_{table}_tenant_id"), table_name=table)


def mark_bucket_dirty(row: str, indent: int) -> str:
    """PL/pgSQL for the visits trigger: mark the rollup bucket of trigger row ``row`` (OLD or NEW),
    its site-local day of ``first_seen``, dirty. Indented by ``indent`` spaces, no final newline."""
    statement = (
        "INSERT INTO rollup_dirty (tenant_id, site_id, day)\n"
        f"SELECT {row}.tenant_id, {row}.site_id, ({row}.first_seen AT TIME ZONE s.timezone)::date\n"
        f"FROM sites s WHERE s.id = {row}.site_id\n"
        "ON CONFLICT DO NOTHING;"
    )
    return textwrap.indent(statement, " " * indent)
