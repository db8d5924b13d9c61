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


def upgrade() -> None:
    op.create_index(
        "ix_visits_customer_tenant_site_last_seen",
        "visits",
        ["customer_id", "tenant_id", "site_id", "last_seen"],
        unique=False,
    )
    op.drop_index("ix_visits_customer_last_seen", table_name="visits")
    op.create_index(
        "ix_customer_exemplars_customer_tenant",
        "customer_exemplars",
        ["customer_id", "tenant_id", "created_at", "id"],
        unique=False,
    )
    op.drop_index("ix_customer_exemplars_customer", table_name="customer_exemplars")


def downgrade() -> None:
    op.create_index("ix_customer_exemplars_customer", "customer_exemplars", ["customer_id"], unique=False)
    op.drop_index("ix_customer_exemplars_customer_tenant", table_name="customer_exemplars")
    op.create_index("ix_visits_customer_last_seen", "visits", ["customer_id", "last_seen"], unique=False)
    op.drop_index("ix_visits_customer_tenant_site_last_seen", table_name="visits")
