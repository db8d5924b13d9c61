"""the per-customer reads of ingest use one index each, with or without planner statistics

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 23:20:00

Every event of a returning customer reads the visit it may fold into and the customer's
exemplars. Row-level security adds ``tenant_id = <the transaction's tenant>`` to both reads. Until
autovacuum first analyses the tables (a new install, a restored database), the planner knows no
selectivities and took ``(tenant_id, site_id, first_seen)`` for the visit, scanning every visit of
the site, and AND-ed the tenant's whole ``(tenant_id, change_xid)`` index into the exemplar read.
Indexes that hold every equality of the read (customer, tenant, site) are the cheapest path under
any estimate; they replace the customer-only ones, whose reads they also serve (ADR 0013,
amendment f). The customer leads: a lookup by tenant alone (a foreign-key check by
``(tenant_id, id)``, the change cursor) cannot take them for its own.

Built without CONCURRENTLY, inside the upgrade's transaction: writes to the two tables wait
while an upgrade builds them.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


Index = tuple[str, list[str]]
REPLACED: tuple[tuple[str, Index, Index], ...] = (
    # table, the index that goes, the one that takes its place
    (
        "visits",
        ("ix_visits_customer_last_seen", ["customer_id", "last_seen"]),
        ("ix_visits_customer_tenant_site_last_seen", ["customer_id", "tenant_id", "site_id", "last_seen"]),
    ),
    (
        "customer_exemplars",
        ("ix_customer_exemplars_customer", ["customer_id"]),
        ("ix_customer_exemplars_customer_tenant", ["customer_id", "tenant_id", "created_at", "id"]),
    ),
)


def _replace(table: str, old: Index, new: Index) -> None:
    op.create_index(new[0], table, new[1], unique=False)
    op.drop_index(old[0], table_name=table)


def upgrade() -> None:
    for table, old, new in REPLACED:
        _replace(table, old, new)


def downgrade() -> None:
    for table, old, new in reversed(REPLACED):
        _replace(table, new, old)
